//! A fake OpenDaylight: the neutron northbound under [`NORTHBOUND`] and the RESTCONF host
//! configurations, as networking-odl uses them.
//!
//! - HTTP Basic authentication on every request (401 otherwise);
//! - `POST /<collection>` with `{"<singular>": {...}}`: 201 with the stored resource,
//!   409 when the id exists; `PUT /<collection>/<id>`: the given attributes replace the
//!   stored ones, 200, 404 when missing; `DELETE /<collection>/<id>`: 204, 404 when
//!   missing; `GET /<collection>` and `GET /<collection>/<id>` (404 when missing);
//!   collections `networks`, `subnets`, `ports`, `security-groups`,
//!   `security-group-rules`;
//! - `GET /restconf/operational/neutron:neutron/hostconfigs`: the host configurations
//!   set by the test (404 when there are none, as RESTCONF answers an empty list).
//!
//! It keeps what it stored and the order of the writes it accepted; tests can make it
//! forget everything (a controller that restarted empty).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

use super::server::{Backend, Reply, Request, Write, basic};

/// Where the neutron northbound lives (networking-odl's devstack default).
pub const NORTHBOUND: &str = "/controller/nb/v2/neutron";
/// The RESTCONF path of the host configurations.
pub const HOSTCONFIGS: &str = "/restconf/operational/neutron:neutron/hostconfigs";
/// networking-odl's canary network.
pub const CANARY: &str = "bd8db3a8-2b30-4083-a8b3-b3fd46401142";

const COLLECTIONS: [(&str, &str); 5] = [
    ("networks", "network"),
    ("subnets", "subnet"),
    ("ports", "port"),
    ("security-groups", "security_group"),
    ("security-group-rules", "security_group_rule"),
];

#[derive(Default)]
struct Store {
    resources: BTreeMap<String, BTreeMap<String, Value>>,
    writes: Vec<Write>,
}

/// The fake controller's state.
pub struct Odl {
    authorization: String,
    store: Mutex<Store>,
    hostconfigs: Mutex<Vec<Value>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Odl {
    /// An empty controller accepting `user`/`password`.
    pub fn new(user: &str, password: &str) -> Odl {
        Odl {
            authorization: basic(user, password),
            store: Mutex::default(),
            hostconfigs: Mutex::default(),
        }
    }

    /// A controller networking-odl synced before: it has the canary network.
    pub fn synced(user: &str, password: &str) -> Odl {
        let odl = Odl::new(user, password);
        odl.put_canary();
        odl
    }

    fn put_canary(&self) {
        lock(&self.store)
            .resources
            .entry("networks".into())
            .or_default()
            .insert(
                CANARY.into(),
                json!({"id": CANARY, "name": "Sync Canary Network"}),
            );
    }

    /// Publish host `host`'s configuration (`config` is the JSON networking-odl parses:
    /// `supported_vnic_types`, `allowed_network_types`, ...), as host type `ODL L2`.
    pub fn set_hostconfig(&self, host: &str, config: Value) {
        let mut list = lock(&self.hostconfigs);
        list.retain(|h| h["host-id"] != host);
        list.push(json!({"host-id": host, "host-type": "ODL L2", "config": config.to_string()}));
    }

    /// What ODL stores in `collection`, by id.
    pub fn stored(&self, collection: &str) -> BTreeMap<String, Value> {
        lock(&self.store)
            .resources
            .get(collection)
            .cloned()
            .unwrap_or_default()
    }

    /// The writes ODL accepted, in order.
    pub fn writes(&self) -> Vec<Write> {
        lock(&self.store).writes.clone()
    }

    /// Forget the recorded writes (the stored resources stay).
    pub fn clear_writes(&self) {
        lock(&self.store).writes.clear();
    }

    /// Lose every stored resource, the canary too (a controller restarted empty).
    pub fn forget_state(&self) {
        lock(&self.store).resources.clear();
    }

    fn northbound(&self, request: &Request, rest: &str) -> Reply {
        let mut parts = rest.trim_matches('/').splitn(2, '/');
        let collection = parts.next().unwrap_or_default();
        let id = parts.next();
        let Some((_, singular)) = COLLECTIONS.iter().find(|(c, _)| *c == collection) else {
            return Reply::text(404, "no such resource");
        };
        let mut store = lock(&self.store);
        let write = |store: &mut Store, id: &str| {
            store.writes.push(Write {
                method: request.method.clone(),
                collection: collection.to_string(),
                id: id.to_string(),
            })
        };
        match (request.method.as_str(), id) {
            ("GET", None) => {
                let all: Vec<Value> = store
                    .resources
                    .get(collection)
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_default();
                Reply::json(200, &json!({ collection.replace('-', "_"): all }))
            }
            ("GET", Some(id)) => match store.resources.get(collection).and_then(|m| m.get(id)) {
                Some(r) => Reply::json(200, &json!({ *singular: r })),
                None => Reply::text(404, "not found"),
            },
            ("POST", None) => {
                let body = request.json();
                let Some(resource) = body.get(*singular).filter(|r| r.is_object()) else {
                    return Reply::text(400, &format!("expected {{\"{singular}\": {{...}}}}"));
                };
                let Some(id) = resource["id"].as_str().map(str::to_string) else {
                    return Reply::text(400, "the resource has no id");
                };
                let coll = store.resources.entry(collection.into()).or_default();
                if coll.contains_key(&id) {
                    return Reply::text(409, &format!("{singular} {id} exists"));
                }
                coll.insert(id.clone(), resource.clone());
                write(&mut store, &id);
                Reply::json(201, &json!({ *singular: resource }))
            }
            ("PUT", Some(id)) => {
                let body = request.json();
                let Some(delta) = body.get(*singular).and_then(Value::as_object) else {
                    return Reply::text(400, &format!("expected {{\"{singular}\": {{...}}}}"));
                };
                let Some(stored) = store
                    .resources
                    .get_mut(collection)
                    .and_then(|m| m.get_mut(id))
                else {
                    return Reply::text(404, "not found");
                };
                for (k, v) in delta {
                    stored[k] = v.clone();
                }
                let updated = stored.clone();
                write(&mut store, id);
                Reply::json(200, &json!({ *singular: updated }))
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

impl Backend for Odl {
    fn handle(&self, request: &Request, _base: &str) -> Reply {
        if request.header("authorization") != Some(self.authorization.as_str()) {
            return Reply::text(401, "unauthorized")
                .header("www-authenticate", "Basic realm=\"opendaylight\"");
        }
        if request.path == HOSTCONFIGS {
            if request.method != "GET" {
                return Reply::text(405, "method not allowed");
            }
            let list = lock(&self.hostconfigs).clone();
            if list.is_empty() {
                return Reply::text(404, "data-missing");
            }
            return Reply::json(200, &json!({"hostconfigs": {"hostconfig": list}}));
        }
        match request.path.strip_prefix(NORTHBOUND) {
            Some(rest) => self.northbound(request, rest),
            None => Reply::text(404, "no such path"),
        }
    }
}
