//! Contract family `neutrino:ml2@0.1.x`: bindings generated from the frozen
//! `wit/archive/0.1/`, import traits, and conversions.

use crate::call::{CallState, Op, Outcome};
use crate::imports::{self, http::DriverRequest, state::StateFailure};
use crate::limits::{RawBindResult, Refusal};
use crate::net::TransportError;
use crate::types::{self as t, Hook, LogLevel};
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

/// The output of `bindgen!` for `wit/archive/0.1/` (undocumented generated items).
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit/archive/0.1",
        world: "neutrino:ml2/mechanism-driver",
        imports: { default: async },
        exports: { default: async },
    });
}

use generated::exports::neutrino::ml2::mechanism::Guest;
use generated::neutrino::ml2::{agents, config, http, log, state, types as w};
pub use generated::{MechanismDriver, MechanismDriverPre};

/// A linker with WASI p2 (for the standard library's `wasi:io`/`wasi:cli`
/// imports; nothing else is reachable, see [`crate::capability`]) and the
/// contract's imports.
pub fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    MechanismDriver::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Instantiate and run `op`.
pub async fn call(
    pre: &MechanismDriverPre<CallState>,
    store: &mut Store<CallState>,
    op: Op<'_>,
) -> wasmtime::Result<Outcome> {
    let instance = pre.instantiate_async(&mut *store).await?;
    run(instance.neutrino_ml2_mechanism(), store, op).await
}

/// Instantiate and run `op`; returns when instantiation ended.
pub async fn call_timed(
    pre: &MechanismDriverPre<CallState>,
    store: &mut Store<CallState>,
    op: Op<'_>,
) -> wasmtime::Result<std::time::Instant> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let instantiated = std::time::Instant::now();
    run(instance.neutrino_ml2_mechanism(), store, op).await?;
    Ok(instantiated)
}

/// Instantiate once and run `op` `n` times; the time of the calls only.
pub async fn call_repeatedly(
    pre: &MechanismDriverPre<CallState>,
    store: &mut Store<CallState>,
    op: Op<'_>,
    n: usize,
) -> wasmtime::Result<std::time::Duration> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let started = std::time::Instant::now();
    for _ in 0..n {
        run(instance.neutrino_ml2_mechanism(), store, op).await?;
    }
    Ok(started.elapsed())
}

/// Run `op` on an instance.
async fn run(m: &Guest, store: &mut Store<CallState>, op: Op<'_>) -> wasmtime::Result<Outcome> {
    let done = |r: Result<(), w::DriverError>| Outcome::Done(r.map_err(refusal));
    Ok(match op {
        Op::Initialize => done(m.call_initialize(&mut *store).await?),
        Op::Network(hook, ctx) => {
            let ctx = network_context(ctx);
            done(match hook {
                Hook::CreatePrecommit => m.call_create_network_precommit(&mut *store, &ctx).await?,
                Hook::CreatePostcommit => {
                    m.call_create_network_postcommit(&mut *store, &ctx).await?
                }
                Hook::UpdatePrecommit => m.call_update_network_precommit(&mut *store, &ctx).await?,
                Hook::UpdatePostcommit => {
                    m.call_update_network_postcommit(&mut *store, &ctx).await?
                }
                Hook::DeletePrecommit => m.call_delete_network_precommit(&mut *store, &ctx).await?,
                Hook::DeletePostcommit => {
                    m.call_delete_network_postcommit(&mut *store, &ctx).await?
                }
            })
        }
        Op::Subnet(hook, ctx) => {
            let ctx = subnet_context(ctx);
            done(match hook {
                Hook::CreatePrecommit => m.call_create_subnet_precommit(&mut *store, &ctx).await?,
                Hook::CreatePostcommit => {
                    m.call_create_subnet_postcommit(&mut *store, &ctx).await?
                }
                Hook::UpdatePrecommit => m.call_update_subnet_precommit(&mut *store, &ctx).await?,
                Hook::UpdatePostcommit => {
                    m.call_update_subnet_postcommit(&mut *store, &ctx).await?
                }
                Hook::DeletePrecommit => m.call_delete_subnet_precommit(&mut *store, &ctx).await?,
                Hook::DeletePostcommit => {
                    m.call_delete_subnet_postcommit(&mut *store, &ctx).await?
                }
            })
        }
        Op::Port(hook, ctx) => {
            let ctx = port_context(ctx);
            done(match hook {
                Hook::CreatePrecommit => m.call_create_port_precommit(&mut *store, &ctx).await?,
                Hook::CreatePostcommit => m.call_create_port_postcommit(&mut *store, &ctx).await?,
                Hook::UpdatePrecommit => m.call_update_port_precommit(&mut *store, &ctx).await?,
                Hook::UpdatePostcommit => m.call_update_port_postcommit(&mut *store, &ctx).await?,
                Hook::DeletePrecommit => m.call_delete_port_precommit(&mut *store, &ctx).await?,
                Hook::DeletePostcommit => m.call_delete_port_postcommit(&mut *store, &ctx).await?,
            })
        }
        Op::BindPort(ctx) => {
            let result = m.call_bind_port(&mut *store, &port_context(ctx)).await?;
            Outcome::Bind(result.map(bind_result).map_err(refusal))
        }
        // 0.1 has no security group hooks; callers skip them (see
        // `PreparedDriver::has_security_group_hooks`).
        Op::SecurityGroup(..) | Op::SecurityGroupRule(..) | Op::Periodic => Outcome::Done(Ok(())),
    })
}

