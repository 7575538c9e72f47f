//! A fake NSX Manager: the part of the Policy API vmware-nsx's `nsx_p` plugin uses, with
//! the objects it keeps.
//!
//! - `POST /api/session/create` with the form `j_username=…&j_password=…`: with the right
//!   credentials 200, `Set-Cookie: JSESSIONID=<id>` and an `X-XSRF-TOKEN` header; else 403.
//! - Every other request needs a live `JSESSIONID` (401 otherwise: the session expired)
//!   and, when it writes, the session's `X-XSRF-TOKEN` (403 otherwise).
//! - `PATCH` creates or merges (top-level fields), `GET` reads (404 when absent), `DELETE`
//!   removes (200 also when absent, as the Policy API answers) under `/policy/api/v1/`:
//!   `infra/segments/<id>`, `infra/segments/<id>/ports/<id>` (the segment must exist: 404),
//!   `infra/domains/default/groups/<id>`, `infra/domains/default/security-policies/<id>`
//!   (its `rules` merged by id) and `…/security-policies/<id>/rules/<id>`. A segment that
//!   still has ports cannot be deleted (400).
//! - Segment profiles: `infra/{spoofguard,segment-security,ip-discovery,mac-discovery}-profiles/<id>`
//!   (`default-<kind>-profile` of each kind always exists, as on NSX), and a segment port's
//!   binding maps, `…/ports/<id>/{port-security,port-discovery}-profile-binding-maps/<id>`:
//!   the port must exist (404) and every `*_profile_path` must name an existing profile
//!   (400 otherwise, as NSX refuses); they go with their port.
//! - `GET /policy/api/v1/infra/realized-state/realized-entities?intent_path=/infra/segments/<id>`:
//!   the segment's `RealizedLogicalSwitch`, `UNREALIZED` for the first
//!   [`FakeNsx::realize_after`] questions, then `REALIZED` with a logical switch id.
//!
//! Tests can expire every session, keep segments unrealized, or wipe everything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use super::http::{Handler, Reply, Request};

const POLICY: &str = "/policy/api/v1/";

/// A segment and its ports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Segment {
    /// The segment as stored.
    pub body: Map<String, Value>,
    /// Its ports by id.
    pub ports: BTreeMap<String, Map<String, Value>>,
    /// Realization questions asked so far.
    pub asked: usize,
    /// The realized logical switch id.
    pub logical_switch: String,
    /// Its ports' profile binding maps by port id, then by `<kind>/<map id>` (e.g.
    /// `port-security-profile-binding-maps/default`).
    pub maps: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
}

/// The profile kinds (path segments under `infra/`) the fake keeps.
const PROFILE_KINDS: [&str; 4] = [
    "spoofguard-profiles",
    "segment-security-profiles",
    "ip-discovery-profiles",
    "mac-discovery-profiles",
];

/// NSX's own profiles: `default-<kind without the s>`.
fn default_profiles() -> BTreeMap<String, Map<String, Value>> {
    PROFILE_KINDS
        .iter()
        .map(|kind| {
            let id = format!("default-{}", kind.trim_end_matches('s'));
            let mut body = Map::new();
            body.insert("id".into(), json!(id));
            (format!("/infra/{kind}/{id}"), body)
        })
        .collect()
}

/// A security policy and its rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// The policy as stored (without its rules).
    pub body: Map<String, Value>,
    /// Its rules by id.
    pub rules: BTreeMap<String, Map<String, Value>>,
}

#[derive(Default)]
struct Inner {
    segments: BTreeMap<String, Segment>,
    groups: BTreeMap<String, Map<String, Value>>,
    policies: BTreeMap<String, Policy>,
    sessions: HashMap<String, String>,
    next: u64,
    logins: usize,
    realize_after: usize,
    never_realize: bool,
    /// Segment profiles by path (`/infra/<kind>/<id>`); None until first used (the defaults).
    profiles: Option<BTreeMap<String, Map<String, Value>>>,
}

