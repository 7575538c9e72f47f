//! Security group extensions as Neutron 29 serves them: address groups (`address-group`)
//! and rules whose remote end is one (`security-groups-remote-address-group`).

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn address_group(c: &Client, name: &str, addresses: Value) -> Value {
    let r = c
        .post(
            "/v2.0/address-groups",
            json!({"address_group": {"name": name, "addresses": addresses}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["address_group"].clone()
}

async fn security_group(c: &Client, name: &str) -> Value {
    let r = c
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": name}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["security_group"].clone()
}

fn reader(server: &TestServer, project: &str) -> Client {
    Client::new(&server.url, Some((project.into(), "reader".into())))
}

#[tokio::test]
async fn an_address_group_keeps_canonical_cidrs() {
    let server = TestServer::start().await;
    let c = server.project("p1");

    let g = address_group(
        &c,
        "web",
        json!([
            "10.0.0.7/24",
            "10.0.0.0/24",
            "192.168.1.1/32",
            "2001:db8::1/64"
        ]),
    )
    .await;
    let listed = c.get_ok("/v2.0/address-groups?name=web").await;

    assert_eq!(
        g["addresses"],
        json!(["10.0.0.0/24", "192.168.1.1/32", "2001:db8::/64"])
    );
    assert_eq!(g["project_id"], "p1");
    assert_eq!(g["tenant_id"], "p1");
    assert_eq!(g["description"], "");
    let mut keys: Vec<&String> = g.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "addresses",
            "created_at",
            "description",
            "id",
            "name",
            "project_id",
            "revision_number",
            "tenant_id",
            "updated_at"
        ]
    );
    assert_eq!(listed["address_groups"], json!([g]));
    server.stop().await;
}

#[tokio::test]
async fn addresses_are_validated_as_neutron_does() {
    let server = TestServer::start().await;
    let c = server.admin();

    for bad in [
        json!(["10.0.0.1"]),
        json!(["not-a-cidr/8"]),
        json!("10.0.0.0/8"),
        json!(["10.0.0.0/8", "10.0.0.0/8"]),
        json!([1]),
    ] {
        let r = c
            .post(
                "/v2.0/address-groups",
                json!({"address_group": {"addresses": bad}}),
            )
            .await;
        r.expect_error(400, "InvalidInput");
    }
    assert_eq!(
        c.get_ok("/v2.0/address-groups").await["address_groups"],
        json!([])
    );
    server.stop().await;
}

#[tokio::test]
async fn addresses_are_added_and_removed_by_action() {
    let server = TestServer::start().await;
    let c = server.project("p1");
    let g = address_group(&c, "g", json!(["10.0.1.34/32"])).await;
    let id = s(&g, "id");

    let added = c
        .put(
            &format!("/v2.0/address-groups/{id}/add_addresses"),
            json!({"addresses": ["192.168.100.0/24", "10.0.2.100/32"]}),
        )
        .await;
    let again = c
        .put(
            &format!("/v2.0/address-groups/{id}/add_addresses"),
            json!({"addresses": ["10.0.2.100/32", "10.9.9.9/32"]}),
        )
        .await;
    let removed = c
        .put(
            &format!("/v2.0/address-groups/{id}/remove_addresses"),
            json!({"addresses": ["10.0.2.100/32"]}),
        )
        .await;
    let missing = c
        .put(
            &format!("/v2.0/address-groups/{id}/remove_addresses"),
            json!({"addresses": ["10.0.1.34/32", "10.0.2.100/32"]}),
        )
        .await;
    let no_list = c
        .put(
            &format!("/v2.0/address-groups/{id}/add_addresses"),
            json!({"address": ["10.0.0.0/8"]}),
        )
        .await;
    // The actions read a bare address as a host, as netaddr does (creation refuses it).
    let bare_missing = c
        .put(
            &format!("/v2.0/address-groups/{id}/remove_addresses"),
            json!({"addresses": ["10.200.200.200"]}),
        )
        .await;
    let bare_bad = c
        .put(
            &format!("/v2.0/address-groups/{id}/add_addresses"),
            json!({"addresses": ["this is bad IP address"]}),
        )
        .await;

    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(
        added.body["address_group"]["addresses"],
        json!(["10.0.1.34/32", "10.0.2.100/32", "192.168.100.0/24"])
    );
    assert_eq!(added.body["address_group"]["revision_number"], 2);
    assert_eq!(
        again.expect_error(400, "AddressesAlreadyExist"),
        format!("Addresses ['10.0.2.100/32'] already exist in the address group {id}.")
    );
    assert_eq!(
        removed.body["address_group"]["addresses"],
        json!(["10.0.1.34/32", "192.168.100.0/24"])
    );
    assert_eq!(
        missing.expect_error(404, "AddressesNotFound"),
        format!("Addresses ['10.0.2.100/32'] not found in the address group {id}.")
    );
    assert_eq!(
        bare_missing.expect_error(404, "AddressesNotFound"),
        format!("Addresses ['10.200.200.200/32'] not found in the address group {id}.")
    );
    bare_bad.expect_error(400, "InvalidInput");
    no_list.expect_error(400, "InvalidInput");
    let shown = c.get_ok(&format!("/v2.0/address-groups/{id}")).await;
    assert_eq!(
        shown["address_group"]["addresses"],
        json!(["10.0.1.34/32", "192.168.100.0/24"]),
        "failed actions changed nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn address_groups_belong_to_their_project() {
    let server = TestServer::start().await;
    let owner = server.project("p1");
    let g = address_group(&owner, "g", json!([])).await;
    let id = s(&g, "id");

    let other = server.project("p2");
    let hidden = other.get(&format!("/v2.0/address-groups/{id}")).await;
    let other_list = other.get_ok("/v2.0/address-groups").await;
    let other_add = other
        .put(
            &format!("/v2.0/address-groups/{id}/add_addresses"),
            json!({"addresses": ["10.0.0.0/8"]}),
        )
        .await;
    let r = reader(&server, "p1");
    let seen = r.get(&format!("/v2.0/address-groups/{id}")).await;
    let reader_update = r
        .put(
            &format!("/v2.0/address-groups/{id}"),
            json!({"address_group": {"name": "x"}}),
        )
        .await;
    let reader_create = r
        .post(
            "/v2.0/address-groups",
            json!({"address_group": {"name": "x"}}),
        )
        .await;
    let admin_sees = server
        .admin()
        .get(&format!("/v2.0/address-groups/{id}"))
        .await;

    hidden.expect_error(404, "AddressGroupNotFound");
    assert_eq!(other_list, json!({"address_groups": []}));
    other_add.expect_error(404, "AddressGroupNotFound");
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(
        reader_update.expect_error(403, "PolicyNotAuthorized"),
        "rule:update_address_group is disallowed by policy"
    );
    reader_create.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(admin_sees.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn update_and_delete_with_revision_constraints() {
    let server = TestServer::start().await;
    let c = server.admin();
    let g = address_group(&c, "g", json!([])).await;
    let id = s(&g, "id");

    let renamed = c
        .put(
            &format!("/v2.0/address-groups/{id}"),
            json!({"address_group": {"name": "h", "description": "d"}}),
        )
        .await;
    let addresses = c
        .put(
            &format!("/v2.0/address-groups/{id}"),
            json!({"address_group": {"addresses": ["10.0.0.0/8"]}}),
        )
        .await;
    let stale = c
        .delete_with(
            &format!("/v2.0/address-groups/{id}"),
            &[("If-Match", "revision_number=1")],
        )
        .await;
    let deleted = c.delete(&format!("/v2.0/address-groups/{id}")).await;

    assert_eq!(renamed.body["address_group"]["name"], "h");
    assert_eq!(renamed.body["address_group"]["revision_number"], 2);
    assert_eq!(addresses.status, 400, "addresses change only by action");
    stale.expect_error(412, "RevisionNumberConstraintFailed");
    assert_eq!(deleted.status, 204);
    c.get(&format!("/v2.0/address-groups/{id}"))
        .await
        .expect_error(404, "AddressGroupNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_rule_names_an_address_group_as_its_remote_end() {
    let server = TestServer::start().await;
    let c = server.project("p1");
    let g = address_group(&c, "g", json!(["10.0.0.0/24"])).await;
    let sg = security_group(&c, "web").await;
    let (gid, sgid) = (s(&g, "id"), s(&sg, "id"));

    let rule = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress",
                   "protocol": "tcp", "port_range_min": 80, "port_range_max": 80,
                   "remote_address_group_id": gid}}),
        )
        .await;
    let filtered = c
        .get_ok(&format!(
            "/v2.0/security-group-rules?remote_address_group_id={gid}"
        ))
        .await;
    let two_remotes = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress",
                   "remote_ip_prefix": "10.0.0.0/8", "remote_address_group_id": gid}}),
        )
        .await;
    let unknown = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress",
                   "remote_address_group_id": uuid::Uuid::new_v4().to_string()}}),
        )
        .await;
    let duplicate = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sgid, "direction": "ingress",
                   "protocol": "tcp", "port_range_min": 80, "port_range_max": 80,
                   "remote_address_group_id": gid}}),
        )
        .await;
    let in_use = c.delete(&format!("/v2.0/address-groups/{gid}")).await;

    assert_eq!(rule.status, 201, "{}", rule.body);
    let rule = rule.body["security_group_rule"].clone();
    assert_eq!(rule["remote_address_group_id"], gid);
    assert_eq!(rule["remote_ip_prefix"], Value::Null);
    assert_eq!(filtered["security_group_rules"], json!([rule]));
    assert_eq!(
        two_remotes.expect_error(400, "SecurityGroupMultipleRemoteEntites"),
        "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided."
    );
    unknown.expect_error(404, "AddressGroupNotFound");
    duplicate.expect_error(409, "SecurityGroupRuleExists");
    assert_eq!(
        in_use.expect_error(409, "AddressGroupInUse"),
        format!("Address group {gid} is in use on one or more security group rules.")
    );
    let shown = c.get_ok(&format!("/v2.0/security-groups/{sgid}")).await;
    assert!(
        shown["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["remote_address_group_id"] == gid)
    );

    c.delete(&format!("/v2.0/security-group-rules/{}", s(&rule, "id")))
        .await;
    let freed = c.delete(&format!("/v2.0/address-groups/{gid}")).await;
    assert_eq!(freed.status, 204, "{}", freed.body);
    server.stop().await;
}

