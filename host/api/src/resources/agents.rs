//! `/v2.0/agents` (extension `agent`, admins only): the agents' last reports, `alive`
//! computed from the heartbeat; `admin_state_up` and `description` can be changed.

use std::sync::LazyLock;

use neutrino_ml2::RequestContext;
use neutrino_ml2::store::agents::Agent;
use neutrino_ml2::store::query::ListQuery;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Resource;
use crate::AppState;
use crate::attrs::{Attr, BodyExt, Kind, attr};
use crate::error::{ApiError, ApiResult};

/// The attribute map of agents.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("id", Kind::Uuid).column("id"),
        attr("agent_type", Kind::Str(255)).column("agent_type"),
        attr("binary", Kind::Str(255)).column("agent_binary"),
        attr("topic", Kind::Str(255)).column("topic"),
        attr("host", Kind::Str(255)).column("host"),
        attr("admin_state_up", Kind::Bool)
            .rw()
            .column("admin_state_up"),
        attr("description", Kind::Str(255))
            .rw()
            .column("description"),
        attr("availability_zone", Kind::Str(255)).column("availability_zone"),
        attr("configurations", Kind::Dict),
        attr("alive", Kind::Bool),
        attr("created_at", Kind::Str(64)).column("created_at"),
        attr("started_at", Kind::Str(64)).column("started_at"),
        attr("heartbeat_timestamp", Kind::Str(64)).column("heartbeat_timestamp"),
        attr("resources_synced", Kind::Bool),
    ]
});

/// An agent on the wire (timestamps as Neutron prints them for agents).
#[derive(Serialize)]
pub struct AgentView<'a> {
    id: &'a str,
    agent_type: &'a str,
    binary: &'a str,
    topic: &'a str,
    host: &'a str,
    admin_state_up: bool,
    alive: bool,
    configurations: &'a Value,
    availability_zone: Option<&'a str>,
    description: &'a str,
    created_at: String,
    started_at: String,
    heartbeat_timestamp: String,
    resources_synced: Option<bool>,
}

fn stamp(t: &str) -> String {
    t.replacen('T', " ", 1).trim_end_matches('Z').to_string()
}

/// The agents collection.
pub struct Agents;

