//! `tunnel_sync` as agents call it on `q-plugin`: an agent's tunnel endpoint is recorded in
//! the database (`ml2_vxlan_endpoints`) and it learns every endpoint, the other agents hear
//! of it on `q-agent-notifier-tunnel-update`, a host's changed address replaces the old one
//! (heard on `q-agent-notifier-tunnel-delete`), bad calls get Neutron's `InvalidInput`, and
//! 32 agents registering at once through two servers sharing one database all end up
//! recorded, each once (and 32 reports of one host at once leave it one endpoint).

use std::time::Duration;

use neutrino_bus::neutron::{self, TunnelSyncArgs, TunnelSyncReply};
use neutrino_bus::{Bus, Dispatcher, Endpoint, Listener, RemoteError};
use neutrino_tests::{TestDb, TestServer};
use tokio::sync::mpsc;

async fn sync(bus: &Bus, ip: &str, tunnel_type: &str, host: &str) -> TunnelSyncReply {
    try_sync(bus, ip, tunnel_type, Some(host))
        .await
        .expect("tunnel_sync answered")
}

async fn try_sync(
    bus: &Bus,
    ip: &str,
    tunnel_type: &str,
    host: Option<&str>,
) -> Result<TunnelSyncReply, neutrino_bus::Error> {
    bus.client(neutron::PLUGIN)
        .with_timeout(Duration::from_secs(60))
        .call::<neutron::TunnelSync>(&TunnelSyncArgs {
            tunnel_ip: ip.into(),
            tunnel_type: tunnel_type.into(),
            host: host.map(str::to_string),
        })
        .await
}

/// `(ip, host)` of a reply, in its order.
fn endpoints(r: &TunnelSyncReply) -> Vec<(String, String)> {
    r.tunnels
        .iter()
        .map(|t| (t.ip_address.clone(), t.host.clone().unwrap_or_default()))
        .collect()
}

/// Listen to a tunnel fanout as an agent of `host`: `(method, tunnel_ip, tunnel_type)`.
async fn hear(
    bus: &Bus,
    topic: &str,
    host: &str,
) -> (
    Box<dyn Listener>,
    mpsc::UnboundedReceiver<(String, String, String)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (t1, t2) = (tx.clone(), tx);
    let ep = Endpoint::new("1.4")
        .on::<neutron::TunnelUpdate, _, _>(move |_ctx, a| {
            let t = t1.clone();
            async move {
                let _ = t.send(("tunnel_update".into(), a.tunnel_ip, a.tunnel_type));
                Ok::<_, RemoteError>(())
            }
        })
        .on::<neutron::TunnelDelete, _, _>(move |_ctx, a| {
            let t = t2.clone();
            async move {
                let _ = t.send(("tunnel_delete".into(), a.tunnel_ip, a.tunnel_type));
                Ok::<_, RemoteError>(())
            }
        });
    let l = bus
        .serve(topic, host, Dispatcher::default().with(ep))
        .await
        .unwrap();
    (l, rx)
}

async fn next(
    rx: &mut mpsc::UnboundedReceiver<(String, String, String)>,
) -> (String, String, String) {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a tunnel notification arrives")
        .expect("listener open")
}

