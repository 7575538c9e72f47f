//! A fake Cisco Nexus switch: the part of NX-API REST (the DME object model) networking-cisco's
//! driver uses, with the state it changes.
//!
//! - `POST /api/aaaLogin.json` `{"aaaUser":{"attributes":{"name","pwd"}}}`: with the right
//!   credentials 200, `Set-Cookie: APIC-cookie=<token>` and the token in `imdata`; else 401.
//! - Every other call needs a live `APIC-cookie`, else 403 (`Token was invalid`), which is
//!   what a switch answers when the session expired.
//! - `GET /api/mo/sys/ch.json`: the chassis (`eqptCh`, "Nexus9000 C9396PX Chassis").
//! - `POST /api/mo.json` with `topSystem` → `bdEntity` → `l2BD` children: VLANs created
//!   (`fabEncap vlan-N`, optional `accEncap vxlan-<vni>`).
//! - `DELETE /api/mo/sys/bd/bd-[vlan-N].json`: the VLAN deleted.
//! - `POST /api/mo/sys/intf/phys-[ethX/Y].json` (`l1PhysIf`) or `…/aggr-[poN].json`
//!   (`pcAggrIf`) with `trunkVlans` `+a,b` (add), `-a` (remove) or `a-c,d` (replace), and
//!   `mode`: the interface's allowed VLANs.
//! - `POST /api/mo/sys/epId-1.json` (`nvoEp`) and `POST|DELETE
//!   /api/mo/sys/epId-1/nws/vni-N.json` (`nvoNw`): the NVE interface and its VNI members.
//!
//! A malformed body or an unknown object is a 400 with an `imdata` error, as the switch
//! answers. Tests can expire every session or wipe the configuration (a switch that
//! rebooted empty).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

use super::http::{Handler, Reply, Request};

/// What the fake's chassis says it is.
pub const CHASSIS: &str = "Nexus9000 C9396PX Chassis";

/// A VLAN on the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vlan {
    /// `adminSt`.
    pub admin_state: String,
    /// `accEncap` (`vxlan-<vni>`), when mapped to a VNI.
    pub vni: Option<u32>,
}

/// A switch interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// `mode` (`trunk`, `access`), when set.
    pub mode: Option<String>,
    /// The VLANs allowed on its trunk.
    pub trunk: BTreeSet<u32>,
}

/// The switch's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// VLANs by id.
    pub vlans: BTreeMap<u32, Vlan>,
    /// Interfaces by DME name (`eth1/10`, `po20`).
    pub interfaces: BTreeMap<String, Interface>,
    /// The NVE interface's source (`lo0`), once configured.
    pub nve_source: Option<String>,
    /// VNIs that are members of the NVE interface.
    pub nve_members: BTreeSet<u32>,
}

#[derive(Default)]
struct Inner {
    config: Config,
    tokens: HashSet<String>,
    next_token: u64,
    logins: usize,
}

/// The fake switch (serve it with [`super::http::FakeHttp`]).
pub struct FakeNexus {
    username: String,
    password: String,
    inner: Mutex<Inner>,
}

fn error(status: u16, text: &str) -> Reply {
    Reply::json(
        status,
        json!({"totalCount": "1", "imdata": [{"error": {"attributes": {
            "code": status.to_string(), "text": text}}}]}),
    )
}

fn ok() -> Reply {
    Reply::json(200, json!({"totalCount": "0", "imdata": []}))
}

/// `1-3,7` → {1,2,3,7}.
fn vlan_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                out.extend(a..=b);
            }
            None => {
                out.insert(part.parse().ok()?);
            }
        }
    }
    Some(out)
}

