//! A fake MidoNet API (MidoNet 5's REST API as python-midonetclient uses it), under
//! [`ROOT`]:
//!
//! - `POST /midonet-api/login` with `Authorization: Basic …` and `X-Auth-Project`: 200,
//!   `Set-Cookie: sessionId=<token>; …` and the token in the body; 401 for wrong
//!   credentials or project;
//! - everything else needs a live `X-Auth-Token` (401 otherwise);
//! - `GET /midonet-api` (`Accept: application/vnd.org.midonet.Application-v5+json`): the
//!   root document, naming the `neutron` URI; `GET /midonet-api/neutron`
//!   (`…neutron.Neutron-v3+json`): the collections and `{id}` templates; another `Accept`
//!   is 406;
//! - `POST /midonet-api/neutron/<collection>` with the vendor media type
//!   (`application/vnd.org.midonet.neutron.Network-v1+json`, …; another is 415) and the
//!   Neutron dict as the body: 201, 409 when the id exists; `PUT …/<id>` replaces it (204,
//!   404 when missing); `DELETE …/<id>` (204, 404); `GET …/<id>`.
//!
//! It keeps the stored dicts, the accepted writes in order and the logins; tests can expire
//! every session (the next call gets 401), refuse every token (a 401 loop), and forget
//! the stored state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

use super::server::{Backend, Reply, Request, Write, basic};

/// The API root's path.
pub const ROOT: &str = "/midonet-api";
/// The root document's media type.
pub const APPLICATION: &str = "application/vnd.org.midonet.Application-v5+json";
/// The neutron document's media type.
pub const NEUTRON: &str = "application/vnd.org.midonet.neutron.Neutron-v3+json";

/// (collection, template name, media type name).
const COLLECTIONS: [(&str, &str, &str); 5] = [
    ("networks", "network_template", "Network"),
    ("subnets", "subnet_template", "Subnet"),
    ("ports", "port_template", "Port"),
    (
        "security_groups",
        "security_group_template",
        "SecurityGroup",
    ),
    (
        "security_group_rules",
        "security_group_rule_template",
        "SecurityGroupRule",
    ),
];

/// The vendor media type of a collection's resources.
pub fn media_type(collection: &str) -> String {
    let name = COLLECTIONS
        .iter()
        .find(|(c, _, _)| *c == collection)
        .map(|(_, _, m)| *m)
        .unwrap_or("Unknown");
    format!("application/vnd.org.midonet.neutron.{name}-v1+json")
}

#[derive(Default)]
struct Store {
    resources: BTreeMap<String, BTreeMap<String, Value>>,
    writes: Vec<Write>,
}

