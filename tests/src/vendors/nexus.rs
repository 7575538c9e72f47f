//! A fake Cisco Nexus switch: the part of NX-API REST (the DME object model) networking-cisco's
//! driver uses, with the state it changes.
//!
//! - `POST /api/aaaLogin.json` `{"aaaUser":{"attributes":{"name","pwd"}}}`: with the right
//!   credentials 200, `Set-Cookie: APIC-cookie=<token>` and the token in `imdata`; else 401.
//! - Every other call needs a live `APIC-cookie`, else 403 (`Token was invalid`), which is
//!   what a switch answers when the session expired.
//! - `GET /api/mo/sys/ch.json`: the chassis (`eqptCh`, "Nexus9000 C9396PX Chassis").
//! - `GET /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=pcRsMbrIfs`: the
//!   members of every port channel (`tSKey` `eth1/7`, `parentSKey` `po20`).
//! - `POST /api/mo.json` with `topSystem` → `bdEntity` → `l2BD` children: VLANs created
//!   (`fabEncap vlan-N`, optional `accEncap vxlan-<vni>`).
//! - `DELETE /api/mo/sys/bd/bd-[vlan-N].json`: the VLAN deleted.
//! - `POST /api/mo/sys/intf/phys-[ethX/Y].json` (`l1PhysIf`) or `…/aggr-[poN].json`
//!   (`pcAggrIf`) with `trunkVlans` `+a,b` (add), `-a` (remove) or `a-c,d` (replace), and
//!   `mode`: the interface's allowed VLANs.
//! - `POST /api/mo/sys/epId-1.json` (`nvoEp`) and `POST|DELETE
//!   /api/mo/sys/epId-1/nws/vni-N.json` (`nvoNw`, with `mcastGroup` when `isMcastRange` is
//!   `yes`): the NVE interface and its VNI members with their multicast groups.
//! - `POST /api/mo.json` with `topSystem` → `interfaceEntity` → `pcAggrIf` (`id` `poN`;
//!   `status: deleted` removes the port channel, its vPC and its members), its children
//!   `pcRsMbrIfs` (`tDn` `sys/intf/phys-[ethX/Y]`; `status: deleted` takes the interface out;
//!   an interface already in another port channel, or a port channel that does not exist, is
//!   a 400) and `pcShadowAggrIf`; `vpcEntity` → `vpcInst` → `vpcDom` → `vpcIf` (`id`, with
//!   `vpcRsVpcConf` `tDn` `sys/intf/aggr-[poN]` naming an existing port channel; a vPC id
//!   used by another port channel is a 400); `stpEntity` → `stpInst` → `stpIf` (`id` `poN`,
//!   `mode`). Children are applied in order, all or nothing.
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
    /// The multicast group of each NVE member that has one.
    pub nve_mcast_groups: BTreeMap<u32, String>,
    /// Port channels by number (`po1001` is 1001).
    pub port_channels: BTreeMap<u32, PortChannel>,
}

/// A port channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortChannel {
    /// The vPC id configured on it (`vpc <id>`).
    pub vpc: Option<u32>,
    /// Member interfaces by DME name (`eth1/7`).
    pub members: BTreeSet<String>,
    /// `ctrl` (`graceful-conv`), when set.
    pub ctrl: Option<String>,
    /// The spanning-tree port type (`stpIf` `mode`), when set.
    pub stp_mode: Option<String>,
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

/// `l2BD` children of `bdEntity`.
fn create_vlans(config: &mut Config, bds: &[Value]) -> Result<(), String> {
    for bd in bds {
        let attrs = &bd["l2BD"]["attributes"];
        let Some(id) = attrs["fabEncap"]
            .as_str()
            .and_then(|e| e.strip_prefix("vlan-"))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=4094).contains(n))
        else {
            return Err("l2BD needs fabEncap vlan-<1-4094>".into());
        };
        let vni = match attrs.get("accEncap").and_then(Value::as_str) {
            None => None,
            Some(e) => match e.strip_prefix("vxlan-").and_then(|n| n.parse().ok()) {
                Some(v) => Some(v),
                None => return Err("accEncap must be vxlan-<vni>".into()),
            },
        };
        let admin_state = attrs["adminSt"].as_str().unwrap_or("active").to_string();
        config.vlans.insert(id, Vlan { admin_state, vni });
    }
    Ok(())
}

