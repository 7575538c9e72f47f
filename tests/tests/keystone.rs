//! `auth = "keystone"` against a real Keystone (started by the harness): tokens valid,
//! expired, revoked and garbage; the cache and single-flight validation; Keystone going
//! down; and Neutron's policy for real Keystone users (reader, member, another project).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use neutrino_tests::keystone::{Keystone, TOKEN_LIFE, configure, keystone};
use neutrino_tests::{Client, TestServer, s};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

async fn server(k: &Keystone, tweak: impl FnOnce(&mut neutrino_server::Config)) -> TestServer {
    let url = k.url.clone();
    TestServer::with_config(move |c| {
        configure(c, &url);
        tweak(c);
    })
    .await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

#[tokio::test]
async fn a_valid_token_is_accepted_and_anything_else_is_401() {
    let Some(k) = keystone().await else { return };
    let server = server(k, |_| {}).await;
    let name = unique("alice");
    let project = k.project_user(&name, "member").await;
    let token = k.token(&name, &name).await;

    let ok = Client::with_token(&server.url, &token)
        .post("/v2.0/networks", json!({"network": {"name": "n"}}))
        .await;
    let missing = Client::new(&server.url, None).get("/v2.0/networks").await;
    let garbage = Client::with_token(&server.url, "gAAAAAnotatoken")
        .get("/v2.0/networks")
        .await;
    let root = Client::new(&server.url, None).get("/").await;

    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["network"]["project_id"], project.as_str());
    for r in [&missing, &garbage] {
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(
            r.headers["www-authenticate"],
            format!("Keystone uri=\"{}\"", k.url).as_str()
        );
    }
    assert_eq!(root.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_refused_even_from_the_cache() {
    let Some(k) = keystone().await else { return };
    let server = server(k, |c| c.keystone_authtoken.token_cache_time = 3600).await;
    let name = unique("exp");
    k.project_user(&name, "member").await;
    let token = k.token(&name, &name).await;
    let client = Client::with_token(&server.url, &token);

    let before = client.get("/v2.0/networks").await;
    tokio::time::sleep(Duration::from_secs(TOKEN_LIFE + 1)).await;
    let after = client.get("/v2.0/networks").await;

    assert_eq!(before.status, 200);
    assert_eq!(after.status, 401, "{}", after.body);
    server.stop().await;
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_its_validation_is_not_cached() {
    let Some(k) = keystone().await else { return };
    let uncached = server(k, |c| c.keystone_authtoken.token_cache_time = -1).await;
    let cached = server(k, |_| {}).await;
    let name = unique("rev");
    k.project_user(&name, "member").await;
    let token = k.token(&name, &name).await;

    let first = Client::with_token(&uncached.url, &token)
        .get("/v2.0/networks")
        .await;
    let cached_first = Client::with_token(&cached.url, &token)
        .get("/v2.0/networks")
        .await;
    k.revoke(&token).await;
    let after = Client::with_token(&uncached.url, &token)
        .get("/v2.0/networks")
        .await;
    let cached_after = Client::with_token(&cached.url, &token)
        .get("/v2.0/networks")
        .await;

    assert_eq!(first.status, 200);
    assert_eq!(cached_first.status, 200);
    assert_eq!(after.status, 401, "{}", after.body);
    // As keystonemiddleware: a cached validation stands until token_cache_time lapses.
    assert_eq!(cached_after.status, 200);
    uncached.stop().await;
    cached.stop().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_new_token_validate_it_once() {
    let Some(k) = keystone().await else { return };
    let server = server(k, |_| {}).await;
    let name = unique("many");
    k.project_user(&name, "reader").await;
    let token = k.token(&name, &name).await;
    let before = server.keystone().expect("keystone").validations();

    let answers = futures::future::join_all((0..32).map(|_| {
        let c = Client::with_token(&server.url, &token);
        async move { c.get("/v2.0/networks").await.status }
    }))
    .await;

    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    assert_eq!(server.keystone().unwrap().validations() - before, 1);
    server.stop().await;
}

/// A TCP proxy in front of Keystone that can be switched off.
struct Proxy {
    url: String,
    up: Arc<AtomicBool>,
}

async fn proxy(target: &str) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let up = Arc::new(AtomicBool::new(true));
    let target = target.trim_start_matches("http://").to_string();
    let flag = up.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if !flag.load(Ordering::SeqCst) {
                continue; // dropped: the connection closes
            }
            let target = target.clone();
            let flag = flag.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = async {
                        while flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    } => {}
                }
            });
        }
    });
    Proxy { url, up }
}

#[tokio::test]
async fn keystone_down_is_503_for_new_tokens_and_cached_ones_still_work() {
    let Some(k) = keystone().await else { return };
    let p = proxy(&k.url).await;
    let url = p.url.clone();
    let server = TestServer::with_config(move |c| configure(c, &url)).await;
    let name = unique("down");
    k.project_user(&name, "member").await;
    let known = k.token(&name, &name).await;
    let fresh = k.token(&name, &name).await;
    assert_eq!(
        Client::with_token(&server.url, &known)
            .get("/v2.0/networks")
            .await
            .status,
        200
    );

    p.up.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let new = Client::with_token(&server.url, &fresh)
        .get("/v2.0/networks")
        .await;
    let cached = Client::with_token(&server.url, &known)
        .get("/v2.0/networks")
        .await;
    p.up.store(true, Ordering::SeqCst);
    let back = Client::with_token(&server.url, &fresh)
        .get("/v2.0/networks")
        .await;

    assert_eq!(new.status, 503, "{}", new.body);
    assert_eq!(cached.status, 200, "{}", cached.body);
    assert_eq!(back.status, 200, "{}", back.body);
    server.stop().await;
}

