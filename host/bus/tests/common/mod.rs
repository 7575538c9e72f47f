//! What the bus tests share: test methods, a recording dispatcher, the transports.

#![allow(dead_code)]

use std::time::Duration;

use neutrino_bus::{Bus, Dispatcher, Endpoint, Method, RemoteError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoArgs {
    pub n: u64,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EchoReply {
    pub n: u64,
    pub from: String,
    pub server: String,
}

/// A call answered with the caller's own input and the answering server's name.
pub enum Echo {}
impl Method for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = "1.1";
    type Args = EchoArgs;
    type Reply = EchoReply;
}

/// The same method spoken at a newer minor version than the server implements.
pub enum EchoTooNew {}
impl Method for EchoTooNew {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = "1.3";
    type Args = EchoArgs;
    type Reply = EchoReply;
}

/// A method no endpoint has.
pub enum Frobnicate {}
impl Method for Frobnicate {
    const NAME: &'static str = "frobnicate";
    const VERSION: &'static str = "1.0";
    type Args = EchoArgs;
    type Reply = EchoReply;
}

/// A cast the servers record.
pub enum Note {}
impl Method for Note {
    const NAME: &'static str = "note";
    const VERSION: &'static str = "1.0";
    type Args = EchoArgs;
    type Reply = ();
}

/// What a test server received: (server, method, n).
pub type Seen = mpsc::UnboundedSender<(String, String, u64)>;

pub fn dispatcher(server: &str, seen: Seen) -> Dispatcher {
    let s1 = server.to_string();
    let s2 = server.to_string();
    let seen2 = seen.clone();
    Dispatcher::default().with(
        Endpoint::new("1.2")
            .on::<Echo, _, _>(move |_ctx, a: EchoArgs| {
                let server = s1.clone();
                let seen = seen.clone();
                async move {
                    let _ = seen.send((server.clone(), "echo".into(), a.n));
                    Ok::<_, RemoteError>(EchoReply {
                        n: a.n,
                        from: a.from,
                        server,
                    })
                }
            })
            .on::<Note, _, _>(move |_ctx, a: EchoArgs| {
                let server = s2.clone();
                let seen = seen2.clone();
                async move {
                    let _ = seen.send((server, "note".into(), a.n));
                    Ok::<_, RemoteError>(())
                }
            }),
    )
}

pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn rabbit_url() -> String {
    std::env::var("NEUTRINO_TEST_RABBITMQ_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

pub fn rabbit_reachable() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5672".parse().unwrap(),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// Two independent buses on each available transport ("two processes"): one in-process
/// bus shared by both, and two AMQP connections.
pub async fn transports(test: &str) -> Vec<(&'static str, Bus, Bus)> {
    logs();
    let memory = Bus::memory();
    let mut out = vec![("memory", memory.clone(), memory)];
    if rabbit_reachable() {
        let a = Bus::connect(&rabbit_url())
            .await
            .expect("connect to RabbitMQ");
        let b = Bus::connect(&rabbit_url())
            .await
            .expect("connect to RabbitMQ");
        out.push(("amqp", a, b));
    } else if std::env::var_os("NEUTRINO_TEST_REQUIRE_RABBITMQ").is_some() {
        panic!(
            "RabbitMQ is required (NEUTRINO_TEST_REQUIRE_RABBITMQ) but 127.0.0.1:5672 is not reachable"
        );
    } else {
        println!("SKIPPED: {test} on RabbitMQ: nothing listens on 127.0.0.1:5672");
    }
    out
}

pub fn topic(name: &str) -> String {
    format!("test-{name}-{}", uuid::Uuid::new_v4().simple())
}

pub fn args(n: u64, from: &str) -> EchoArgs {
    EchoArgs {
        n,
        from: from.to_string(),
    }
}

pub async fn drain(
    rx: &mut mpsc::UnboundedReceiver<(String, String, u64)>,
    want: usize,
) -> Vec<(String, String, u64)> {
    let mut got = Vec::new();
    while got.len() < want {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(x)) => got.push(x),
            _ => break,
        }
    }
    got
}
