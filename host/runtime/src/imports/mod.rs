//! The host side of the driver's imports, one module per capability, plus
//! the captured stderr. Functions here are independent of the contract
//! version; [`abi`](crate::abi) adapts them to each version's generated
//! traits.
//!
//! What every import may do depends on the [`Phase`] of the call: no network
//! outside postcommit, no state writes in `bind_port`.

pub mod agents;
pub mod config;
pub mod http;
pub mod log;
pub mod session;
pub mod state;
pub mod stderr;

use crate::config::HttpSettings;
use crate::net::{Allowlist, HttpTransport};
use crate::services::HostServices;
use crate::types::Phase;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// What the imports know about a driver; shared by all its calls.
pub struct DriverEnv {
    /// The driver's name (namespaces its state, tags its logs).
    pub name: String,
    /// Its configuration.
    pub config: BTreeMap<String, serde_json::Value>,
    /// Where it may send HTTP requests.
    pub allowlist: Allowlist,
    /// Its HTTP timeout and response size limit.
    pub http: HttpSettings,
    /// How requests travel.
    pub transport: Arc<dyn HttpTransport>,
    /// Its session cache (this version only, never persisted).
    pub session: session::SessionCache,
}

/// The per-call context of the imports.
pub struct HostContext {
    /// The driver.
    pub env: Arc<DriverEnv>,
    /// The phase of this call.
    pub phase: Phase,
    /// The caller's host services.
    pub services: Arc<dyn HostServices>,
    /// When the call's wall-clock budget ends (not counting [`HostContext::state_wait`]).
    pub deadline: Instant,
    /// Time this call spent in state operations (nanoseconds): waiting for the database,
    /// e.g. for a row another request holds, is not the driver's doing, so the call's wall
    /// clock does not count it (see `call`).
    pub state_wait: Arc<StateWait>,
    /// Log lines written so far in this call.
    pub log_lines: u32,
    /// This call's id (it holds session fill locks under it).
    pub call_id: u64,
    /// Whether this call took a session fill lock (released when it ends).
    pub took_session_lock: std::sync::atomic::AtomicBool,
}

/// Time a call spends in state operations, which its wall clock does not count.
#[derive(Debug, Default)]
pub struct StateWait {
    /// Finished operations' time, in nanoseconds.
    pub nanos: std::sync::atomic::AtomicU64,
    /// Operations under way.
    pub in_flight: std::sync::atomic::AtomicU32,
}

impl Drop for HostContext {
    fn drop(&mut self) {
        if *self.took_session_lock.get_mut() {
            self.env.session.release_call(self.call_id);
        }
    }
}