impl FakeNexus {
    /// A switch accepting `username` / `password`.
    pub fn new(username: &str, password: &str) -> FakeNexus {
        FakeNexus {
            username: username.into(),
            password: password.into(),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration now.
    pub fn config(&self) -> Config {
        self.lock().config.clone()
    }

    /// The VLAN ids configured.
    pub fn vlans(&self) -> BTreeSet<u32> {
        self.lock().config.vlans.keys().copied().collect()
    }

    /// The VLANs on the trunk of `iface` (DME name: `eth1/10`, `po20`).
    pub fn trunk(&self, iface: &str) -> BTreeSet<u32> {
        self.lock()
            .config
            .interfaces
            .get(iface)
            .map(|i| i.trunk.clone())
            .unwrap_or_default()
    }

    /// How many logins succeeded.
    pub fn logins(&self) -> usize {
        self.lock().logins
    }

    /// Every session expires: the next call with an old cookie gets 403.
    pub fn expire_sessions(&self) {
        self.lock().tokens.clear();
    }

    /// Forget the configuration and the sessions (the switch rebooted empty).
    pub fn wipe(&self) {
        let mut inner = self.lock();
        inner.config = Config::default();
        inner.tokens.clear();
    }

    fn login(&self, req: &Request) -> Reply {
        let body = req.json();
        let attrs = &body["aaaUser"]["attributes"];
        if attrs["name"] != json!(self.username) || attrs["pwd"] != json!(self.password) {
            return error(401, "Username or password is not correct");
        }
        let mut inner = self.lock();
        inner.next_token += 1;
        inner.logins += 1;
        let token = format!("tok{:08}", inner.next_token);
        inner.tokens.insert(token.clone());
        Reply::json(
            200,
            json!({"totalCount": "1", "imdata": [{"aaaLogin": {"attributes": {
                "token": token, "refreshTimeoutSeconds": "600",
                "userName": self.username}}}]}),
        )
        .with_header(
            "set-cookie",
            &format!("APIC-cookie={token}; path=/; HttpOnly"),
        )
    }

    fn create(&self, body: &Value) -> Reply {
        let Some(children) = body["topSystem"]["children"].as_array() else {
            return error(400, "topSystem expected");
        };
        let mut vlans = Vec::new();
        for child in children {
            let Some(bds) = child["bdEntity"]["children"].as_array() else {
                return error(400, "unknown child of topSystem");
            };
            for bd in bds {
                let attrs = &bd["l2BD"]["attributes"];
                let Some(id) = attrs["fabEncap"]
                    .as_str()
                    .and_then(|e| e.strip_prefix("vlan-"))
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| (1..=4094).contains(n))
                else {
                    return error(400, "l2BD needs fabEncap vlan-<1-4094>");
                };
                let vni = match attrs.get("accEncap").and_then(Value::as_str) {
                    None => None,
                    Some(e) => match e.strip_prefix("vxlan-").and_then(|n| n.parse().ok()) {
                        Some(v) => Some(v),
                        None => return error(400, "accEncap must be vxlan-<vni>"),
                    },
                };
                let admin_state = attrs["adminSt"].as_str().unwrap_or("active").to_string();
                vlans.push((id, Vlan { admin_state, vni }));
            }
        }
        let mut inner = self.lock();
        for (id, vlan) in vlans {
            inner.config.vlans.insert(id, vlan);
        }
        ok()
    }

    fn interface(&self, name: &str, class: &str, body: &Value) -> Reply {
        let Some(attrs) = body[class]["attributes"].as_object() else {
            return error(400, &format!("{class} expected for {name}"));
        };
        let mut inner = self.lock();
        let iface = inner.config.interfaces.entry(name.to_string()).or_default();
        if let Some(mode) = attrs.get("mode").and_then(Value::as_str) {
            iface.mode = Some(mode.to_string());
        }
        if let Some(t) = attrs.get("trunkVlans").and_then(Value::as_str) {
            let (sign, list) = match t.chars().next() {
                Some(c @ ('+' | '-')) => (Some(c), &t[1..]),
                _ => (None, t),
            };
            let Some(set) = vlan_list(list) else {
                return error(400, &format!("bad trunkVlans `{t}`"));
            };
            match sign {
                Some('+') => iface.trunk.extend(set),
                Some(_) => iface.trunk.retain(|v| !set.contains(v)),
                None => iface.trunk = set,
            }
        }
        ok()
    }

    fn route(&self, req: &Request) -> Reply {
        let path = req.path.as_str();
        let method = req.method.as_str();
        if method == "GET" && path == "/api/mo/sys/ch.json" {
            return Reply::json(
                200,
                json!({"totalCount": "1", "imdata": [{"eqptCh": {"attributes": {
                    "descr": CHASSIS, "dn": "sys/ch"}}}]}),
            );
        }
        if method == "POST" && path == "/api/mo.json" {
            return self.create(&req.json());
        }
        if let Some(rest) = path.strip_prefix("/api/mo/sys/bd/bd-[vlan-")
            && let Some(id) = rest.strip_suffix("].json")
            && method == "DELETE"
        {
            let Ok(id) = id.parse::<u32>() else {
                return error(400, "bad VLAN");
            };
            self.lock().config.vlans.remove(&id);
            return ok();
        }
        if let Some(rest) = path.strip_prefix("/api/mo/sys/intf/")
            && let Some(obj) = rest.strip_suffix(".json")
            && method == "POST"
        {
            let (class, name) = if let Some(n) =
                obj.strip_prefix("phys-[").and_then(|n| n.strip_suffix(']'))
            {
                ("l1PhysIf", n)
            } else if let Some(n) = obj.strip_prefix("aggr-[").and_then(|n| n.strip_suffix(']')) {
                ("pcAggrIf", n)
            } else {
                return error(400, &format!("unknown interface object {obj}"));
            };
            return self.interface(name, class, &req.json());
        }
        if path == "/api/mo/sys/epId-1.json" && method == "POST" {
            let body = req.json();
            let Some(src) = body["nvoEp"]["attributes"]["sourceInterface"].as_str() else {
                return error(400, "nvoEp with sourceInterface expected");
            };
            self.lock().config.nve_source = Some(src.to_string());
            return ok();
        }
        if let Some(vni) = path
            .strip_prefix("/api/mo/sys/epId-1/nws/vni-")
            .and_then(|v| v.strip_suffix(".json"))
            .and_then(|v| v.parse::<u32>().ok())
        {
            match method {
                "POST" => {
                    let body = req.json();
                    if body["nvoNw"]["attributes"]["vni"] != json!(vni.to_string()) {
                        return error(400, "nvoNw vni must match the path");
                    }
                    self.lock().config.nve_members.insert(vni);
                    return ok();
                }
                "DELETE" => {
                    self.lock().config.nve_members.remove(&vni);
                    return ok();
                }
                _ => {}
            }
        }
        error(400, &format!("unsupported: {method} {path}"))
    }
}

impl Handler for FakeNexus {
    fn handle(&self, req: &Request) -> Reply {
        if req.path == "/api/aaaLogin.json" && req.method == "POST" {
            return self.login(req);
        }
        let live = req
            .cookie("APIC-cookie")
            .is_some_and(|t| self.lock().tokens.contains(t));
        if !live {
            return error(403, "Token was invalid (Error: Token timeout)");
        }
        self.route(req)
    }
}