#[tokio::test]
async fn start_up_names_the_wrong_keystone_setting() {
    let Some(k) = keystone().await else { return };
    let mut bad_password = neutrino_server::Config {
        bind: "127.0.0.1:0".into(),
        ..neutrino_server::Config::default()
    };
    configure(&mut bad_password, &k.url);
    bad_password.keystone_authtoken.password = "wrong".into();
    let mut unreachable = bad_password.clone();
    configure(&mut unreachable, "http://127.0.0.1:9");
    let mut missing = bad_password.clone();
    missing.keystone_authtoken.username.clear();
    let db = tempfile::tempdir().unwrap();
    for c in [&mut bad_password, &mut unreachable] {
        c.database_url = format!("sqlite:{}/n.sqlite", db.path().display());
        c.ml2.mechanism_drivers.clear();
    }

    let e1 = neutrino_server::start(bad_password.settings().unwrap(), false)
        .await
        .err()
        .unwrap()
        .to_string();
    let e2 = neutrino_server::start(unreachable.settings().unwrap(), false)
        .await
        .err()
        .unwrap()
        .to_string();
    let e3 = missing.settings().unwrap_err().to_string();

    assert!(e1.starts_with("keystone_authtoken.username"), "{e1}");
    assert!(e2.starts_with("keystone_authtoken.auth_url"), "{e2}");
    assert!(
        e3.starts_with("configuration key `keystone_authtoken.username`"),
        "{e3}"
    );
}

#[tokio::test]
async fn keystone_users_get_neutrons_policy() {
    let Some(k) = keystone().await else { return };
    let server = server(k, |_| {}).await;
    let alice = unique("alice");
    let bob = unique("bob");
    k.project_user(&alice, "member").await;
    k.project_user(&bob, "member").await;
    let reader_name = format!("{alice}-r");
    let reader_project = k.project_user(&reader_name, "reader").await;
    let a = Client::with_token(&server.url, &k.token(&alice, &alice).await);
    let b = Client::with_token(&server.url, &k.token(&bob, &bob).await);
    let r = Client::with_token(&server.url, &k.token(&reader_name, &reader_name).await);
    let admin = Client::with_token(&server.url, &k.admin_token().await);

    let net = a
        .post("/v2.0/networks", json!({"network": {"name": "mine"}}))
        .await
        .body["network"]
        .clone();
    let bob_sees = b.get(&format!("/v2.0/networks/{}", s(&net, "id"))).await;
    let shared = a
        .post("/v2.0/networks", json!({"network": {"shared": true}}))
        .await;
    let reader_writes = r
        .post("/v2.0/networks", json!({"network": {"name": "r"}}))
        .await;
    let admin_net = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"project_id": reader_project, "shared": true}}),
        )
        .await;
    let reader_lists = r.get("/v2.0/networks").await;

    bob_sees.expect_error(404, "NetworkNotFound");
    shared.expect_error(403, "PolicyNotAuthorized");
    reader_writes.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(admin_net.status, 201, "{}", admin_net.body);
    assert!(
        reader_lists
            .ids("networks")
            .contains(&s(&admin_net.body["network"], "id").to_string())
    );
    server.stop().await;
}

/// Neutron's rules are all `scope_types=['project']`: a system-scoped token (Keystone's
/// bootstrap gives `admin` the admin role on the system) creates nothing (403
/// `InvalidScope`), reads nothing and finds nothing to change.
#[tokio::test]
async fn a_system_scoped_token_is_refused_as_invalid_scope() {
    let Some(k) = keystone().await else { return };
    let server = server(k, |_| {}).await;
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "admin"}}},
        "scope": {"system": {"all": true}}}});
    let r = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", k.url))
        .json(&body)
        .send()
        .await
        .expect("keystone answers");
    assert!(r.status().is_success(), "system token: {}", r.status());
    let system = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let project_admin = Client::with_token(&server.url, &k.admin_token().await);
    let net = project_admin.network("n").await;
    let system = Client::with_token(&server.url, &system);

    let create = system
        .post("/v2.0/networks", json!({"network": {"name": "s"}}))
        .await;
    let list = system.get("/v2.0/networks").await;
    let update = system
        .put(
            &format!("/v2.0/networks/{}", s(&net, "id")),
            json!({"network": {"name": "x"}}),
        )
        .await;

    assert!(
        create
            .expect_error(403, "InvalidScope")
            .contains("requires a scope of ['project'], request was made with system scope")
    );
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.ids("networks").is_empty(), "{}", list.body);
    assert_eq!(update.status, 404, "{}", update.body);
    server.stop().await;
}
