//! List queries: filters (repeated keys OR), `fields`, sorting, pagination with Neutron's
//! `<collection>_links`, and the tag filters.

use neutrino_tests::{Client, TestServer, s};
use serde_json::{Value, json};

async fn named_networks(c: &Client, names: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for n in names {
        out.push(c.network(n).await);
    }
    out
}

fn names(v: &Value, collection: &str) -> Vec<String> {
    v[collection]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_filter_on_an_attribute_selects_matching_items() {
    let server = TestServer::start().await;
    let c = server.admin();
    named_networks(&c, &["a", "b", "c"]).await;

    let r = c.get_ok("/v2.0/networks?name=b").await;

    assert_eq!(names(&r, "networks"), vec!["b"]);
    server.stop().await;
}

#[tokio::test]
async fn repeated_filter_keys_are_ored() {
    let server = TestServer::start().await;
    let c = server.admin();
    named_networks(&c, &["a", "b", "c"]).await;

    let r = c
        .get_ok("/v2.0/networks?name=a&name=c&sort_key=name&sort_dir=asc")
        .await;

    assert_eq!(names(&r, "networks"), vec!["a", "c"]);
    server.stop().await;
}

#[tokio::test]
async fn different_filter_keys_are_anded() {
    let server = TestServer::start().await;
    let c = server.admin();
    let nets = named_networks(&c, &["a", "b"]).await;
    c.put(
        &format!("/v2.0/networks/{}", s(&nets[1], "id")),
        json!({"network": {"admin_state_up": false}}),
    )
    .await;

    let both = c.get_ok("/v2.0/networks?name=b&admin_state_up=false").await;
    let none = c.get_ok("/v2.0/networks?name=a&admin_state_up=False").await;

    assert_eq!(names(&both, "networks"), vec!["b"]);
    assert_eq!(none["networks"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn an_empty_filter_value_matches_the_empty_string() {
    let server = TestServer::start().await;
    let c = server.admin();
    named_networks(&c, &["", "x"]).await;

    let r = c.get_ok("/v2.0/networks?name=").await;

    assert_eq!(names(&r, "networks"), vec![""]);
    server.stop().await;
}

#[tokio::test]
async fn a_filter_on_an_unknown_or_unfilterable_attribute_is_refused() {
    let server = TestServer::start().await;
    let c = server.admin();

    let unknown = c.get("/v2.0/networks?colour=red").await;
    let unfilterable = c.get("/v2.0/subnets?allocation_pools=x").await;

    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(
        unknown.error_message().contains("colour"),
        "{}",
        unknown.body
    );
    assert_eq!(unfilterable.status, 400, "{}", unfilterable.body);
    assert!(
        unfilterable.error_message().contains("allocation_pools"),
        "{}",
        unfilterable.body
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_boolean_filter_names_the_attribute() {
    let server = TestServer::start().await;

    let r = server.admin().get("/v2.0/networks?shared=perhaps").await;

    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.error_message().contains("shared"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn ports_filter_on_fixed_ips_and_device_owner() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let a = c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let b = c.subnet(s(&net, "id"), "10.0.1.0/24").await;
    let p1 = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"ip_address": "10.0.0.5"}],
            "device_owner": "compute:nova"}),
        )
        .await;
    let p2 = c
        .port(
            s(&net, "id"),
            json!({"fixed_ips": [{"subnet_id": b["id"]}]}),
        )
        .await;

    let by_ip = c
        .get_ok("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.5")
        .await;
    let by_subnet = c
        .get_ok(&format!(
            "/v2.0/ports?fixed_ips=subnet_id%3D{}",
            s(&b, "id")
        ))
        .await;
    let by_owner = c.get_ok("/v2.0/ports?device_owner=compute:nova").await;
    let by_either = c
        .get_ok(&format!(
            "/v2.0/ports?fixed_ips=subnet_id%3D{}&fixed_ips=subnet_id%3D{}",
            s(&a, "id"),
            s(&b, "id")
        ))
        .await;
    let substr = c
        .get_ok("/v2.0/ports?fixed_ips=ip_address_substr%3D0.0.5")
        .await;

    let ids = |v: &Value| -> Vec<String> {
        let mut x: Vec<String> = v["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| s(p, "id").to_string())
            .collect();
        x.sort();
        x
    };
    assert_eq!(ids(&by_ip), vec![s(&p1, "id").to_string()]);
    assert_eq!(ids(&by_subnet), vec![s(&p2, "id").to_string()]);
    assert_eq!(ids(&by_owner), vec![s(&p1, "id").to_string()]);
    let mut both = vec![s(&p1, "id").to_string(), s(&p2, "id").to_string()];
    both.sort();
    assert_eq!(ids(&by_either), both);
    assert_eq!(ids(&substr), vec![s(&p1, "id").to_string()]);
    server.stop().await;
}

#[tokio::test]
async fn subnets_filter_on_network_cidr_and_ip_version() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    let other = c.network("m").await;
    c.subnet(s(&net, "id"), "10.0.0.0/24").await;
    let v6 = c.subnet(s(&net, "id"), "2001:db8::/64").await;
    c.subnet(s(&other, "id"), "10.9.0.0/24").await;

    let r = c
        .get_ok(&format!(
            "/v2.0/subnets?network_id={}&ip_version=6",
            s(&net, "id")
        ))
        .await;
    let by_cidr = c.get_ok("/v2.0/subnets?cidr=10.9.0.0/24").await;

    assert_eq!(r["subnets"].as_array().unwrap().len(), 1);
    assert_eq!(r["subnets"][0]["id"], v6["id"]);
    assert_eq!(by_cidr["subnets"][0]["network_id"], other["id"]);
    server.stop().await;
}

#[tokio::test]
async fn fields_limit_the_attributes_returned() {
    let server = TestServer::start().await;
    let c = server.admin();
    let n = c.network("n").await;

    let list = c.get_ok("/v2.0/networks?fields=id&fields=name").await;
    let show = c
        .get_ok(&format!("/v2.0/networks/{}?fields=status", s(&n, "id")))
        .await;

    assert_eq!(list["networks"], json!([{"id": n["id"], "name": "n"}]));
    assert_eq!(show["network"], json!({"status": "ACTIVE"}));
    server.stop().await;
}

#[tokio::test]
async fn fields_do_not_break_filters_or_sorting_on_other_attributes() {
    let server = TestServer::start().await;
    let c = server.admin();
    named_networks(&c, &["b", "a", "c"]).await;

    let r = c
        .get_ok("/v2.0/networks?fields=name&sort_key=name&sort_dir=desc&admin_state_up=true")
        .await;

    assert_eq!(
        r["networks"],
        json!([{"name": "c"}, {"name": "b"}, {"name": "a"}])
    );
    server.stop().await;
}

#[tokio::test]
async fn several_sort_keys_sort_lexicographically() {
    let server = TestServer::start().await;
    let c = server.admin();
    let nets = named_networks(&c, &["x", "x", "y", "y"]).await;
    for n in [&nets[0], &nets[2]] {
        c.put(
            &format!("/v2.0/networks/{}", s(n, "id")),
            json!({"network": {"admin_state_up": false}}),
        )
        .await;
    }

    let r = c
        .get_ok("/v2.0/networks?sort_key=name&sort_dir=desc&sort_key=admin_state_up&sort_dir=asc")
        .await;

    let got: Vec<(String, bool)> = r["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                s(n, "name").to_string(),
                n["admin_state_up"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("y".to_string(), false),
            ("y".to_string(), true),
            ("x".to_string(), false),
            ("x".to_string(), true)
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn sorting_errors_are_bad_requests() {
    let server = TestServer::start().await;
    let c = server.admin();

    let unknown = c.get("/v2.0/networks?sort_key=colour&sort_dir=asc").await;
    let unsortable = c.get("/v2.0/networks?sort_key=subnets&sort_dir=asc").await;
    let bad_dir = c.get("/v2.0/networks?sort_key=name&sort_dir=up").await;
    let mismatched = c
        .get("/v2.0/networks?sort_key=name&sort_key=id&sort_dir=asc")
        .await;

    for r in [&unknown, &unsortable, &bad_dir, &mismatched] {
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.error_type(), Some("HTTPBadRequest"), "{}", r.body);
    }
    assert!(unknown.error_message().contains("colour"));
    assert!(mismatched.error_message().contains("same"));
    server.stop().await;
}

#[tokio::test]
async fn limit_and_marker_walk_the_pages_with_neutrons_links() {
    let server = TestServer::start().await;
    let c = server.admin();
    named_networks(&c, &["a", "b", "c", "d", "e"]).await;

    let p1 = c
        .get_ok("/v2.0/networks?limit=2&sort_key=name&sort_dir=asc")
        .await;
    let links = p1["networks_links"].as_array().unwrap();
    let next = links.iter().find(|l| l["rel"] == "next").unwrap();
    let href = s(next, "href");
    let path = &href[href.find("/v2.0").unwrap()..];
    let p2 = c.get_ok(path).await;
    let next2 = p2["networks_links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .unwrap()
        .clone();
    let href2 = s(&next2, "href");
    let p3 = c.get_ok(&href2[href2.find("/v2.0").unwrap()..]).await;

    assert_eq!(names(&p1, "networks"), vec!["a", "b"]);
    assert!(href.starts_with(&server.url), "{href}");
    assert!(href.contains("limit=2"), "{href}");
    assert!(
        href.contains(&format!("marker={}", s(&p1["networks"][1], "id"))),
        "{href}"
    );
    assert_eq!(names(&p2, "networks"), vec!["c", "d"]);
    assert_eq!(names(&p3, "networks"), vec!["e"]);
    let last_links = p3["networks_links"].as_array().unwrap();
    assert!(
        last_links.iter().all(|l| l["rel"] != "next"),
        "no next link after the last page: {last_links:?}"
    );
    let prev = last_links.iter().find(|l| l["rel"] == "previous").unwrap();
    assert!(s(prev, "href").contains("page_reverse=True"));
    assert!(
        s(prev, "href").contains(&format!("marker={}", s(&p3["networks"][0], "id"))),
        "{prev}"
    );
    server.stop().await;
}

#[tokio::test]
async fn page_reverse_returns_the_previous_page_in_order() {
    let server = TestServer::start().await;
    let c = server.admin();
    let nets = named_networks(&c, &["a", "b", "c", "d", "e"]).await;
    let d = nets.iter().find(|n| n["name"] == "d").unwrap();

    let r = c
        .get_ok(&format!(
            "/v2.0/networks?limit=2&sort_key=name&sort_dir=asc&marker={}&page_reverse=True",
            s(d, "id")
        ))
        .await;

    assert_eq!(names(&r, "networks"), vec!["b", "c"]);
    server.stop().await;
}

#[tokio::test]
async fn pagination_without_sort_keys_follows_ids() {
    let server = TestServer::start().await;
    let c = server.admin();
    named_networks(&c, &["a", "b", "c", "d", "e"]).await;
    let all = c.get_ok("/v2.0/networks").await;
    let mut ids: Vec<String> = all["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(n, "id").to_string())
        .collect();
    ids.sort();

    let mut seen = Vec::new();
    let mut path = "/v2.0/networks?limit=2".to_string();
    for _ in 0..5 {
        let page = c.get_ok(&path).await;
        seen.extend(
            page["networks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| s(n, "id").to_string()),
        );
        match page["networks_links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
        {
            Some(next) => {
                let h = s(next, "href");
                path = h[h.find("/v2.0").unwrap()..].to_string();
            }
            None => break,
        }
    }

    assert_eq!(seen, ids);
    server.stop().await;
}

#[tokio::test]
async fn limit_errors_and_unknown_markers_are_refused() {
    let server = TestServer::start().await;
    let c = server.admin();

    let negative = c.get("/v2.0/networks?limit=-1").await;
    let text = c.get("/v2.0/networks?limit=ten").await;
    let missing = uuid::Uuid::new_v4().to_string();
    let marker = c
        .get(&format!("/v2.0/networks?limit=1&marker={missing}"))
        .await;
    let port_marker = c
        .get(&format!("/v2.0/ports?limit=1&marker={missing}"))
        .await;

    // Neutron: `BadRequest(resource='limit')` and the resource's own not-found.
    assert_eq!(
        negative.expect_error(400, "BadRequest"),
        "Bad limit request: Limit must be an integer 0 or greater and not '-1'."
    );
    assert_eq!(
        text.expect_error(400, "BadRequest"),
        "Bad limit request: Limit must be an integer 0 or greater and not 'ten'."
    );
    assert_eq!(
        marker.expect_error(404, "NetworkNotFound"),
        format!("Network {missing} could not be found.")
    );
    port_marker.expect_error(404, "PortNotFound");
    server.stop().await;
}

#[tokio::test]
async fn a_list_without_limit_has_no_links() {
    let server = TestServer::start().await;
    let c = server.admin();
    named_networks(&c, &["a"]).await;

    let r = c.get_ok("/v2.0/networks").await;

    assert!(r.get("networks_links").is_none(), "{r}");
    server.stop().await;
}

#[tokio::test]
async fn pagination_max_limit_caps_pages() {
    let server = TestServer::with_config(|c| c.pagination_max_limit = 2).await;
    let c = server.admin();
    named_networks(&c, &["a", "b", "c"]).await;

    let unbounded = c.get_ok("/v2.0/networks").await;
    let big = c.get_ok("/v2.0/networks?limit=100").await;

    assert_eq!(unbounded["networks"].as_array().unwrap().len(), 2);
    assert_eq!(big["networks"].as_array().unwrap().len(), 2);
    assert!(big["networks_links"].is_array());
    server.stop().await;
}

async fn tagged(c: &Client) -> [Value; 4] {
    let nets = named_networks(c, &["red", "redblue", "blue", "none"]).await;
    for (n, tags) in [
        (&nets[0], json!(["red"])),
        (&nets[1], json!(["red", "blue"])),
        (&nets[2], json!(["blue"])),
    ] {
        let r = c
            .put(
                &format!("/v2.0/networks/{}/tags", s(n, "id")),
                json!({ "tags": tags }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    [
        nets[0].clone(),
        nets[1].clone(),
        nets[2].clone(),
        nets[3].clone(),
    ]
}

fn sorted_names(v: &Value) -> Vec<String> {
    let mut n = names(v, "networks");
    n.sort();
    n
}

#[tokio::test]
async fn tags_filter_requires_every_tag() {
    let server = TestServer::start().await;
    let c = server.admin();
    tagged(&c).await;

    let r = c.get_ok("/v2.0/networks?tags=red,blue").await;
    let one = c.get_ok("/v2.0/networks?tags=red").await;

    assert_eq!(sorted_names(&r), vec!["redblue"]);
    assert_eq!(sorted_names(&one), vec!["red", "redblue"]);
    server.stop().await;
}

#[tokio::test]
async fn tags_any_filter_requires_one_tag() {
    let server = TestServer::start().await;
    let c = server.admin();
    tagged(&c).await;

    let r = c.get_ok("/v2.0/networks?tags-any=red,blue").await;

    assert_eq!(sorted_names(&r), vec!["blue", "red", "redblue"]);
    server.stop().await;
}

#[tokio::test]
async fn not_tags_filter_excludes_items_with_every_tag() {
    let server = TestServer::start().await;
    let c = server.admin();
    tagged(&c).await;

    let r = c.get_ok("/v2.0/networks?not-tags=red,blue").await;

    assert_eq!(sorted_names(&r), vec!["blue", "none", "red"]);
    server.stop().await;
}

#[tokio::test]
async fn not_tags_any_filter_excludes_items_with_any_tag() {
    let server = TestServer::start().await;
    let c = server.admin();
    tagged(&c).await;

    let r = c.get_ok("/v2.0/networks?not-tags-any=red,blue").await;
    let red = c.get_ok("/v2.0/networks?not-tags-any=red").await;

    assert_eq!(sorted_names(&r), vec!["none"]);
    assert_eq!(sorted_names(&red), vec!["blue", "none"]);
    server.stop().await;
}

#[tokio::test]
async fn repeated_tag_keys_combine_their_tags() {
    let server = TestServer::start().await;
    let c = server.admin();
    tagged(&c).await;

    let any = c.get_ok("/v2.0/networks?tags-any=red&tags-any=blue").await;
    let all = c.get_ok("/v2.0/networks?tags=red&tags=blue").await;

    assert_eq!(sorted_names(&any), vec!["blue", "red", "redblue"]);
    assert_eq!(sorted_names(&all), vec!["redblue"]);
    server.stop().await;
}

#[tokio::test]
async fn tag_filters_work_on_ports_and_subnets_too() {
    let server = TestServer::start().await;
    let c = server.admin();
    let (net, sub) = c.network_with_subnet("n", "10.0.0.0/24").await;
    let p = c.port(s(&net, "id"), json!({"tags": ["web"]})).await;
    c.port(s(&net, "id"), json!({})).await;
    c.put(
        &format!("/v2.0/subnets/{}/tags/app", s(&sub, "id")),
        json!(null),
    )
    .await;

    let ports = c.get_ok("/v2.0/ports?tags=web").await;
    let subnets = c.get_ok("/v2.0/subnets?tags=app").await;
    let no_subnets = c.get_ok("/v2.0/subnets?not-tags=app").await;

    assert_eq!(ports["ports"].as_array().unwrap().len(), 1);
    assert_eq!(ports["ports"][0]["id"], p["id"]);
    assert_eq!(subnets["subnets"][0]["id"], sub["id"]);
    assert_eq!(no_subnets["subnets"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn changed_since_filters_on_updated_at() {
    let server = TestServer::start().await;
    let c = server.admin();
    named_networks(&c, &["a"]).await;

    let future = c
        .get_ok("/v2.0/networks?changed_since=2999-01-01T00:00:00Z")
        .await;
    let past = c
        .get_ok("/v2.0/networks?changed_since=2000-01-01T00:00:00Z")
        .await;

    assert_eq!(future["networks"], json!([]));
    assert_eq!(names(&past, "networks"), vec!["a"]);
    server.stop().await;
}

#[tokio::test]
async fn ports_come_back_in_the_requested_order() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("n").await;
    for name in ["c", "a", "e", "b", "d"] {
        c.port(s(&net, "id"), json!({ "name": name })).await;
    }

    let by_name = c.get_ok("/v2.0/ports?sort_key=name&sort_dir=desc").await;
    let by_id = c.get_ok("/v2.0/ports").await;
    let page = c
        .get_ok("/v2.0/ports?sort_key=name&sort_dir=asc&limit=2")
        .await;

    assert_eq!(names(&by_name, "ports"), vec!["e", "d", "c", "b", "a"]);
    let ids: Vec<String> = by_id["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| s(p, "id").to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "without sort keys, ports come in id order");
    assert_eq!(names(&page, "ports"), vec!["a", "b"]);
    let prev = c
        .get_ok(&format!(
            "/v2.0/ports?sort_key=name&sort_dir=asc&limit=2&marker={}&page_reverse=True",
            s(&by_name["ports"][0], "id")
        ))
        .await;
    assert_eq!(names(&prev, "ports"), vec!["c", "d"]);
    server.stop().await;
}