impl Inner {
    fn profiles(&mut self) -> &mut BTreeMap<String, Map<String, Value>> {
        self.profiles.get_or_insert_with(default_profiles)
    }
}

/// The fake manager (serve it with [`super::http::FakeHttp`]).
pub struct FakeNsx {
    user: String,
    password: String,
    inner: Mutex<Inner>,
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"httpStatus": status.to_string(), "error_code": code, "module_name": "common-services",
               "error_message": message}),
    )
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

fn form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let decode = |s: &str| {
                let s = s.replace('+', " ");
                let bytes = s.as_bytes();
                let mut out = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'%'
                        && i + 2 < bytes.len()
                        && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
                    {
                        out.push(b);
                        i += 3;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            };
            Some((decode(k), decode(v)))
        })
        .collect()
}

impl FakeNsx {
    /// A manager accepting `user` / `password`; segments are realized at the first question.
    pub fn new(user: &str, password: &str) -> FakeNsx {
        FakeNsx {
            user: user.into(),
            password: password.into(),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Segments answer `UNREALIZED` to their first `n` realization questions.
    pub fn realize_after(&self, n: usize) {
        self.lock().realize_after = n;
    }

    /// Segments stay `UNREALIZED` (`false`: they are realized again as usual).
    pub fn stay_unrealized(&self, stay: bool) {
        self.lock().never_realize = stay;
    }

    /// Every session expires: the next call with an old cookie gets 401.
    pub fn expire_sessions(&self) {
        self.lock().sessions.clear();
    }

    /// Forget every object and session.
    pub fn wipe(&self) {
        let mut inner = self.lock();
        inner.segments.clear();
        inner.groups.clear();
        inner.policies.clear();
        inner.sessions.clear();
        inner.profiles = None;
    }

    /// How many logins succeeded.
    pub fn logins(&self) -> usize {
        self.lock().logins
    }

    /// The segments by id.
    pub fn segments(&self) -> BTreeMap<String, Segment> {
        self.lock().segments.clone()
    }

    /// The groups by id.
    pub fn groups(&self) -> BTreeMap<String, Map<String, Value>> {
        self.lock().groups.clone()
    }

    /// The security policies by id.
    pub fn policies(&self) -> BTreeMap<String, Policy> {
        self.lock().policies.clone()
    }

    /// The segment profiles by path (`/infra/spoofguard-profiles/<id>`, …), NSX's defaults
    /// included.
    pub fn profiles(&self) -> BTreeMap<String, Map<String, Value>> {
        self.lock().profiles().clone()
    }

    fn login(&self, req: &Request) -> Reply {
        let f = form(&req.body);
        if req.header("content-type") != Some("application/x-www-form-urlencoded")
            || f.get("j_username") != Some(&self.user)
            || f.get("j_password") != Some(&self.password)
        {
            return error(
                403,
                403,
                "The username/password combination is incorrect or the account specified has been locked.",
            );
        }
        let mut inner = self.lock();
        inner.next += 1;
        inner.logins += 1;
        let id = format!("session{:06}", inner.next);
        let xsrf = format!("xsrf{:06}", inner.next);
        inner.sessions.insert(id.clone(), xsrf.clone());
        Reply::empty(200)
            .with_header(
                "set-cookie",
                &format!("JSESSIONID={id}; Path=/; Secure; HttpOnly"),
            )
            .with_header("x-xsrf-token", &xsrf)
    }

    fn realization(&self, req: &Request) -> Reply {
        let intent = req
            .query
            .split('&')
            .find_map(|p| p.strip_prefix("intent_path="))
            .map(|p| p.replace("%2F", "/").replace("%2f", "/"))
            .unwrap_or_default();
        let Some(id) = intent.strip_prefix("/infra/segments/") else {
            return error(400, 500012, "intent_path must name a segment");
        };
        let mut inner = self.lock();
        let (after, never) = (inner.realize_after, inner.never_realize);
        let Some(seg) = inner.segments.get_mut(id) else {
            return Reply::json(200, json!({"results": [], "result_count": 0}));
        };
        seg.asked += 1;
        let realized = !never && seg.asked > after;
        Reply::json(
            200,
            json!({"result_count": 1, "results": [{
                "resource_type": "GenericPolicyRealizedResource",
                "entity_type": "RealizedLogicalSwitch",
                "intent_paths": [intent],
                "state": if realized { "REALIZED" } else { "UNREALIZED" },
                "realization_specific_identifier": if realized { json!(seg.logical_switch) } else { Value::Null },
            }]}),
        )
    }

    fn route(&self, req: &Request) -> Reply {
        let Some(path) = req.path.strip_prefix(POLICY) else {
            return error(404, 404, "not found");
        };
        if path == "infra/realized-state/realized-entities" && req.method == "GET" {
            return self.realization(req);
        }
        let parts: Vec<&str> = path.split('/').collect();
        let body = req.json();
        let patch = || body.as_object().cloned().ok_or(());
        let method = req.method.as_str();
        let mut inner = self.lock();
        match (method, parts.as_slice()) {
            ("PATCH", ["infra", "segments", id]) => {
                let Ok(b) = patch() else {
                    return error(400, 255, "a JSON object expected");
                };
                let next = inner.next + 1;
                inner.next = next;
                let seg = inner.segments.entry(id.to_string()).or_default();
                if seg.logical_switch.is_empty() {
                    seg.logical_switch = format!("ls-{next:08}-{id}");
                }
                merge(&mut seg.body, &b);
                Reply::empty(200)
            }
            ("GET", ["infra", "segments", id]) => match inner.segments.get(*id) {
                Some(s) => Reply::json(200, Value::Object(s.body.clone())),
                None => error(404, 500012, "segment not found"),
            },
            ("DELETE", ["infra", "segments", id]) => {
                if inner.segments.get(*id).is_some_and(|s| !s.ports.is_empty()) {
                    return error(400, 503040, "Segment has ports attached; delete them first");
                }
                inner.segments.remove(*id);
                Reply::empty(200)
            }
            (_, ["infra", "segments", seg, "ports", id]) => {
                let Some(segment) = inner.segments.get_mut(*seg) else {
                    return error(404, 500012, "segment not found");
                };
                match method {
                    "PATCH" => {
                        let Ok(b) = patch() else {
                            return error(400, 255, "a JSON object expected");
                        };
                        merge(segment.ports.entry(id.to_string()).or_default(), &b);
                        Reply::empty(200)
                    }
                    "GET" => match segment.ports.get(*id) {
                        Some(p) => Reply::json(200, Value::Object(p.clone())),
                        None => error(404, 500012, "port not found"),
                    },
                    "DELETE" => {
                        segment.ports.remove(*id);
                        segment.maps.remove(*id);
                        Reply::empty(200)
                    }
                    _ => error(405, 405, "method not allowed"),
                }
            }
            (_, ["infra", "segments", seg, "ports", port, kind, map])
                if kind.ends_with("-profile-binding-maps") =>
            {
                if method != "PATCH" {
                    return error(405, 405, "method not allowed");
                }
                let Ok(b) = patch() else {
                    return error(400, 255, "a JSON object expected");
                };
                let missing = b
                    .iter()
                    .filter(|(k, _)| k.ends_with("_profile_path"))
                    .filter_map(|(_, v)| v.as_str())
                    .find(|path| !inner.profiles().contains_key(*path))
                    .map(str::to_string);
                let Some(segment) = inner.segments.get_mut(*seg) else {
                    return error(404, 500012, "segment not found");
                };
                if !segment.ports.contains_key(*port) {
                    return error(404, 500012, "port not found");
                }
                if let Some(path) = missing {
                    return error(400, 500105, &format!("Invalid profile path {path}"));
                }
                let maps = segment.maps.entry(port.to_string()).or_default();
                merge(maps.entry(format!("{kind}/{map}")).or_default(), &b);
                Reply::empty(200)
            }
            ("PATCH", ["infra", kind, id]) if PROFILE_KINDS.contains(kind) => {
                let Ok(b) = patch() else {
                    return error(400, 255, "a JSON object expected");
                };
                let path = format!("/infra/{kind}/{id}");
                merge(inner.profiles().entry(path).or_default(), &b);
                Reply::empty(200)
            }
            (_, ["infra", "domains", "default", "groups", id]) => match method {
                "PATCH" => {
                    let Ok(b) = patch() else {
                        return error(400, 255, "a JSON object expected");
                    };
                    merge(inner.groups.entry(id.to_string()).or_default(), &b);
                    Reply::empty(200)
                }
                "GET" => match inner.groups.get(*id) {
                    Some(g) => Reply::json(200, Value::Object(g.clone())),
                    None => error(404, 500012, "group not found"),
                },
                "DELETE" => {
                    inner.groups.remove(*id);
                    Reply::empty(200)
                }
                _ => error(405, 405, "method not allowed"),
            },
            (_, ["infra", "domains", "default", "security-policies", id]) => match method {
                "PATCH" => {
                    let Ok(mut b) = patch() else {
                        return error(400, 255, "a JSON object expected");
                    };
                    let rules = b.remove("rules");
                    let policy = inner.policies.entry(id.to_string()).or_default();
                    merge(&mut policy.body, &b);
                    for r in rules
                        .as_ref()
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let (Some(rid), Some(obj)) = (r["id"].as_str(), r.as_object()) {
                            merge(policy.rules.entry(rid.to_string()).or_default(), obj);
                        }
                    }
                    Reply::empty(200)
                }
                "GET" => match inner.policies.get(*id) {
                    Some(p) => {
                        let mut v = p.body.clone();
                        v.insert(
                            "rules".into(),
                            Value::Array(p.rules.values().cloned().map(Value::Object).collect()),
                        );
                        Reply::json(200, Value::Object(v))
                    }
                    None => error(404, 500012, "policy not found"),
                },
                "DELETE" => {
                    inner.policies.remove(*id);
                    Reply::empty(200)
                }
                _ => error(405, 405, "method not allowed"),
            },
            (
                _,
                [
                    "infra",
                    "domains",
                    "default",
                    "security-policies",
                    pid,
                    "rules",
                    id,
                ],
            ) => {
                let Some(policy) = inner.policies.get_mut(*pid) else {
                    return error(404, 500012, "policy not found");
                };
                match method {
                    "PATCH" => {
                        let Ok(b) = patch() else {
                            return error(400, 255, "a JSON object expected");
                        };
                        merge(policy.rules.entry(id.to_string()).or_default(), &b);
                        Reply::empty(200)
                    }
                    "DELETE" => {
                        policy.rules.remove(*id);
                        Reply::empty(200)
                    }
                    _ => error(405, 405, "method not allowed"),
                }
            }
            _ => error(400, 255, &format!("unsupported: {method} {}", req.path)),
        }
    }
}

impl Handler for FakeNsx {
    fn handle(&self, req: &Request) -> Reply {
        if req.path == "/api/session/create" && req.method == "POST" {
            return self.login(req);
        }
        let xsrf = req
            .cookie("JSESSIONID")
            .and_then(|s| self.lock().sessions.get(s).cloned());
        let Some(xsrf) = xsrf else {
            return error(
                401,
                401,
                "The credentials were incorrect or the session expired.",
            );
        };
        if req.method != "GET" && req.header("x-xsrf-token") != Some(xsrf.as_str()) {
            return error(403, 98, "XSRF token validation failed");
        }
        self.route(req)
    }
}