#[tokio::test]
async fn a_rule_cannot_name_another_projects_address_group() {
    let server = TestServer::start().await;
    let theirs = address_group(&server.project("p2"), "g", json!([])).await;
    let c = server.project("p1");
    let sg = security_group(&c, "web").await;

    let r = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": sg["id"], "direction": "ingress",
                   "remote_address_group_id": theirs["id"]}}),
        )
        .await;

    r.expect_error(404, "AddressGroupNotFound");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_adding_addresses_to_one_group_lose_none() {
    let server = TestServer::start().await;
    let c = server.project("p1");
    let g = address_group(&c, "g", json!([])).await;
    let url = format!("/v2.0/address-groups/{}/add_addresses", s(&g, "id"));

    let results = futures::future::join_all((0..32).map(|i| {
        let (c, url) = (c.clone(), url.clone());
        tokio::spawn(async move {
            let own = c
                .put(&url, json!({"addresses": [format!("10.1.{i}.0/24")]}))
                .await;
            let contested = c.put(&url, json!({"addresses": ["10.255.0.0/16"]})).await;
            (own.status, contested.status)
        })
    }))
    .await;

    let outcomes: Vec<(u16, u16)> = results.into_iter().map(|r| r.unwrap()).collect();
    assert!(outcomes.iter().all(|(own, _)| *own == 200), "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|(_, c)| *c == 200).count(),
        1,
        "one client adds the contested address: {outcomes:?}"
    );
    assert!(outcomes.iter().all(|(_, c)| matches!(c, 200 | 400)));
    let shown = c
        .get_ok(&format!("/v2.0/address-groups/{}", s(&g, "id")))
        .await;
    let mut expected: Vec<String> = (0..32).map(|i| format!("10.1.{i}.0/24")).collect();
    expected.push("10.255.0.0/16".into());
    expected.sort();
    assert_eq!(shown["address_group"]["addresses"], json!(expected));
    assert_eq!(shown["address_group"]["revision_number"], 1 + 33);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_address_groups_while_rules_name_them() {
    let server = TestServer::start().await;
    let c = server.project("p1");
    let sg = security_group(&c, "web").await;
    let mut groups = Vec::new();
    for i in 0..16 {
        groups.push(s(&address_group(&c, &format!("g{i}"), json!([])).await, "id").to_string());
    }

    let tasks = groups.iter().enumerate().flat_map(|(i, g)| {
        let rule = {
            let (c, g, sg) = (c.clone(), g.clone(), sg["id"].clone());
            tokio::spawn(async move {
                c.post(
                    "/v2.0/security-group-rules",
                    json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress",
                           "protocol": "tcp", "port_range_min": 1000 + i, "port_range_max": 1000 + i,
                           "remote_address_group_id": g}}),
                )
                .await
                .status
            })
        };
        let delete = {
            let (c, g) = (c.clone(), g.clone());
            tokio::spawn(async move { c.delete(&format!("/v2.0/address-groups/{g}")).await.status })
        };
        [rule, delete]
    });
    let statuses: Vec<u16> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();

    for pair in statuses.chunks(2) {
        assert!(
            matches!((pair[0], pair[1]), (201, 409) | (404, 204)),
            "{pair:?}"
        );
    }
    let rules = c.get_ok("/v2.0/security-group-rules").await;
    for r in rules["security_group_rules"].as_array().unwrap() {
        if let Some(g) = r["remote_address_group_id"].as_str() {
            let shown = c.get(&format!("/v2.0/address-groups/{g}")).await;
            assert_eq!(shown.status, 200, "a rule names a deleted group {g}");
        }
    }
    server.stop().await;
}

