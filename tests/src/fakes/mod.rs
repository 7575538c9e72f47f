//! Stand-ins for vendor controllers, for the driver tests: small HTTP servers on loopback
//! ports that speak the part of the vendor's real API the driver uses (paths, methods,
//! status codes, bodies, authentication and sessions), keep the resulting state and record
//! the requests, so tests assert both. Each can be told to refuse connections, answer 5xx,
//! and forget its state; see [`server::FakeServer`].

pub mod midonet;
pub mod odl;
pub mod server;

pub use server::{Backend, FakeServer, Reply, Request};

use std::time::{Duration, Instant};

use serde_json::Value;

/// Wait until mechanism driver `driver`'s journal has nothing pending (everything delivered
/// or failed), and return its listing (`pending`, `failed`, `delivered`, `entries`). Panics
/// after `within`, showing what is still pending.
pub async fn journal_settled(c: &crate::Client, driver: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = c
            .get(&format!("/v2.0/mechanism-drivers/{driver}/journal"))
            .await;
        assert_eq!(r.status, 200, "journal of {driver}: {}", r.body);
        let journal = r.body["journal"].clone();
        if journal["pending"] == 0 {
            return journal;
        }
        assert!(
            Instant::now() < deadline,
            "{driver}'s journal still has pending entries after {within:?}: {journal}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