fn invalid_input(r: Result<TunnelSyncReply, neutrino_bus::Error>) -> String {
    match r {
        Err(neutrino_bus::Error::Remote(e)) => {
            assert_eq!(e.class, "InvalidInput", "{e}");
            e.message
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_learns_every_endpoint_and_the_other_agents_hear_of_it() {
    let server = TestServer::start().await;
    let bus = server.bus().clone();
    let (l1, mut updates) = hear(&bus, neutron::TUNNEL_UPDATE, "listener").await;
    let (l2, mut deletes) = hear(&bus, neutron::TUNNEL_DELETE, "listener").await;

    let a = sync(&bus, "192.0.2.1", "vxlan", "host-a").await;
    assert_eq!(endpoints(&a), [("192.0.2.1".into(), "host-a".into())]);
    assert_eq!(
        next(&mut updates).await,
        ("tunnel_update".into(), "192.0.2.1".into(), "vxlan".into())
    );
    let b = sync(&bus, "192.0.2.2", "vxlan", "host-b").await;
    assert_eq!(
        endpoints(&b),
        [
            ("192.0.2.1".into(), "host-a".into()),
            ("192.0.2.2".into(), "host-b".into())
        ],
        "the second agent learns the first's endpoint and its own"
    );
    assert_eq!(next(&mut updates).await.1, "192.0.2.2");

    // The same report again (an agent restart) changes nothing.
    let again = sync(&bus, "192.0.2.1", "vxlan", "host-a").await;
    assert_eq!(endpoints(&again), endpoints(&b));
    assert_eq!(next(&mut updates).await.1, "192.0.2.1");

    // host-a's address changes: the old one is gone, and the agents are told to drop it.
    let moved = sync(&bus, "192.0.2.9", "vxlan", "host-a").await;
    assert_eq!(
        endpoints(&moved),
        [
            ("192.0.2.2".into(), "host-b".into()),
            ("192.0.2.9".into(), "host-a".into())
        ]
    );
    assert_eq!(
        next(&mut deletes).await,
        ("tunnel_delete".into(), "192.0.2.1".into(), "vxlan".into())
    );
    assert_eq!(next(&mut updates).await.1, "192.0.2.9");

    // host-b's address is taken over by host-c: one owner per address.
    let c = sync(&bus, "192.0.2.2", "vxlan", "host-c").await;
    assert_eq!(
        endpoints(&c),
        [
            ("192.0.2.2".into(), "host-c".into()),
            ("192.0.2.9".into(), "host-a".into())
        ]
    );

    // Endpoints are per tunnel type.
    let gre = sync(&bus, "192.0.2.50", "gre", "host-a").await;
    assert_eq!(endpoints(&gre), [("192.0.2.50".into(), "host-a".into())]);

    l1.stop().await;
    l2.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_sync_without_an_address_a_known_type_or_ipv4_is_refused() {
    let server = TestServer::start().await;
    let bus = server.bus().clone();
    let m = invalid_input(try_sync(&bus, "", "vxlan", Some("h")).await);
    assert!(
        m.contains("Tunnel IP value needed by the ML2 plugin"),
        "{m}"
    );
    let m = invalid_input(try_sync(&bus, "192.0.2.1", "", Some("h")).await);
    assert!(
        m.contains("Network type value needed by the ML2 plugin"),
        "{m}"
    );
    let m = invalid_input(try_sync(&bus, "192.0.2.1", "stt", Some("h")).await);
    assert!(m.contains("Network type value stt not supported"), "{m}");
    let m = invalid_input(try_sync(&bus, "2001:db8::1", "vxlan", Some("h")).await);
    assert!(m.contains("overlay_ip_version"), "{m}");
    invalid_input(try_sync(&bus, "not-an-ip", "vxlan", Some("h")).await);
    // Nothing was recorded by the refused calls.
    let r = sync(&bus, "192.0.2.7", "vxlan", "h").await;
    assert_eq!(endpoints(&r), [("192.0.2.7".into(), "h".into())]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_agents_registering_at_once_through_two_servers_are_each_recorded_once() {
    let first = TestServer::start().await;
    let second = TestServer::on_db(TestDb::existing(&first.db.url), |_| {}).await;
    let buses = [first.bus().clone(), second.bus().clone()];
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let bus = buses[usize::from(i % 2)].clone();
        tasks.push(tokio::spawn(async move {
            let ip = format!("198.51.100.{}", i + 1);
            let host = format!("node-{i}");
            let r = sync(&bus, &ip, "vxlan", &host).await;
            (ip, host, r)
        }));
    }
    for t in tasks {
        let (ip, host, r) = t.await.unwrap();
        assert!(
            endpoints(&r).contains(&(ip.clone(), host.clone())),
            "{host} learns its own endpoint {ip}"
        );
    }
    // Each agent once more, at once, some with a new address: still one endpoint per host.
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let bus = buses[usize::from(i % 2)].clone();
        tasks.push(tokio::spawn(async move {
            let ip = if i < 16 {
                format!("198.51.100.{}", i + 101)
            } else {
                format!("198.51.100.{}", i + 1)
            };
            sync(&bus, &ip, "vxlan", &format!("node-{i}")).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for bus in &buses {
        let all = endpoints(&sync(bus, "198.51.100.200", "vxlan", "observer").await);
        let mut want: Vec<(String, String)> = (0..32u8)
            .map(|i| {
                let last = if i < 16 { i + 101 } else { i + 1 };
                (format!("198.51.100.{last}"), format!("node-{i}"))
            })
            .chain([("198.51.100.200".to_string(), "observer".to_string())])
            .collect();
        want.sort();
        let mut got = all.clone();
        got.sort();
        assert_eq!(
            got, want,
            "both servers answer the same 33 endpoints, one per host"
        );
    }

    // 32 reports for one host at once, each with another address: one endpoint remains.
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let bus = buses[usize::from(i % 2)].clone();
        tasks.push(tokio::spawn(async move {
            sync(&bus, &format!("203.0.113.{}", i + 1), "vxlan", "contested").await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = endpoints(&sync(&buses[0], "198.51.100.200", "vxlan", "observer").await);
    let contested: Vec<&(String, String)> = all.iter().filter(|(_, h)| h == "contested").collect();
    assert_eq!(contested.len(), 1, "one endpoint for the host: {all:?}");
    assert!(contested[0].0.starts_with("203.0.113."));
    assert!(
        !all.iter()
            .any(|(ip, h)| ip.starts_with("203.0.113.") && h != "contested"),
        "no address of the host's is left to another: {all:?}"
    );
    assert_eq!(all.len(), 34);

    second.stop().await;
    first.stop().await;
}