impl Resource for Agents {
    const MEMBER: &'static str = "agent";
    const COLLECTION: &'static str = "agents";
    const BULK: bool = false;
    type Item = Agent;
    type View<'a> = AgentView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        a: &'a Agent,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> AgentView<'a> {
        AgentView {
            id: &a.id,
            agent_type: &a.agent_type,
            binary: &a.binary,
            topic: &a.topic,
            host: &a.host,
            admin_state_up: a.admin_state_up,
            alive: neutrino_ml2::agents::is_alive(a),
            configurations: &a.configurations,
            availability_zone: a.availability_zone.as_deref(),
            description: &a.description,
            created_at: stamp(&a.created_at),
            started_at: stamp(&a.started_at),
            heartbeat_timestamp: stamp(&a.heartbeat_timestamp),
            resources_synced: None,
        }
    }
    fn id(a: &Agent) -> &str {
        &a.id
    }
    async fn create(
        _s: &AppState,
        _ctx: &RequestContext,
        _bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<Agent>> {
        Err(ApiError(neutrino_ml2::Error::neutron(
            "HTTPMethodNotAllowed",
            405,
            "Agents are created by the agents themselves when they report their state.",
        )))
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<Agent>> {
        Ok(s.plugin.list_agents(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Agent> {
        Ok(s.plugin.get_agent(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        _if_match: Option<i64>,
    ) -> ApiResult<Agent> {
        Ok(s.plugin
            .update_agent(
                ctx,
                id,
                m.bool_of("admin_state_up"),
                m.str_of("description"),
            )
            .await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_agent(ctx, id).await?)
    }
}

/// The DHCP scheduler's sub-resources (`dhcp_agent_scheduler`, admins only):
/// `/v2.0/agents/{id}/dhcp-networks` (list, `POST {"network_id"}`, `DELETE …/{network_id}`)
/// and `/v2.0/networks/{id}/dhcp-agents`. Adding or removing a binding tells the agent's
/// host at once (`network_create_end` / `network_delete_end` on `dhcp_agent.<host>`).
pub mod dhcp_scheduler {
    use axum::Router;
    use axum::extract::{Extension, Path, State};
    use axum::http::StatusCode;
    use axum::response::Response;
    use axum::routing::{delete, get};
    use neutrino_ml2::RequestContext;
    use serde_json::Value;

    use super::{Agents, Resource};
    use crate::error::{ApiError, ApiResult};
    use crate::{AppState, respond, views};

    fn admin(s: &AppState, ctx: &RequestContext, rule: &str) -> ApiResult<()> {
        if s.policy
            .check(rule, &crate::policy::creds(ctx), &neutrino_policy::NoTarget)
            .allowed()
        {
            Ok(())
        } else {
            Err(ApiError(neutrino_ml2::Error::neutron(
                "PolicyNotAuthorized",
                403,
                format!("rule:{rule} is disallowed by policy"),
            )))
        }
    }

    /// The routes.
    pub fn routes() -> Router<AppState> {
        Router::new()
            .route(
                "/v2.0/agents/{id}/dhcp-networks",
                get(list_networks).post(add_network),
            )
            .route(
                "/v2.0/agents/{id}/dhcp-networks/{network_id}",
                delete(remove_network),
            )
            .route("/v2.0/networks/{id}/dhcp-agents", get(list_agents))
    }

    async fn list_networks(
        State(s): State<AppState>,
        Extension(ctx): Extension<RequestContext>,
        Path(id): Path<String>,
    ) -> ApiResult<Response> {
        admin(&s, &ctx, "get_dhcp-networks")?;
        let nets = s.plugin.networks_on_dhcp_agent(&ctx, &id).await?;
        let views: Vec<_> = nets
            .iter()
            .map(|n| views::network(n, crate::policy::Shown::ALL))
            .collect();
        respond::many(StatusCode::OK, "networks", &views)
    }

    async fn add_network(
        State(s): State<AppState>,
        Extension(ctx): Extension<RequestContext>,
        Path(id): Path<String>,
        body: axum::body::Bytes,
    ) -> ApiResult<Response> {
        admin(&s, &ctx, "create_dhcp-network")?;
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError(neutrino_ml2::Error::neutron(
                "MalformedRequestBody",
                400,
                format!("Malformed request body: {e}"),
            ))
        })?;
        let Some(network_id) = v.get("network_id").and_then(Value::as_str) else {
            return Err(ApiError(neutrino_ml2::Error::bad_request(
                "Invalid input: the body must be {\"network_id\": \"<network id>\"}.",
            )));
        };
        let host = s
            .plugin
            .add_network_to_dhcp_agent(&ctx, &id, network_id)
            .await?;
        s.plugin.notify_dhcp_binding(&host, network_id, true).await;
        Ok(respond::json_response(
            StatusCode::CREATED,
            b"null".to_vec(),
        ))
    }

    async fn remove_network(
        State(s): State<AppState>,
        Extension(ctx): Extension<RequestContext>,
        Path((id, network_id)): Path<(String, String)>,
    ) -> ApiResult<Response> {
        admin(&s, &ctx, "delete_dhcp-network")?;
        let host = s
            .plugin
            .remove_network_from_dhcp_agent(&ctx, &id, &network_id)
            .await?;
        s.plugin
            .notify_dhcp_binding(&host, &network_id, false)
            .await;
        Ok(respond::no_content())
    }

    async fn list_agents(
        State(s): State<AppState>,
        Extension(ctx): Extension<RequestContext>,
        Path(id): Path<String>,
    ) -> ApiResult<Response> {
        admin(&s, &ctx, "get_dhcp-agents")?;
        let agents = s.plugin.dhcp_agents_hosting_network(&ctx, &id).await?;
        let views: Vec<_> = agents
            .iter()
            .map(|a| Agents::view(a, &ctx, crate::policy::Shown::ALL))
            .collect();
        respond::many(StatusCode::OK, "agents", &views)
    }
}
