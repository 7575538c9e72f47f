//! Journal delivery as the server does it, for drivers whose manifest says `journal = true`:
//! postcommit operations are queued ([`Harness::journal`]) and delivered in order
//! ([`Harness::deliver_journal`]); a delivery that ends in `unavailable` or a fault (trap,
//! timeout, memory, busy) is tried again, any other refusal fails the entry for good. The
//! server waits between attempts (0.5 s doubling to 30 s); the harness records those delays
//! instead of sleeping, so "fail twice, then succeed" is tested in milliseconds with
//! scripted HTTP answers.

use crate::{
    CallError, Harness, Hook, NetworkContext, PortContext, SecurityGroupContext,
    SecurityGroupRuleContext, SubnetContext,
};
use std::time::Duration;

/// A postcommit operation waiting in the harness's journal.
#[derive(Debug, Clone)]
pub enum JournalOp {
    /// A network postcommit.
    Network(Hook, Box<NetworkContext>),
    /// A subnet postcommit.
    Subnet(Hook, Box<SubnetContext>),
    /// A port postcommit.
    Port(Hook, Box<PortContext>),
    /// A security group postcommit.
    SecurityGroup(Hook, Box<SecurityGroupContext>),
    /// A security group rule postcommit.
    SecurityGroupRule(Hook, Box<SecurityGroupRuleContext>),
}

impl JournalOp {
    /// A network postcommit.
    pub fn network(hook: Hook, ctx: &NetworkContext) -> JournalOp {
        JournalOp::Network(hook, Box::new(ctx.clone()))
    }
    /// A subnet postcommit.
    pub fn subnet(hook: Hook, ctx: &SubnetContext) -> JournalOp {
        JournalOp::Subnet(hook, Box::new(ctx.clone()))
    }
    /// A port postcommit.
    pub fn port(hook: Hook, ctx: &PortContext) -> JournalOp {
        JournalOp::Port(hook, Box::new(ctx.clone()))
    }
    /// A security group postcommit.
    pub fn security_group(hook: Hook, ctx: &SecurityGroupContext) -> JournalOp {
        JournalOp::SecurityGroup(hook, Box::new(ctx.clone()))
    }
    /// A security group rule postcommit.
    pub fn security_group_rule(hook: Hook, ctx: &SecurityGroupRuleContext) -> JournalOp {
        JournalOp::SecurityGroupRule(hook, Box::new(ctx.clone()))
    }
}

/// How one entry ended.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The driver's postcommit succeeded (after `attempts` tries).
    Delivered {
        /// Tries, the successful one included.
        attempts: u32,
        /// What the server would have waited before each retry.
        waited: Vec<Duration>,
    },
    /// The driver refused permanently: the server marks the entry failed.
    Failed {
        /// Tries made.
        attempts: u32,
        /// The refusal.
        error: CallError,
    },
    /// Still retryable after the harness's attempt limit: the server would keep trying.
    StillPending {
        /// Tries made.
        attempts: u32,
        /// The last error.
        error: CallError,
    },
}

impl Delivery {
    /// Whether the entry was delivered.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Delivery::Delivered { .. })
    }
}

/// The server's delay before the attempt after `failed` failed ones.
pub fn backoff(failed: u32) -> Duration {
    let exp = failed.clamp(1, 16) - 1;
    Duration::from_millis(500)
        .saturating_mul(1 << exp)
        .min(Duration::from_secs(30))
}

impl Harness {
    /// Queue a postcommit operation (what the server records in the request's transaction).
    pub fn journal(&self, op: JournalOp) {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(op);
    }

    /// Operations queued and not yet delivered or failed.
    pub fn journal_len(&self) -> usize {
        self.journal.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Deliver the queued operations in order, each tried up to `max_attempts` times while it
    /// ends in a retryable error. Stops at the first entry still pending (the server would
    /// hold the entries after it back too); delivered and failed entries leave the queue.
    pub async fn deliver_journal(&self, max_attempts: u32) -> Vec<Delivery> {
        let mut report = Vec::new();
        loop {
            let Some(op) = self
                .journal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .first()
                .cloned()
            else {
                return report;
            };
            let mut waited = Vec::new();
            let mut attempts = 0;
            let outcome = loop {
                attempts += 1;
                match self.deliver_once(&op).await {
                    Ok(()) => break Delivery::Delivered { attempts, waited },
                    Err(error) if !error.is_retryable() => {
                        break Delivery::Failed { attempts, error };
                    }
                    Err(error) if attempts >= max_attempts.max(1) => {
                        break Delivery::StillPending { attempts, error };
                    }
                    Err(_) => waited.push(backoff(attempts)),
                }
            };
            let pending = matches!(outcome, Delivery::StillPending { .. });
            report.push(outcome);
            if pending {
                return report;
            }
            self.journal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(0);
        }
    }

    async fn deliver_once(&self, op: &JournalOp) -> Result<(), CallError> {
        let s = &self.services;
        match op {
            JournalOp::Network(h, c) => self.driver.call_network(*h, c, s).await,
            JournalOp::Subnet(h, c) => self.driver.call_subnet(*h, c, s).await,
            JournalOp::Port(h, c) => self.driver.call_port(*h, c, s).await,
            JournalOp::SecurityGroup(h, c) => self.driver.call_security_group(*h, c, s).await,
            JournalOp::SecurityGroupRule(h, c) => {
                self.driver.call_security_group_rule(*h, c, s).await
            }
        }
    }

    /// Call the driver's `periodic` export once, as the server does every
    /// `periodic_interval` seconds (an `Ok` no-op when the component has none).
    pub async fn call_periodic(&self) -> Result<(), CallError> {
        self.driver.call_periodic(&self.services).await
    }

    /// Whether the component exports `periodic`.
    pub fn has_periodic(&self) -> bool {
        self.driver.has_periodic()
    }
}