/// The rules of a group as comparable (direction, ethertype, protocol, port, remote) tuples.
fn rule_keys(group: &Value) -> Vec<String> {
    let mut keys: Vec<String> = group["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let remote = if r["remote_group_id"] == group["id"] {
                "self".to_string()
            } else {
                r["remote_ip_prefix"].as_str().unwrap_or("").to_string()
            };
            format!(
                "{} {} {} {} {}",
                r["direction"].as_str().unwrap(),
                r["ethertype"].as_str().unwrap(),
                r["protocol"].as_str().unwrap_or("any"),
                r["port_range_min"],
                remote
            )
        })
        .collect();
    keys.sort();
    keys
}

async fn default_group(c: &Client) -> Value {
    let r = c.get_ok("/v2.0/security-groups?name=default").await;
    r["security_groups"][0].clone()
}

#[tokio::test]
async fn neutrons_legacy_templates_give_new_groups_their_rules() {
    let server = TestServer::start().await;
    let member = server.project("p1");

    let templates = member.get_ok("/v2.0/default-security-group-rules").await;
    let custom = security_group(&member, "web").await;
    let default = default_group(&member).await;

    let templates = templates["default_security_group_rules"]
        .as_array()
        .unwrap();
    assert_eq!(templates.len(), 4);
    for t in templates {
        let ingress = t["direction"] == "ingress";
        assert_eq!(t["used_in_default_sg"], true);
        assert_eq!(t["used_in_non_default_sg"], !ingress);
        assert_eq!(
            t["remote_group_id"],
            if ingress {
                json!("PARENT")
            } else {
                Value::Null
            }
        );
        assert_eq!(
            t["description"],
            if ingress {
                "Legacy default SG rule for ingress traffic"
            } else {
                "Legacy default SG rule for egress traffic"
            }
        );
    }
    assert_eq!(
        rule_keys(&custom),
        ["egress IPv4 any null ", "egress IPv6 any null "]
    );
    assert_eq!(
        rule_keys(&default),
        [
            "egress IPv4 any null ",
            "egress IPv6 any null ",
            "ingress IPv4 any null self",
            "ingress IPv6 any null self"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn admins_change_the_templates_and_new_groups_follow() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let member = server.project("p1");
    let before = security_group(&member, "before").await;

    let ssh = admin
        .post(
            "/v2.0/default-security-group-rules",
            json!({"default_security_group_rule": {"direction": "ingress", "ethertype": "ipv4",
                   "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
                   "remote_ip_prefix": "10.0.0.7/8", "used_in_default_sg": true,
                   "description": "ssh"}}),
        )
        .await;
    let parent = admin
        .post(
            "/v2.0/default-security-group-rules",
            json!({"default_security_group_rule": {"direction": "ingress", "protocol": "icmp",
                   "remote_group_id": "PARENT"}}),
        )
        .await;
    let duplicate = admin
        .post(
            "/v2.0/default-security-group-rules",
            json!({"default_security_group_rule": {"direction": "ingress", "protocol": "tcp",
                   "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8",
                   "used_in_non_default_sg": false, "used_in_default_sg": true}}),
        )
        .await;
    let by_member = member
        .post(
            "/v2.0/default-security-group-rules",
            json!({"default_security_group_rule": {"direction": "egress"}}),
        )
        .await;
    let egress_v6 = admin
        .get_ok("/v2.0/default-security-group-rules?direction=egress&ethertype=IPv6")
        .await["default_security_group_rules"][0]["id"]
        .clone();
    let removed = admin
        .delete(&format!(
            "/v2.0/default-security-group-rules/{}",
            egress_v6.as_str().unwrap()
        ))
        .await;
    let after = security_group(&member, "after").await;
    let new_project_default = default_group(&server.project("p2")).await;

    assert_eq!(ssh.status, 201, "{}", ssh.body);
    let ssh = &ssh.body["default_security_group_rule"];
    assert_eq!(ssh["ethertype"], "IPv4");
    assert_eq!(ssh["remote_ip_prefix"], "10.0.0.0/8");
    assert_eq!(ssh["used_in_non_default_sg"], true, "the default");
    assert_eq!(parent.status, 201, "{}", parent.body);
    assert_eq!(
        duplicate.expect_error(409, "DefaultSecurityGroupRuleExists"),
        format!(
            "Default Security group rule already exists. Rule id is {}.",
            ssh["id"].as_str().unwrap()
        )
    );
    assert_eq!(
        by_member.expect_error(403, "PolicyNotAuthorized"),
        "rule:create_default_security_group_rule is disallowed by policy"
    );
    assert_eq!(removed.status, 204);
    assert_eq!(
        rule_keys(&before),
        ["egress IPv4 any null ", "egress IPv6 any null "],
        "groups created before keep their rules"
    );
    assert_eq!(
        rule_keys(&after),
        [
            "egress IPv4 any null ",
            "ingress IPv4 icmp null self",
            "ingress IPv4 tcp 22 10.0.0.0/8"
        ]
    );
    assert_eq!(
        rule_keys(&new_project_default),
        [
            "egress IPv4 any null ",
            "ingress IPv4 any null self",
            "ingress IPv4 tcp 22 10.0.0.0/8",
            "ingress IPv6 any null self"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn templates_are_validated_as_rules_and_cannot_be_updated() {
    let server = TestServer::start().await;
    let c = server.admin();
    let t = c.get_ok("/v2.0/default-security-group-rules").await["default_security_group_rules"][0]
        .clone();

    let two_remotes = c
        .post(
            "/v2.0/default-security-group-rules",
            json!({"default_security_group_rule": {"direction": "ingress",
                   "remote_group_id": "PARENT", "remote_ip_prefix": "10.0.0.0/8"}}),
        )
        .await;
    let bad_ports = c
        .post(
            "/v2.0/default-security-group-rules",
            json!({"default_security_group_rule": {"direction": "ingress", "protocol": "tcp",
                   "port_range_min": 90, "port_range_max": 80}}),
        )
        .await;
    let bad_group = c
        .post(
            "/v2.0/default-security-group-rules",
            json!({"default_security_group_rule": {"direction": "ingress",
                   "remote_group_id": "SIBLING"}}),
        )
        .await;
    let update = c
        .put(
            &format!("/v2.0/default-security-group-rules/{}", s(&t, "id")),
            json!({"default_security_group_rule": {"description": "x"}}),
        )
        .await;
    let missing = c
        .delete(&format!(
            "/v2.0/default-security-group-rules/{}",
            uuid::Uuid::new_v4()
        ))
        .await;

    two_remotes.expect_error(400, "SecurityGroupMultipleRemoteEntites");
    bad_ports.expect_error(400, "SecurityGroupInvalidPortRange");
    assert_eq!(bad_group.status, 400, "{}", bad_group.body);
    assert_eq!(update.status, 400, "{}", update.body);
    missing.expect_error(404, "DefaultSecurityGroupRuleNotFound");
    server.stop().await;
}

#[tokio::test]
async fn rules_say_whether_they_belong_to_the_default_group() {
    let server = TestServer::start().await;
    let c = server.project("p1");
    let custom = security_group(&c, "web").await;
    let default = default_group(&c).await;

    let in_default = c
        .get_ok("/v2.0/security-group-rules?belongs_to_default_sg=true")
        .await;
    let elsewhere = c
        .get_ok("/v2.0/security-group-rules?belongs_to_default_sg=false")
        .await;
    let added = c
        .post(
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": default["id"],
                   "direction": "ingress", "protocol": "tcp", "port_range_min": 443,
                   "port_range_max": 443}}),
        )
        .await;

    for r in default["security_group_rules"].as_array().unwrap() {
        assert_eq!(r["belongs_to_default_sg"], true);
    }
    for r in custom["security_group_rules"].as_array().unwrap() {
        assert_eq!(r["belongs_to_default_sg"], false);
    }
    assert!(
        in_default["security_group_rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["security_group_id"] == default["id"])
    );
    assert_eq!(
        in_default["security_group_rules"].as_array().unwrap().len(),
        4
    );
    assert!(
        elsewhere["security_group_rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["security_group_id"] == custom["id"])
    );
    assert_eq!(
        added.body["security_group_rule"]["belongs_to_default_sg"],
        true
    );
    server.stop().await;
}

#[tokio::test]
async fn security_groups_filter_on_shared() {
    let server = TestServer::start().await;
    let c = server.project("p1");
    let g = security_group(&c, "web").await;

    let unshared = c.get_ok("/v2.0/security-groups?shared=false").await;
    let shared = c.get_ok("/v2.0/security-groups?shared=true").await;
    let bad = c.get("/v2.0/security-groups?shared=maybe").await;

    assert_eq!(g["shared"], false);
    assert_eq!(unshared["security_groups"].as_array().unwrap().len(), 2);
    assert_eq!(shared["security_groups"], json!([]));
    bad.expect_error(400, "InvalidInput");
    server.stop().await;
}

#[tokio::test]
async fn the_default_of_stateful_per_project_and_system_wide() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let manager = Client::new(&server.url, Some(("p1".into(), "manager".into())));
    let member = server.project("p1");

    let own = manager
        .post(
            "/v2.0/security-groups-default-statefulness",
            json!({"security_groups_default_statefulness": {"stateful": false}}),
        )
        .await;
    let again = manager
        .post(
            "/v2.0/security-groups-default-statefulness",
            json!({"security_groups_default_statefulness": {"stateful": true}}),
        )
        .await;
    let by_member = server
        .project("p3")
        .post(
            "/v2.0/security-groups-default-statefulness",
            json!({"security_groups_default_statefulness": {"stateful": false}}),
        )
        .await;
    let system_by_manager = manager
        .post(
            "/v2.0/security-groups-default-statefulness",
            json!({"security_groups_default_statefulness": {"project_id": null, "stateful": false}}),
        )
        .await;
    let implicit = security_group(&member, "implicit").await;
    let explicit = member
        .post(
            "/v2.0/security-groups",
            json!({"security_group": {"name": "explicit", "stateful": true}}),
        )
        .await;
    let default = default_group(&member).await;
    let system = admin
        .post(
            "/v2.0/security-groups-default-statefulness",
            json!({"security_groups_default_statefulness": {"project_id": null, "stateful": false}}),
        )
        .await;
    let other_project = security_group(&server.project("p2"), "g").await;
    let listed_by_member = member
        .get_ok("/v2.0/security-groups-default-statefulness")
        .await;
    let listed_by_admin = admin
        .get_ok("/v2.0/security-groups-default-statefulness?stateful=false")
        .await;

    assert_eq!(own.status, 201, "{}", own.body);
    let own = own.body["security_groups_default_statefulness"].clone();
    assert_eq!(own["project_id"], "p1");
    assert_eq!(own["stateful"], false);
    assert_eq!(
        again.expect_error(409, "SecurityGroupDefaultStatefulnessAlreadyExists"),
        "A security group default statefulness setting already exists for project 'p1'."
    );
    by_member.expect_error(403, "PolicyNotAuthorized");
    assert_eq!(system_by_manager.status, 400, "{}", system_by_manager.body);
    assert_eq!(implicit["stateful"], false, "the project's default");
    assert_eq!(explicit.body["security_group"]["stateful"], true);
    assert_eq!(
        default["stateful"], true,
        "default groups are always stateful"
    );
    assert_eq!(system.status, 201, "{}", system.body);
    assert_eq!(
        system.body["security_groups_default_statefulness"]["project_id"],
        Value::Null
    );
    assert_eq!(other_project["stateful"], false, "the system-wide default");
    assert_eq!(
        listed_by_member["security_groups_default_statefulness"],
        json!([own])
    );
    assert_eq!(
        listed_by_admin["security_groups_default_statefulness"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let id = s(&own, "id");
    let updated = manager
        .put(
            &format!("/v2.0/security-groups-default-statefulness/{id}"),
            json!({"security_groups_default_statefulness": {"stateful": true}}),
        )
        .await;
    let member_delete = member
        .delete(&format!("/v2.0/security-groups-default-statefulness/{id}"))
        .await;
    let hidden = server
        .project("p2")
        .get(&format!("/v2.0/security-groups-default-statefulness/{id}"))
        .await;
    let stateful_again = security_group(&member, "later").await;
    let deleted = manager
        .delete(&format!("/v2.0/security-groups-default-statefulness/{id}"))
        .await;
    let falls_back = security_group(&member, "fallback").await;

    assert_eq!(
        updated.body["security_groups_default_statefulness"]["stateful"],
        true
    );
    member_delete.expect_error(403, "PolicyNotAuthorized");
    hidden.expect_error(404, "SecurityGroupDefaultStatefulnessNotFound");
    assert_eq!(stateful_again["stateful"], true);
    assert_eq!(deleted.status, 204);
    assert_eq!(
        falls_back["stateful"], false,
        "back to the system-wide default"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn groups_created_by_thirty_two_clients_while_templates_change() {
    let server = TestServer::start().await;
    let admin = server.admin();

    let creators = (0..32).map(|i| {
        let c = server.project(&format!("p{i}"));
        tokio::spawn(async move {
            let g = c
                .post(
                    "/v2.0/security-groups",
                    json!({"security_group": {"name": format!("g{i}")}}),
                )
                .await;
            assert_eq!(g.status, 201, "{}", g.body);
            let d = c.get_ok("/v2.0/security-groups?name=default").await;
            (
                g.body["security_group"].clone(),
                d["security_groups"][0].clone(),
            )
        })
    });
    let changer = {
        let admin = admin.clone();
        tokio::spawn(async move {
            let r = admin
                .post(
                    "/v2.0/default-security-group-rules",
                    json!({"default_security_group_rule": {"direction": "ingress",
                           "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
                           "used_in_default_sg": true}}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        })
    };
    let groups = futures::future::join_all(creators).await;
    changer.await.unwrap();

    let ssh = "ingress IPv4 tcp 22 ";
    for g in groups {
        let (custom, default) = g.unwrap();
        // All of one moment's templates, whichever moment: the legacy ones, and the new one
        // or not.
        let mut keys = rule_keys(&custom);
        keys.retain(|k| k != ssh);
        assert_eq!(keys, ["egress IPv4 any null ", "egress IPv6 any null "]);
        let mut keys = rule_keys(&default);
        keys.retain(|k| k != ssh);
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert_eq!(
            default["security_group_rules"].as_array().unwrap().len(),
            keys.len() + usize::from(rule_keys(&default).contains(&ssh.to_string())),
            "each rule once"
        );
    }
    let later = security_group(&server.project("q"), "later").await;
    assert!(rule_keys(&later).contains(&ssh.to_string()));
    server.stop().await;
}
