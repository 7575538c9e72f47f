//! RabbitMQ for tests: each test gets a virtual host of its own, so servers of different
//! tests (each on its own database) never take each other's messages from shared queues such
//! as `q-plugin`. Without a broker, tests print a SKIPPED line, unless
//! `NEUTRINO_TEST_REQUIRE_RABBITMQ` is set: then a missing broker fails them.

use std::process::Command;
use std::time::Duration;

/// A virtual host deleted (with its queues) when dropped.
pub struct Vhost {
    name: String,
    /// `amqp://guest:guest@127.0.0.1:5672/<vhost>`.
    pub url: String,
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .output();
    }
}

fn reachable() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5672".parse().expect("address"),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// A fresh virtual host on the local broker, or `None` (after a SKIPPED line naming `test`)
/// when there is no broker and none is required.
pub fn vhost(test: &str) -> Option<Vhost> {
    let required = std::env::var_os("NEUTRINO_TEST_REQUIRE_RABBITMQ").is_some();
    if !reachable() {
        assert!(
            !required,
            "RabbitMQ is required (NEUTRINO_TEST_REQUIRE_RABBITMQ) but 127.0.0.1:5672 is not reachable"
        );
        println!("SKIPPED: {test} over RabbitMQ: nothing listens on 127.0.0.1:5672");
        return None;
    }
    let name = format!("neutrino-test-{}", uuid::Uuid::new_v4().simple());
    let run = |args: &[&str]| {
        Command::new("rabbitmqctl")
            .arg("-q")
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let made = run(&["add_vhost", &name])
        && run(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
    if !made {
        assert!(!required, "rabbitmqctl could not create a virtual host");
        println!("SKIPPED: {test} over RabbitMQ: rabbitmqctl cannot create a virtual host");
        return None;
    }
    Some(Vhost {
        url: format!("amqp://guest:guest@127.0.0.1:5672/{name}"),
        name,
    })
}
