//! The first thing a user does: start the server, create a network, a subnet and a port.

use neutrino_tests::{TestServer, s};
use serde_json::json;

#[tokio::test]
async fn a_port_on_a_new_subnet_gets_the_first_free_address() {
    let server = TestServer::start().await;
    let c = server.admin();
    let net = c.network("net1").await;
    let subnet = c.subnet(s(&net, "id"), "10.0.0.0/24").await;

    let port = c.port(s(&net, "id"), json!({})).await;

    assert_eq!(port["fixed_ips"][0]["subnet_id"], subnet["id"]);
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.0.0.2");
    assert_eq!(port["status"], "DOWN");
    server.stop().await;
}
