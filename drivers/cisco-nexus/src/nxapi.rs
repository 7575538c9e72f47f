//! NX-API REST (the DME object model) of one switch: `aaaLogin.json` login with the cookie
//! kept in the session cache (one login for concurrent first calls), one re-login when the
//! switch answers 403 (networking-cisco's `CREDENTIAL_EXPIRED`), and the calls the driver
//! makes: VLANs (`l2BD` under `bdEntity`), trunks of interfaces (`trunkVlans` `+N`/`-N`),
//! NVE members for VXLAN (with their multicast group), the port channels of baremetal ports
//! (`pcAggrIf` under `interfaceEntity` with its `vpcIf` and `stpIf`, members `pcRsMbrIfs`),
//! and the chassis probe.
//!
//! Errors: a refused or timed-out connection and a 5xx are [`ErrorKind::Unavailable`] (a
//! journal retries them); any other answer outside 200/201/204 is permanent.

use crate::settings::{Interface, Switch};
use neutrino_driver::http::{Client, HttpError, Method, Response};
use neutrino_driver::{DriverError, ErrorKind, session};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long concurrent calls wait for another call's login.
const LOGIN_WAIT: Duration = Duration::from_secs(10);
/// How long a cookie is kept when the switch does not say (NX-API's default session
/// lifetime is 600 s).
const DEFAULT_COOKIE_TTL: Duration = Duration::from_secs(540);
/// Per-request timeout.
const TIMEOUT_MS: u32 = 10_000;

/// A VLAN on a switch (an `l2BD`), with the VXLAN VNI it is mapped to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vlan {
    /// The VLAN id.
    pub id: u32,
    /// The VNI (`accEncap vxlan-<vni>`), 0 when none.
    pub vni: u32,
}

/// One switch's NX-API.
pub struct Nexus<'a> {
    ip: &'a str,
    switch: &'a Switch,
    base: String,
    http: Client,
}

impl<'a> Nexus<'a> {
    /// The NX-API of the switch at `ip`.
    pub fn new(ip: &'a str, switch: &'a Switch) -> Self {
        Nexus {
            ip,
            base: switch.base_url(ip),
            switch,
            http: Client::new().timeout_ms(TIMEOUT_MS),
        }
    }

    /// The switch's address (its key in the configuration).
    pub fn ip(&self) -> &str {
        self.ip
    }

    fn cookie_key(&self) -> String {
        format!("cookie/{}", self.ip)
    }

    /// The session cookie, logging in when there is none (single flight).
    fn cookie(&self) -> Result<String, DriverError> {
        let bytes =
            session::get_or_fill(&self.cookie_key(), LOGIN_WAIT, DEFAULT_COOKIE_TTL, || {
                self.login()
            })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `POST api/aaaLogin.json`; the cookie is the `Set-Cookie` pair (`APIC-cookie=<token>`),
    /// or the token of the body when the switch sends no cookie header.
    fn login(&self) -> Result<Vec<u8>, DriverError> {
        let body = json!({"aaaUser": {"attributes": {
            "name": self.switch.username, "pwd": self.switch.password}}});
        let url = format!("{}/api/aaaLogin.json", self.base);
        let r = self
            .http
            .post_json(&url, &body)
            .map_err(|e| transport(self.ip, "login", e))?;
        if !accepted(r.status) {
            return Err(status_error(self.ip, "login", &r));
        }
        neutrino_driver::info!("logged in to Nexus switch {}", self.ip);
        if let Some(pair) = r
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .filter(|p| p.contains('='))
        {
            return Ok(pair.trim().as_bytes().to_vec());
        }
        let token = r
            .json::<Value>()
            .ok()
            .and_then(|v| {
                v["imdata"][0]["aaaLogin"]["attributes"]["token"]
                    .as_str()
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                DriverError::internal(format!(
                    "Nexus switch {}: login answered no cookie and no token",
                    self.ip
                ))
            })?;
        Ok(format!("APIC-cookie={token}").into_bytes())
    }

    /// One call with the session cookie; on 403 the cookie is dropped and the call made
    /// once more after a new login.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, DriverError> {
        let url = format!("{}/{}", self.base, path);
        let what = format!("{} {path}", method_name(method));
        let payload = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut relogged = false;
        loop {
            let cookie = self.cookie()?;
            let mut headers = vec![("cookie".to_string(), cookie.clone())];
            if body.is_some() {
                headers.push(("content-type".into(), "application/json".into()));
            }
            let r = self
                .http
                .send(method, &url, headers, payload.clone())
                .map_err(|e| transport(self.ip, &what, e))?;
            if r.status == 403 && !relogged {
                neutrino_driver::info!(
                    "Nexus switch {}: session expired (403), logging in again",
                    self.ip
                );
                // Only if nobody replaced it meanwhile: concurrent calls refused with the
                // same cookie log in once.
                if session::get(&self.cookie_key()).as_deref() == Some(cookie.as_bytes()) {
                    session::delete(&self.cookie_key());
                }
                relogged = true;
                continue;
            }
            if !accepted(r.status) {
                return Err(status_error(self.ip, &what, &r));
            }
            return Ok(r);
        }
    }