/// The fake API's state.
pub struct Midonet {
    authorization: String,
    project_id: String,
    tokens: Mutex<BTreeSet<String>>,
    logins: AtomicUsize,
    next_token: AtomicUsize,
    refuse_tokens: AtomicBool,
    store: Mutex<Store>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Midonet {
    /// An empty API accepting `user`/`password` of `project_id`.
    pub fn new(user: &str, password: &str, project_id: &str) -> Midonet {
        Midonet {
            authorization: basic(user, password),
            project_id: project_id.into(),
            tokens: Mutex::default(),
            logins: AtomicUsize::new(0),
            next_token: AtomicUsize::new(1),
            refuse_tokens: AtomicBool::new(false),
            store: Mutex::default(),
        }
    }

    /// Successful logins so far.
    pub fn logins(&self) -> usize {
        self.logins.load(Ordering::SeqCst)
    }

    /// End every session: the next request with an old token gets 401.
    pub fn expire_sessions(&self) {
        lock(&self.tokens).clear();
    }

    /// Refuse every token, even fresh ones (a 401 loop), or stop doing so.
    pub fn refuse_tokens(&self, refuse: bool) {
        self.refuse_tokens.store(refuse, Ordering::SeqCst);
    }

    /// What the API stores in `collection`, by id.
    pub fn stored(&self, collection: &str) -> BTreeMap<String, Value> {
        lock(&self.store)
            .resources
            .get(collection)
            .cloned()
            .unwrap_or_default()
    }

    /// The writes it accepted, in order.
    pub fn writes(&self) -> Vec<Write> {
        lock(&self.store).writes.clone()
    }

    /// Lose every stored resource.
    pub fn forget_state(&self) {
        lock(&self.store).resources.clear();
    }

    fn login(&self, request: &Request) -> Reply {
        if request.method != "POST" {
            return Reply::text(405, "method not allowed");
        }
        if request.header("authorization") != Some(self.authorization.as_str())
            || request.header("x-auth-project") != Some(self.project_id.as_str())
        {
            return Reply::text(401, "invalid credentials");
        }
        let n = self.next_token.fetch_add(1, Ordering::SeqCst);
        let token = format!("token-{n:04}");
        lock(&self.tokens).insert(token.clone());
        self.logins.fetch_add(1, Ordering::SeqCst);
        Reply::typed(
            200,
            "application/vnd.org.midonet.Token-v1+json",
            &json!({"key": token, "expires": "Sun, 06 Dec 2026 23:59:59 GMT"}),
        )
        .header(
            "set-cookie",
            &format!("sessionId={token}; Expires=Sun, 06 Dec 2026 23:59:59 GMT"),
        )
    }

    fn documents(&self, request: &Request, base: &str) -> Option<Reply> {
        let root = format!("{base}{ROOT}");
        let (accepts, body) = if request.path == ROOT {
            (
                APPLICATION,
                json!({"uri": root, "version": "5.0", "neutron": format!("{root}/neutron"),
                       "hosts": format!("{root}/hosts"), "tenants": format!("{root}/tenants")}),
            )
        } else if request.path == format!("{ROOT}/neutron") {
            let mut doc = json!({"uri": format!("{root}/neutron")});
            for (coll, template, _) in COLLECTIONS {
                doc[coll] = json!(format!("{root}/neutron/{coll}"));
                doc[template] = json!(format!("{root}/neutron/{coll}/{{id}}"));
            }
            (NEUTRON, doc)
        } else {
            return None;
        };
        if request.method != "GET" {
            return Some(Reply::text(405, "method not allowed"));
        }
        if request.header("accept") != Some(accepts) {
            return Some(Reply::text(406, "not acceptable"));
        }
        Some(Reply::typed(200, accepts, &body))
    }

    fn neutron(&self, request: &Request, rest: &str) -> Reply {
        let mut parts = rest.trim_matches('/').splitn(2, '/');
        let collection = parts.next().unwrap_or_default();
        let id = parts.next();
        if !COLLECTIONS.iter().any(|(c, _, _)| *c == collection) {
            return Reply::text(404, "no such resource");
        }
        let media = media_type(collection);
        let typed = request.header("content-type") == Some(media.as_str());
        let mut store = lock(&self.store);
        let write = |store: &mut Store, id: &str| {
            store.writes.push(Write {
                method: request.method.clone(),
                collection: collection.to_string(),
                id: id.to_string(),
            })
        };
        match (request.method.as_str(), id) {
            ("GET", Some(id)) => match store.resources.get(collection).and_then(|m| m.get(id)) {
                Some(r) => Reply::typed(200, &media, r),
                None => Reply::text(404, "not found"),
            },
            ("POST", None) => {
                if !typed {
                    return Reply::text(415, "unsupported media type");
                }
                let body = request.json();
                let Some(id) = body["id"].as_str().map(str::to_string) else {
                    return Reply::text(400, "the resource has no id");
                };
                let coll = store.resources.entry(collection.into()).or_default();
                if coll.contains_key(&id) {
                    return Reply::text(409, "exists");
                }
                coll.insert(id.clone(), body.clone());
                write(&mut store, &id);
                Reply::typed(201, &media, &body)
            }
            ("PUT", Some(id)) => {
                if !typed {
                    return Reply::text(415, "unsupported media type");
                }
                let body = request.json();
                let Some(stored) = store
                    .resources
                    .get_mut(collection)
                    .and_then(|m| m.get_mut(id))
                else {
                    return Reply::text(404, "not found");
                };
                *stored = body;
                write(&mut store, id);
                Reply::empty(204)
            }
            ("DELETE", Some(id)) => {
                let removed = store
                    .resources
                    .get_mut(collection)
                    .and_then(|m| m.remove(id));
                if removed.is_none() {
                    return Reply::text(404, "not found");
                }
                write(&mut store, id);
                Reply::empty(204)
            }
            _ => Reply::text(405, "method not allowed"),
        }
    }
}

impl Backend for Midonet {
    fn handle(&self, request: &Request, base: &str) -> Reply {
        if request.path == format!("{ROOT}/login") {
            return self.login(request);
        }
        let token_ok = request
            .header("x-auth-token")
            .is_some_and(|t| lock(&self.tokens).contains(t))
            && !self.refuse_tokens.load(Ordering::SeqCst);
        if !token_ok {
            return Reply::text(401, "authentication required");
        }
        if let Some(reply) = self.documents(request, base) {
            return reply;
        }
        match request.path.strip_prefix(&format!("{ROOT}/neutron/")) {
            Some(rest) => self.neutron(request, rest),
            None => Reply::text(404, "no such path"),
        }
    }
}
