//! Calling mechanism drivers from the resource operations: one function per resource kind
//! that builds the context only when some driver is loaded, and runs the hook as a precommit
//! (inside the transaction, with staged state) or as a postcommit.

use neutrino_runtime::Hook;
use neutrino_store::model::{Network, Port, SecurityGroup, SecurityGroupRule, Subnet};

use super::{Call, StagedHost};
use crate::Plugin;
use crate::error::{Error, Result};

/// Where a hook runs.
pub enum Phase<'a> {
    /// Inside the transaction `1`; state reads go through it and writes are staged in
    /// the host.
    Pre(&'a StagedHost, &'a mut neutrino_store::Tx),
    /// After the commit.
    Post,
}

impl Plugin {
    /// The network (with segments) for hook contexts, or `None` when no driver is loaded.
    pub(crate) async fn network_for_hooks(
        &self,
        conn: &mut neutrino_store::Conn,
        id: &str,
    ) -> Result<Option<Network>> {
        if !self.mech().has_drivers() {
            return Ok(None);
        }
        Ok(neutrino_store::networks::get(conn, id).await?)
    }

    /// The network (with segments) outside a transaction.
    pub(crate) async fn network_of(&self, id: &str) -> Result<Network> {
        let mut conn = self.read().await?;
        neutrino_store::networks::get(&mut conn, id)
            .await?
            .ok_or_else(|| crate::networks::network_not_found(id))
    }

    /// Call a network hook on the loaded drivers.
    pub(crate) async fn network_hook(
        &self,
        phase: Phase<'_>,
        hook: Hook,
        current: &Network,
        original: Option<&Network>,
    ) -> Result<()> {
        if !self.mech().has_drivers() {
            return Ok(());
        }
        let ctx = self.mech().contexts().network_context(current, original);
        self.run_hook(phase, Call::Network(hook, &ctx)).await
    }

    /// Call a network create hook on the loaded drivers. A provider network (created with an
    /// explicit `provider:segmentation_id`, not a project network whose segment the type
    /// driver allocated) carries `"is_provider_network": true` in the JSON of its context, as
    /// networking-cisco's `cisco_providernet_ext` extension driver marks it for mechanism
    /// drivers (never shown in API responses).
    pub(crate) async fn network_create_hook(
        &self,
        phase: Phase<'_>,
        hook: Hook,
        current: &Network,
        is_provider_network: bool,
    ) -> Result<()> {
        if !self.mech().has_drivers() {
            return Ok(());
        }
        let mut ctx = self.mech().contexts().network_context(current, None);
        if is_provider_network {
            mark_provider_network(&mut ctx.current.json);
        }
        self.run_hook(phase, Call::Network(hook, &ctx)).await
    }

    /// Call a subnet hook on the loaded drivers.
    pub(crate) async fn subnet_hook(
        &self,
        phase: Phase<'_>,
        hook: Hook,
        current: &Subnet,
        original: Option<&Subnet>,
        network: &Network,
    ) -> Result<()> {
        if !self.mech().has_drivers() {
            return Ok(());
        }
        let ctx = self
            .mech()
            .contexts()
            .subnet_context(current, original, network);
        self.run_hook(phase, Call::Subnet(hook, &ctx)).await
    }

    /// Call a port hook on the loaded drivers.
    pub(crate) async fn port_hook(
        &self,
        phase: Phase<'_>,
        hook: Hook,
        current: &Port,
        original: Option<&Port>,
        network: &Network,
    ) -> Result<()> {
        if !self.mech().has_drivers() {
            return Ok(());
        }
        let ctx = self.port_hook_context(current, original, network);
        self.run_hook(phase, Call::Port(hook, &ctx)).await
    }

    /// Call a security group hook on the loaded drivers (0.2 drivers; 0.1 drivers have
    /// none).
    pub(crate) async fn security_group_hook(
        &self,
        phase: Phase<'_>,
        hook: Hook,
        current: &SecurityGroup,
        original: Option<&SecurityGroup>,
    ) -> Result<()> {
        if !self.mech().has_drivers() {
            return Ok(());
        }
        let ctx = self
            .mech()
            .contexts()
            .security_group_context(current, original);
        self.run_hook(phase, Call::SecurityGroup(hook, &ctx)).await
    }

    /// Call a security group rule hook on the loaded drivers (create and delete).
    pub(crate) async fn security_group_rule_hook(
        &self,
        phase: Phase<'_>,
        hook: Hook,
        rule: &SecurityGroupRule,
    ) -> Result<()> {
        if !self.mech().has_drivers() {
            return Ok(());
        }
        let ctx = self.mech().contexts().security_group_rule_context(rule);
        self.run_hook(phase, Call::SecurityGroupRule(hook, &ctx))
            .await
    }

    async fn run_hook(&self, phase: Phase<'_>, call: Call<'_>) -> Result<()> {
        match phase {
            Phase::Pre(host, tx) => {
                let services = host.services();
                host.with_tx(tx, self.mech().precommit(call, &services))
                    .await??;
                // Journaled drivers' postcommits are recorded with the change.
                host.journal(self.mech().journal_entries(call));
                Ok(())
            }
            Phase::Post => self.mech().postcommit(call).await,
        }
    }
}

/// A create postcommit failed and the resource was removed: Neutron answers 500.
pub fn create_undone(e: Error) -> Error {
    match e {
        Error::Neutron { kind, message, .. } => Error::Neutron {
            kind,
            status: 500,
            message,
        },
        other => other,
    }
}

/// Add `"is_provider_network": true` to a network's API dict (left as is when it is not a
/// JSON object).
fn mark_provider_network(json: &mut String) {
    if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(json) {
        map.insert("is_provider_network".into(), serde_json::Value::Bool(true));
        *json = serde_json::Value::Object(map).to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::mark_provider_network;

    #[test]
    fn a_provider_network_is_marked_in_its_api_dict() {
        let mut json = r#"{"id":"n1","provider:segmentation_id":100}"#.to_string();
        mark_provider_network(&mut json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["is_provider_network"], true);
        assert_eq!(v["provider:segmentation_id"], 100);
        let mut empty = String::new();
        mark_provider_network(&mut empty);
        assert_eq!(empty, "");
    }
}
