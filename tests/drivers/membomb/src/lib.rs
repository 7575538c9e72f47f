//! Hostile test driver: `bind_port` allocates (and keeps) 1 MiB chunks until
//! the host's memory limit stops it. Every other hook succeeds.

use neutrino_driver::{BindResult, DriverError, MechanismDriver, PortContext};

#[derive(Default)]
struct MemBomb;

impl MechanismDriver for MemBomb {
    fn bind_port(&self, _ctx: &PortContext) -> Result<BindResult, DriverError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = vec![0u8; 1 << 20];
            chunk[0] = 1;
            hoard.push(std::hint::black_box(chunk));
        }
    }
}

neutrino_driver::export!(MemBomb);
