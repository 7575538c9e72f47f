//! `neutrino:ml2/session`: a per-driver in-memory cache on the host, for
//! what must not be written to the database (a controller's login cookie or
//! token). One [`SessionCache`] per prepared driver version: it is never
//! persisted and is dropped with the version (upgrade, rollback, restart).
//!
//! `get_or_lock` is single flight: of the calls that find a key absent at
//! once, one gets the fill lock and the others wait for its `set`. A lock ends
//! with `set`, `delete`, `unlock`, the end of the holder's call (its
//! [`HostContext`] drops) or the holder's deadline.

use super::HostContext;
use crate::limits::MAX_STATE_KEY;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Entries one driver may keep; past it the entry closest to expiry goes.
pub const MAX_SESSION_ENTRIES: usize = 1024;
/// The largest value.
pub const MAX_SESSION_VALUE: usize = 64 * 1024;
/// The longest time to live.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// What [`get_or_lock`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The value.
    Hit(Vec<u8>),
    /// Absent: this call holds the fill lock.
    Fill,
}

enum Entry {
    Value { bytes: Vec<u8>, expires: Instant },
    Filling { holder: u64, until: Instant },
}

/// One driver version's session cache.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, Entry>>,
    changed: Notify,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache").finish_non_exhaustive()
    }
}

/// A fresh id for a call (fill locks are held per call).
pub fn next_call_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl SessionCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Release every fill lock `call` holds (its call ended).
    pub fn release_call(&self, call: u64) {
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|_, e| !matches!(e, Entry::Filling { holder, .. } if *holder == call));
        if entries.len() != before {
            self.changed.notify_waiters();
        }
    }

    /// The number of live values (tests and stats).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.entries()
            .values()
            .filter(|e| matches!(e, Entry::Value { expires, .. } if *expires > now))
            .count()
    }

    /// Whether no live value is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_STATE_KEY
}

/// The value under `key`, if live.
pub fn get(cx: &HostContext, key: &str) -> Option<Vec<u8>> {
    let now = Instant::now();
    match cx.env.session.entries().get(key) {
        Some(Entry::Value { bytes, expires }) if *expires > now => Some(bytes.clone()),
        _ => None,
    }
}

/// Store `value` under `key` for `ttl`; wakes waiters. Oversized values and
/// invalid keys are ignored (the call has no error to report them).
pub fn set(cx: &HostContext, key: &str, value: Vec<u8>, ttl: Duration) {
    if !valid_key(key) || value.len() > MAX_SESSION_VALUE {
        tracing::warn!(driver = %cx.env.name, key, "session value refused (key or size)");
        return;
    }
    let now = Instant::now();
    let cache = &cx.env.session;
    let mut entries = cache.entries();
    if entries.len() >= MAX_SESSION_ENTRIES && !entries.contains_key(key) {
        entries.retain(|_, e| !matches!(e, Entry::Value { expires, .. } if *expires <= now));
        if entries.len() >= MAX_SESSION_ENTRIES {
            let soonest = entries
                .iter()
                .filter_map(|(k, e)| match e {
                    Entry::Value { expires, .. } => Some((*expires, k.clone())),
                    Entry::Filling { .. } => None,
                })
                .min();
            if let Some((_, k)) = soonest {
                entries.remove(&k);
            }
        }
    }
    entries.insert(
        key.to_string(),
        Entry::Value {
            bytes: value,
            expires: now + ttl.min(MAX_SESSION_TTL),
        },
    );
    drop(entries);
    cache.changed.notify_waiters();
}

/// Remove `key` (a value or a fill lock); wakes waiters.
pub fn delete(cx: &HostContext, key: &str) {
    let cache = &cx.env.session;
    if cache.entries().remove(key).is_some() {
        cache.changed.notify_waiters();
    }
}

/// Give up this call's fill lock on `key`.
pub fn unlock(cx: &HostContext, key: &str) {
    let cache = &cx.env.session;
    let mut entries = cache.entries();
    if matches!(entries.get(key), Some(Entry::Filling { holder, .. }) if *holder == cx.call_id) {
        entries.remove(key);
        drop(entries);
        cache.changed.notify_waiters();
    }
}

/// The value under `key`, or [`Lookup::Fill`] for one of the calls that find
/// it absent; the others wait up to `wait` (and the call's deadline) for the
/// holder's `set`, then one of them takes the lock over.
pub async fn get_or_lock(cx: &HostContext, key: &str, wait: Duration) -> Lookup {
    if !valid_key(key) {
        return Lookup::Fill;
    }
    let cache = &cx.env.session;
    let give_up = (Instant::now() + wait).min(cx.deadline);
    loop {
        let changed = cache.changed.notified();
        let mut changed = std::pin::pin!(changed);
        changed.as_mut().enable();
        let now = Instant::now();
        {
            let mut entries = cache.entries();
            match entries.get(key) {
                Some(Entry::Value { bytes, expires }) if *expires > now => {
                    return Lookup::Hit(bytes.clone());
                }
                Some(Entry::Filling { holder, until })
                    if *holder != cx.call_id && *until > now && now < give_up => {}
                _ => {
                    cx.took_session_lock.store(true, Ordering::Relaxed);
                    entries.insert(
                        key.to_string(),
                        Entry::Filling {
                            holder: cx.call_id,
                            until: cx.deadline,
                        },
                    );
                    return Lookup::Fill;
                }
            }
        }
        let _ = tokio::time::timeout_at(give_up.into(), changed).await;
    }
}
