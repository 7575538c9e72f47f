//! Waking an L2 agent's device scan as soon as something on the host may have changed,
//! instead of at its next poll: a monitor process whose every output line is a change.
//! The Linux bridge agent watches the kernel's links (`ip monitor link`); the Open vSwitch
//! agent watches OVSDB's `Interface` table (`ovsdb-client monitor`, as Neutron's agent does).
//! The poll stays as the fallback (a monitor that cannot start or dies is logged, not fatal).

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// Kills the monitor process when the watching task ends (aborted with its agent).
struct Monitor(Child);

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `program args…` for as long as the returned task lives (aborting it kills the
/// process), waking `wake` at each line it prints.
pub fn lines_of(program: &str, args: &[&str], wake: Arc<Notify>) -> JoinHandle<()> {
    let what = format!("{program} {}", args.join(" "));
    let spawned = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    tokio::spawn(async move {
        let mut monitor = match spawned {
            Ok(c) => Monitor(c),
            Err(e) => {
                tracing::warn!(monitor = %what, error = %e, "device monitor did not start; polling only");
                return;
            }
        };
        let Some(out) = monitor.0.stdout.take() else {
            return;
        };
        // The process's output is read on a blocking thread, which ends at EOF: when the
        // process dies or `monitor` kills it.
        let (tx, mut rx) = mpsc::channel::<()>(1);
        tokio::task::spawn_blocking(move || {
            for line in std::io::BufReader::new(out).lines() {
                if line.is_err() || tx.blocking_send(()).is_err() {
                    break;
                }
            }
        });
        while rx.recv().await.is_some() {
            wake.notify_one();
        }
        tracing::warn!(monitor = %what, "device monitor ended; polling only");
        drop(monitor);
    })
}

/// The kernel's link changes (a `tap…` device appearing, going or changing).
pub fn links(wake: Arc<Notify>) -> JoinHandle<()> {
    lines_of("ip", &["monitor", "link"], wake)
}

/// Changes of the `Interface` table of the OVSDB at `remote` (`ovsdb-client`'s default
/// socket when `None`).
pub fn ovsdb_interfaces(remote: Option<&str>, wake: Arc<Notify>) -> JoinHandle<()> {
    let mut args = vec!["monitor"];
    if let Some(r) = remote {
        args.push(r);
    }
    args.extend(["Open_vSwitch", "Interface", "name,external_ids,ofport"]);
    lines_of("ovsdb-client", &args, wake)
}
