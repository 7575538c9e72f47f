//! Tuning of the C allocator (glibc `malloc`), which SQLite uses; Rust code uses mimalloc.
//!
//! Listing 2000 ports makes SQLite build megabyte-sized strings. With glibc's defaults such
//! blocks are mapped fresh from the kernel and given back when freed, so every list paid for
//! a few hundred page faults (about a fifth of SQLite's time in the list benchmark). Keeping
//! large blocks in the heap and not trimming it lets the next request reuse the same pages.

/// Blocks up to this size come from the heap rather than from their own mapping.
const MMAP_THRESHOLD: i32 = 64 << 20;
/// Free memory at the top of a heap is only given back beyond this size.
const TRIM_THRESHOLD: i32 = 256 << 20;

/// Apply the settings. Call once, early in `main`, before threads start allocating.
#[allow(unsafe_code)] // one FFI call into glibc, see SAFETY below
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