// ---- imports -------------------------------------------------------------

impl w::Host for CallState {}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        imports::log::log(&mut self.host, level, message);
    }
}

impl config::Host for CallState {
    async fn get(&mut self, key: String) -> Option<String> {
        imports::config::get(&self.host, &key)
    }

    async fn keys(&mut self) -> Vec<String> {
        imports::config::keys(&self.host)
    }
}

fn state_error(e: StateFailure) -> state::StateError {
    match e {
        StateFailure::Invalid(m) => state::StateError::Invalid(m),
        StateFailure::Denied(m) => state::StateError::Denied(m),
        StateFailure::TooLarge => state::StateError::TooLarge,
        StateFailure::Unavailable(m) => state::StateError::Unavailable(m),
    }
}

impl state::Host for CallState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, state::StateError> {
        imports::state::get(&self.host, &key)
            .await
            .map_err(state_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), state::StateError> {
        imports::state::set(&self.host, &key, value)
            .await
            .map_err(state_error)
    }

    async fn delete(&mut self, key: String) -> Result<(), state::StateError> {
        imports::state::delete(&self.host, &key)
            .await
            .map_err(state_error)
    }

    async fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, state::StateError> {
        imports::state::list_keys(&self.host, &prefix)
            .await
            .map_err(state_error)
    }
}

impl agents::Host for CallState {
    async fn list(
        &mut self,
        agent_type: Option<String>,
        host: Option<String>,
    ) -> Vec<agents::Agent> {
        imports::agents::list(&self.host, agent_type.as_deref(), host.as_deref())
            .await
            .into_iter()
            .map(|a| agents::Agent {
                id: a.id,
                agent_type: a.agent_type,
                binary: a.binary,
                host: a.host,
                alive: a.alive,
                admin_state_up: a.admin_state_up,
                configurations: a.configurations.to_string(),
            })
            .collect()
    }
}