/// `po1001` → 1001.
fn po_number(id: &Value) -> Result<u32, String> {
    id.as_str()
        .and_then(|i| i.strip_prefix("po"))
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=4096).contains(n))
        .ok_or_else(|| format!("port channel id `{id}` is not po<1-4096>"))
}

/// A `pcAggrIf`: create, change or delete a port channel, add or remove members.
fn port_channel(config: &mut Config, pc: &Value) -> Result<(), String> {
    let attrs = &pc["attributes"];
    let n = po_number(&attrs["id"])?;
    if attrs["status"] == "deleted" {
        config.port_channels.remove(&n);
        config.interfaces.remove(&format!("po{n}"));
        return Ok(());
    }
    let children = pc["children"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !children.is_empty() && !config.port_channels.contains_key(&n) {
        // Taking members out of a port channel that is gone changes nothing.
        if children
            .iter()
            .all(|c| c["pcRsMbrIfs"]["attributes"]["status"] == "deleted")
        {
            return Ok(());
        }
        return Err(format!("port-channel{n} does not exist"));
    }
    let channel = config.port_channels.entry(n).or_default();
    if let Some(ctrl) = attrs["ctrl"].as_str() {
        channel.ctrl = Some(ctrl.to_string());
    }
    for child in children {
        if child.get("pcShadowAggrIf").is_some() {
            continue;
        }
        let mbr = &child["pcRsMbrIfs"]["attributes"];
        let Some(name) = mbr["tDn"]
            .as_str()
            .and_then(|t| t.strip_prefix("sys/intf/phys-["))
            .and_then(|t| t.strip_suffix(']'))
        else {
            return Err(format!(
                "pcRsMbrIfs tDn `{}` is no ethernet interface",
                mbr["tDn"]
            ));
        };
        if mbr["status"] == "deleted" {
            config
                .port_channels
                .get_mut(&n)
                .expect("exists")
                .members
                .remove(name);
            continue;
        }
        if let Some((other, _)) = config
            .port_channels
            .iter()
            .find(|(o, c)| **o != n && c.members.contains(name))
        {
            return Err(format!("{name} is already a member of port-channel{other}"));
        }
        config
            .port_channels
            .get_mut(&n)
            .expect("exists")
            .members
            .insert(name.to_string());
    }
    Ok(())
}

/// The only child of `parent`'s `children` of class `class`, at every level of `path`.
fn descend<'a>(mut node: &'a Value, path: &[&str]) -> Result<&'a Value, String> {
    for class in path {
        node = node["children"]
            .as_array()
            .and_then(|c| c.iter().find_map(|x| x.get(*class)))
            .ok_or_else(|| format!("{class} expected"))?;
    }
    Ok(node)
}

/// `vpcEntity` → `vpcInst` → `vpcDom` → `vpcIf`s.
fn vpc_interfaces(config: &mut Config, entity: &Value) -> Result<(), String> {
    let dom = descend(entity, &["vpcInst", "vpcDom"])?;
    for vpc_if in dom["children"].as_array().into_iter().flatten() {
        let vpc_if = &vpc_if["vpcIf"];
        let id: u32 = vpc_if["attributes"]["id"]
            .as_str()
            .and_then(|i| i.parse().ok())
            .ok_or("vpcIf needs an id")?;
        let conf = descend(vpc_if, &["vpcRsVpcConf"])?;
        let n = conf["attributes"]["tDn"]
            .as_str()
            .and_then(|t| t.strip_prefix("sys/intf/aggr-[po"))
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse::<u32>().ok())
            .ok_or("vpcRsVpcConf tDn must be sys/intf/aggr-[poN]")?;
        if let Some((other, _)) = config
            .port_channels
            .iter()
            .find(|(o, c)| **o != n && c.vpc == Some(id))
        {
            return Err(format!("vpc {id} is configured on port-channel{other}"));
        }
        config
            .port_channels
            .get_mut(&n)
            .ok_or_else(|| format!("port-channel{n} does not exist"))?
            .vpc = Some(id);
    }
    Ok(())
}