    /// `GET api/mo/sys/ch.json`: the chassis description ("Nexus9000 … Chassis").
    pub fn chassis(&self) -> Result<String, DriverError> {
        let r = self.call(Method::Get, "api/mo/sys/ch.json", None)?;
        let v: Value = r.json()?;
        Ok(v["imdata"][0]["eqptCh"]["attributes"]["descr"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Create VLANs (one `POST api/mo.json` with an `l2BD` per VLAN).
    pub fn create_vlans(&self, vlans: &[Vlan]) -> Result<(), DriverError> {
        if vlans.is_empty() {
            return Ok(());
        }
        let children: Vec<Value> = vlans
            .iter()
            .map(|v| {
                let mut attrs = json!({
                    "fabEncap": format!("vlan-{}", v.id), "pcTag": "1", "adminSt": "active"});
                if v.vni != 0 {
                    attrs["accEncap"] = json!(format!("vxlan-{}", v.vni));
                }
                json!({"l2BD": {"attributes": attrs}})
            })
            .collect();
        let body = json!({"topSystem": {"children": [{"bdEntity": {"children": children}}]}});
        self.call(Method::Post, "api/mo.json", Some(&body))?;
        Ok(())
    }

    /// `DELETE api/mo/sys/bd/bd-[vlan-N].json`.
    pub fn delete_vlan(&self, vlan: u32) -> Result<(), DriverError> {
        self.call(
            Method::Delete,
            &format!("api/mo/sys/bd/bd-[vlan-{vlan}].json"),
            None,
        )?;
        Ok(())
    }

    /// Add VLANs to an interface's trunk (`trunkVlans: "+a,b"`, switchport mode trunk).
    pub fn trunk_add(&self, iface: &Interface, vlans: &[u32]) -> Result<(), DriverError> {
        self.trunk(iface, '+', vlans)
    }

    /// Remove VLANs from an interface's trunk (`trunkVlans: "-a,b"`).
    pub fn trunk_remove(&self, iface: &Interface, vlans: &[u32]) -> Result<(), DriverError> {
        self.trunk(iface, '-', vlans)
    }

    fn trunk(&self, iface: &Interface, sign: char, vlans: &[u32]) -> Result<(), DriverError> {
        if vlans.is_empty() {
            return Ok(());
        }
        let list = vlans
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut attrs = json!({"trunkVlans": format!("{sign}{list}")});
        if sign == '+' {
            attrs["mode"] = json!("trunk");
        }
        let body = json!({iface.class(): {"attributes": attrs}});
        self.call(
            Method::Post,
            &format!("api/mo/{}.json", iface.dme_path()),
            Some(&body),
        )?;
        Ok(())
    }

    /// Make the VNI a member of the switch's NVE interface (`nvoNw` under `epId-1`), the NVE
    /// interface sourcing from `loopback<nve_src_intf>` when configured; with a multicast
    /// group (`mcast_ranges`) the VNI joins it (`member vni N mcast-group G`).
    pub fn nve_member_add(&self, vni: u32, mcast_group: Option<&str>) -> Result<(), DriverError> {
        if let Some(lo) = self.switch.nve_src_intf {
            let ep = json!({"nvoEp": {"attributes": {
                "epId": "1", "adminSt": "enabled", "sourceInterface": format!("lo{lo}")}}});
            self.call(Method::Post, "api/mo/sys/epId-1.json", Some(&ep))?;
        }
        let mut attrs = json!({
            "vni": vni.to_string(), "associateVrfFlag": "no", "suppressARP": "no"});
        if let Some(group) = mcast_group {
            attrs["vniRangeMin"] = json!(vni.to_string());
            attrs["vniRangeMax"] = json!(vni.to_string());
            attrs["mcastGroup"] = json!(group);
            attrs["isMcastRange"] = json!("yes");
        }
        let body = json!({"nvoNw": {"attributes": attrs}});
        self.call(
            Method::Post,
            &format!("api/mo/sys/epId-1/nws/vni-{vni}.json"),
            Some(&body),
        )?;
        Ok(())
    }

    /// The port channel of each ethernet interface in one (`eth1/7` → 20), from `GET
    /// api/mo/sys/intf.json` of the `pcRsMbrIfs` subtree (networking-cisco's
    /// `_get_port_channel_group`).
    pub fn port_channel_members(&self) -> Result<BTreeMap<String, u32>, DriverError> {
        let r = self.call(
            Method::Get,
            "api/mo/sys/intf.json?query-target=subtree&target-subtree-class=pcRsMbrIfs",
            None,
        )?;
        let v: Value = r.json()?;
        Ok(v["imdata"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let a = &m["pcRsMbrIfs"]["attributes"];
                let po = a["parentSKey"].as_str()?.strip_prefix("po")?.parse().ok()?;
                Some((a["tSKey"].as_str()?.to_string(), po))
            })
            .collect())
    }

    /// One `POST api/mo.json` of `children` of `topSystem`.
    fn post_system(&self, children: Vec<Value>) -> Result<(), DriverError> {
        let body = json!({"topSystem": {"children": children}});
        self.call(Method::Post, "api/mo.json", Some(&body))?;
        Ok(())
    }

    /// Create `port-channel<id>` with `vpc <id>` (`pcAggrIf` `po<id>`, `vpcIf` `<id>` related
    /// to it by `vpcRsVpcConf`), as networking-cisco's `create_port_channel` does, with its
    /// defaults for a channel without `intfcfg_portchannel`: `ctrl graceful-conv` and
    /// spanning-tree port type `trunk` (`stpIf`).
    pub fn create_port_channel(&self, id: u32) -> Result<(), DriverError> {
        let po = format!("po{id}");
        self.post_system(vec![
            json!({"interfaceEntity": {"children": [{"pcAggrIf": {"attributes": {
                "id": po, "ctrl": "graceful-conv"}}}]}}),
            json!({"vpcEntity": {"children": [{"vpcInst": {"children": [{"vpcDom": {
                "children": [{"vpcIf": {"attributes": {"id": id.to_string()}, "children": [
                    {"vpcRsVpcConf": {"attributes": {
                        "tDn": format!("sys/intf/aggr-[{po}]")}}}]}}]}}]}}]}}),
            json!({"stpEntity": {"children": [{"stpInst": {"children": [{"stpIf": {
                "attributes": {"id": po, "mode": "trunk"}}}]}}]}}),
        ])
    }

    /// Delete `port-channel<id>` (`pcAggrIf` `status: deleted`; its vPC goes with it).
    pub fn delete_port_channel(&self, id: u32) -> Result<(), DriverError> {
        self.post_system(vec![json!({"interfaceEntity": {"children": [{"pcAggrIf": {
            "attributes": {"id": format!("po{id}"), "status": "deleted"}}}]}})])
    }

    /// Put interfaces in `port-channel<id>` (`channel-group <id> mode active`: `pcRsMbrIfs`)
    /// or take them out (`status: deleted`).
    pub fn channel_members(
        &self,
        id: u32,
        ifaces: &[Interface],
        add: bool,
    ) -> Result<(), DriverError> {
        if ifaces.is_empty() {
            return Ok(());
        }
        let po = format!("po{id}");
        let mut children: Vec<Value> = Vec::new();
        let mut attrs = json!({"id": po});
        if add {
            attrs["isExplicit"] = json!("no");
            attrs["pcMode"] = json!("active");
            children.push(json!({"pcShadowAggrIf": {"attributes": {"id": po}}}));
        }
        for iface in ifaces {
            let t_dn = format!("sys/intf/{}", iface.dme_name());
            children.push(if add {
                json!({"pcRsMbrIfs": {"attributes": {"isMbrForce": "yes", "tDn": t_dn}}})
            } else {
                json!({"pcRsMbrIfs": {"attributes": {"status": "deleted", "tDn": t_dn}}})
            });
        }
        self.post_system(vec![json!({"interfaceEntity": {"children": [{"pcAggrIf": {
            "attributes": attrs, "children": children}}]}})])
    }

    /// `DELETE api/mo/sys/epId-1/nws/vni-<vni>.json`.
    pub fn nve_member_remove(&self, vni: u32) -> Result<(), DriverError> {
        self.call(
            Method::Delete,
            &format!("api/mo/sys/epId-1/nws/vni-{vni}.json"),
            None,
        )?;
        Ok(())
    }
}

/// networking-cisco's accepted codes.
fn accepted(status: u16) -> bool {
    matches!(status, 200 | 201 | 204)
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        _ => "HTTP",
    }
}

fn transport(ip: &str, what: &str, e: HttpError) -> DriverError {
    let mut err = DriverError::from(e);
    err.message = format!("Nexus switch {ip}: {what}: {}", err.message);
    err
}

fn status_error(ip: &str, what: &str, r: &Response) -> DriverError {
    let kind = if r.status >= 500 {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Internal
    };
    let text: String = r.text().chars().take(300).collect();
    DriverError::new(
        kind,
        format!("Nexus switch {ip}: {what} answered {}: {text}", r.status),
    )
}
