//! Integration tests of the driver runtime with real wasmtime and real
//! drivers (`tests/drivers/` and `drivers/`, built for wasm32-wasip2 once
//! per run by `support::guests`).

mod contract_0_2;
mod hostile;
mod http;
mod load;
mod support;
mod swap;