/// `stpEntity` → `stpInst` → `stpIf`s of port channels.
fn stp_interfaces(config: &mut Config, entity: &Value) -> Result<(), String> {
    let inst = descend(entity, &["stpInst"])?;
    for stp_if in inst["children"].as_array().into_iter().flatten() {
        let attrs = &stp_if["stpIf"]["attributes"];
        let n = po_number(&attrs["id"])?;
        config
            .port_channels
            .get_mut(&n)
            .ok_or_else(|| format!("port-channel{n} does not exist"))?
            .stp_mode = attrs["mode"].as_str().map(str::to_string);
    }
    Ok(())
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

    /// The port channels.
    pub fn port_channels(&self) -> BTreeMap<u32, PortChannel> {
        self.lock().config.port_channels.clone()
    }

    /// Configure `port-channel<n>` with `members` (DME names, `eth1/7`), as an operator
    /// would.
    pub fn add_port_channel(&self, n: u32, members: &[&str]) {
        self.lock().config.port_channels.insert(
            n,
            PortChannel {
                members: members.iter().map(|m| m.to_string()).collect(),
                ..PortChannel::default()
            },
        );
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
        let mut inner = self.lock();
        let mut config = inner.config.clone();
        for child in children {
            let applied = if let Some(bds) = child["bdEntity"]["children"].as_array() {
                create_vlans(&mut config, bds)
            } else if let Some(ifs) = child["interfaceEntity"]["children"].as_array() {
                ifs.iter()
                    .try_for_each(|i| port_channel(&mut config, &i["pcAggrIf"]))
            } else if child.get("vpcEntity").is_some() {
                vpc_interfaces(&mut config, &child["vpcEntity"])
            } else if child.get("stpEntity").is_some() {
                stp_interfaces(&mut config, &child["stpEntity"])
            } else {
                Err("unknown child of topSystem".to_string())
            };
            if let Err(e) = applied {
                return error(400, &e);
            }
        }
        inner.config = config;
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
        if method == "GET" && path == "/api/mo/sys/intf.json" {
            if req.query != "query-target=subtree&target-subtree-class=pcRsMbrIfs" {
                return error(400, &format!("unsupported query {}", req.query));
            }
            let inner = self.lock();
            let members: Vec<Value> = inner
                .config
                .port_channels
                .iter()
                .flat_map(|(n, pc)| {
                    pc.members.iter().map(move |m| {
                        json!({"pcRsMbrIfs": {"attributes": {
                            "parentSKey": format!("po{n}"), "tSKey": m,
                            "tDn": format!("sys/intf/phys-[{m}]")}}})
                    })
                })
                .collect();
            return Reply::json(
                200,
                json!({"totalCount": members.len().to_string(), "imdata": members}),
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
                    let attrs = &body["nvoNw"]["attributes"];
                    if attrs["vni"] != json!(vni.to_string()) {
                        return error(400, "nvoNw vni must match the path");
                    }
                    let group = if attrs["isMcastRange"] == "yes" {
                        let Some(g) = attrs["mcastGroup"].as_str().filter(|g| {
                            g.parse::<std::net::Ipv4Addr>()
                                .is_ok_and(|a| a.is_multicast())
                        }) else {
                            return error(400, "mcastGroup must be a multicast group");
                        };
                        if attrs["vniRangeMin"] != attrs["vni"]
                            || attrs["vniRangeMax"] != attrs["vni"]
                        {
                            return error(400, "vniRangeMin and vniRangeMax must be the vni");
                        }
                        Some(g.to_string())
                    } else {
                        None
                    };
                    let mut inner = self.lock();
                    inner.config.nve_members.insert(vni);
                    match group {
                        Some(g) => inner.config.nve_mcast_groups.insert(vni, g),
                        None => inner.config.nve_mcast_groups.remove(&vni),
                    };
                    return ok();
                }
                "DELETE" => {
                    let mut inner = self.lock();
                    inner.config.nve_members.remove(&vni);
                    inner.config.nve_mcast_groups.remove(&vni);
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
