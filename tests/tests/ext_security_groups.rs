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