impl http::Host for CallState {
    async fn send(&mut self, request: http::Request) -> Result<http::Response, http::HttpError> {
        let method = match request.method {
            http::Method::Get => ::http::Method::GET,
            http::Method::Head => ::http::Method::HEAD,
            http::Method::Post => ::http::Method::POST,
            http::Method::Put => ::http::Method::PUT,
            http::Method::Patch => ::http::Method::PATCH,
            http::Method::Delete => ::http::Method::DELETE,
            http::Method::Options => ::http::Method::OPTIONS,
        };
        let request = DriverRequest {
            method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        match imports::http::send(&self.host, request).await {
            Ok(r) => Ok(http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(TransportError::Denied(m)) => Err(http::HttpError::Denied(m)),
            Err(TransportError::Timeout) => Err(http::HttpError::Timeout),
            Err(TransportError::Connect(m)) => Err(http::HttpError::Connect(m)),
            Err(TransportError::Invalid(m)) => Err(http::HttpError::Invalid(m)),
            Err(TransportError::TooLarge) => Err(http::HttpError::TooLarge),
        }
    }
}

// ---- conversions -----------------------------------------------------------

fn refusal(e: w::DriverError) -> Refusal {
    Refusal {
        kind: match e.kind {
            w::ErrorKind::InvalidInput => t::ErrorKind::InvalidInput,
            w::ErrorKind::Conflict => t::ErrorKind::Conflict,
            w::ErrorKind::NotFound => t::ErrorKind::NotFound,
            w::ErrorKind::Unavailable => t::ErrorKind::Unavailable,
            w::ErrorKind::Internal => t::ErrorKind::Internal,
        },
        message: e.message,
    }
}

fn bind_result(r: w::BindResult) -> RawBindResult {
    match r {
        w::BindResult::Bound(b) => RawBindResult::Bound {
            segment_id: b.segment_id,
            vif_type: b.vif_type,
            vif_details: b.vif_details,
            status: b.status,
        },
        w::BindResult::ContinueBinding(c) => RawBindResult::Continue(t::Continuation {
            segment_id: c.segment_id,
            next_segments: c.next_segments.into_iter().map(segment_from).collect(),
        }),
        w::BindResult::NotBound => RawBindResult::NotBound,
    }
}

fn segment_from(s: w::Segment) -> t::Segment {
    t::Segment {
        id: s.id,
        network_type: s.network_type,
        physical_network: s.physical_network,
        segmentation_id: s.segmentation_id,
        mtu: s.mtu,
    }
}

fn segment(s: &t::Segment) -> w::Segment {
    w::Segment {
        id: s.id.clone(),
        network_type: s.network_type.clone(),
        physical_network: s.physical_network.clone(),
        segmentation_id: s.segmentation_id,
        mtu: s.mtu,
    }
}

fn network(n: &t::Network) -> w::Network {
    w::Network {
        id: n.id.clone(),
        name: n.name.clone(),
        project_id: n.project_id.clone(),
        admin_state_up: n.admin_state_up,
        status: n.status.clone(),
        shared: n.shared,
        external: n.external,
        mtu: n.mtu,
        revision_number: n.revision_number,
        json: n.json.clone(),
    }
}

fn subnet(s: &t::Subnet) -> w::Subnet {
    w::Subnet {
        id: s.id.clone(),
        name: s.name.clone(),
        project_id: s.project_id.clone(),
        network_id: s.network_id.clone(),
        cidr: s.cidr.clone(),
        ip_version: s.ip_version,
        gateway_ip: s.gateway_ip.clone(),
        enable_dhcp: s.enable_dhcp,
        segment_id: s.segment_id.clone(),
        revision_number: s.revision_number,
        json: s.json.clone(),
    }
}

fn port(p: &t::Port) -> w::Port {
    w::Port {
        id: p.id.clone(),
        name: p.name.clone(),
        project_id: p.project_id.clone(),
        network_id: p.network_id.clone(),
        mac_address: p.mac_address.clone(),
        admin_state_up: p.admin_state_up,
        status: p.status.clone(),
        fixed_ips: p
            .fixed_ips
            .iter()
            .map(|ip| w::FixedIp {
                subnet_id: ip.subnet_id.clone(),
                ip_address: ip.ip_address.clone(),
            })
            .collect(),
        device_id: p.device_id.clone(),
        device_owner: p.device_owner.clone(),
        revision_number: p.revision_number,
        json: p.json.clone(),
    }
}

fn network_context(c: &t::NetworkContext) -> w::NetworkContext {
    w::NetworkContext {
        current: network(&c.current),
        original: c.original.as_ref().map(network),
        segments: c.segments.iter().map(segment).collect(),
    }
}

fn subnet_context(c: &t::SubnetContext) -> w::SubnetContext {
    w::SubnetContext {
        current: subnet(&c.current),
        original: c.original.as_ref().map(subnet),
        network: network_context(&c.network),
    }
}

fn port_context(c: &t::PortContext) -> w::PortContext {
    w::PortContext {
        current: port(&c.current),
        original: c.original.as_ref().map(port),
        network: network_context(&c.network),
        host: c.host.clone(),
        original_host: c.original_host.clone(),
        vnic_type: c.vnic_type.clone(),
        profile: c.profile.clone(),
        segments_to_bind: c.segments_to_bind.iter().map(segment).collect(),
        binding_levels: c
            .binding_levels
            .iter()
            .map(|l| w::BindingLevel {
                bound_driver: l.bound_driver.clone(),
                bound_segment: segment(&l.bound_segment),
            })
            .collect(),
        vif_type: c.vif_type.clone(),
        vif_details: c.vif_details.clone(),
    }
}
