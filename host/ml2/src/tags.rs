//! The tags sub-resource of every taggable resource (`/v2.0/{collection}/{id}/tags`).

use neutrino_store::{Conn, networks, ports, revision, subnetpools, subnets, tags};

use crate::error::{Error, Result};
use crate::{Plugin, RequestContext};

/// Maximum number of tags per resource.
pub const MAX_TAGS: usize = 50;

/// Collections that carry tags, with their table and "not found" exception.
pub fn taggable(collection: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match collection {
        "networks" => ("networks", "NetworkNotFound", "Network"),
        "subnets" => ("subnets", "SubnetNotFound", "Subnet"),
        "ports" => ("ports", "PortNotFound", "Port"),
        "subnetpools" => ("subnetpools", "SubnetPoolNotFound", "Subnet pool"),
        "security-groups" => ("security_groups", "SecurityGroupNotFound", "Security group"),
        "routers" => ("routers", "RouterNotFound", "Router"),
        "floatingips" => ("floatingips", "FloatingIPNotFound", "Floating IP"),
        _ => return None,
    })
}

impl Plugin {
    /// Check the caller may change the resource and return its table.
    async fn tag_target(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        collection: &str,
        id: &str,
    ) -> Result<&'static str> {
        let (table, kind, what) = taggable(collection)
            .ok_or_else(|| Error::neutron("NotFound", 404, "The resource could not be found."))?;
        let owner = match collection {
            "networks" => networks::get_row(conn, id)
                .await?
                .filter(|n| crate::networks::visible(ctx, n))
                .map(|n| n.project_id),
            "subnets" => subnets::get(conn, id).await?.map(|s| s.project_id),
            "ports" => ports::get(conn, id).await?.map(|p| p.project_id),
            "subnetpools" => subnetpools::get(conn, id)
                .await?
                .filter(|p| ctx.sees_all() || p.project_id == ctx.project_id || p.shared)
                .map(|p| p.project_id),
            "routers" => neutrino_store::l3::get_router(conn, id)
                .await?
                .map(|r| r.project_id),
            "floatingips" => neutrino_store::l3::get_fip(conn, id)
                .await?
                .map(|f| f.project_id),
            _ => neutrino_store::security_groups::get(conn, id)
                .await?
                .map(|g| g.project_id),
        };
        match owner {
            Some(p) if ctx.owns(&p) => Ok(table),
            Some(_) if collection == "networks" || collection == "subnetpools" => {
                Err(Error::policy("update_tags"))
            }
            _ => Err(Error::not_found(kind, what, id)),
        }
    }

    /// The tags of a resource.
    pub async fn get_tags(
        &self,
        ctx: &RequestContext,
        collection: &str,
        id: &str,
    ) -> Result<Vec<String>> {
        let mut conn = self.read().await?;
        self.tag_target(&mut conn, ctx, collection, id).await?;
        Ok(tags::get(&mut conn, collection, id).await?)
    }

    /// Whether a resource carries a tag (404 `TagNotFound` when not).
    pub async fn has_tag(
        &self,
        ctx: &RequestContext,
        collection: &str,
        id: &str,
        tag: &str,
    ) -> Result<()> {
        let current = self.get_tags(ctx, collection, id).await?;
        if current.iter().any(|t| t == tag) {
            Ok(())
        } else {
            Err(tag_not_found(collection, id, tag))
        }
    }

    /// Replace all tags.
    pub async fn replace_tags(
        &self,
        ctx: &RequestContext,
        collection: &str,
        id: &str,
        new: Vec<String>,
    ) -> Result<Vec<String>> {
        let mut new = new;
        new.sort();
        new.dedup();
        if new.len() > MAX_TAGS {
            return Err(Error::neutron(
                "TagLimitExceeded",
                400,
                format!("Can't add more than {MAX_TAGS} tags to a resource."),
            ));
        }
        let plugin = self.clone();
        let ctx = ctx.clone();
        let (collection, id) = (collection.to_string(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let table = plugin.tag_target(tx, &ctx, &collection, &id).await?;
            let current = tags::get(tx, &collection, &id).await?;
            if current != new {
                tags::replace(tx, &collection, &id, &new).await?;
                revision::touch(tx, table, &id, &neutrino_store::now()).await?;
            }
            Ok::<_, Error>(new.clone())
        })
    }

    /// Add one tag.
    pub async fn add_tag(
        &self,
        ctx: &RequestContext,
        collection: &str,
        id: &str,
        tag: &str,
    ) -> Result<()> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let (collection, id, tag) = (collection.to_string(), id.to_string(), tag.to_string());
        crate::in_tx!(self.store(), |tx| {
            let table = plugin.tag_target(tx, &ctx, &collection, &id).await?;
            let current = tags::get(tx, &collection, &id).await?;
            if current.contains(&tag) {
                return Ok(());
            }
            if current.len() >= MAX_TAGS {
                return Err(Error::neutron(
                    "TagLimitExceeded",
                    400,
                    format!("Can't add more than {MAX_TAGS} tags to a resource."),
                ));
            }
            tags::add(tx, &collection, &id, &tag).await?;
            revision::touch(tx, table, &id, &neutrino_store::now()).await?;
            Ok::<_, Error>(())
        })
    }

    /// Add several tags, keeping those already there (`tag-creation`: idempotent). Returns
    /// the tags asked for, as Neutron does.
    pub async fn add_tags(
        &self,
        ctx: &RequestContext,
        collection: &str,
        id: &str,
        new: Vec<String>,
    ) -> Result<Vec<String>> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let (collection, id) = (collection.to_string(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let table = plugin.tag_target(tx, &ctx, &collection, &id).await?;
            let current = tags::get(tx, &collection, &id).await?;
            let missing: Vec<&String> = new.iter().filter(|t| !current.contains(t)).collect();
            if missing.is_empty() {
                return Ok(new.clone());
            }
            if current.len() + missing.len() > MAX_TAGS {
                return Err(Error::neutron(
                    "TagLimitExceeded",
                    400,
                    format!("Can't add more than {MAX_TAGS} tags to a resource."),
                ));
            }
            for tag in missing {
                tags::add(tx, &collection, &id, tag).await?;
            }
            revision::touch(tx, table, &id, &neutrino_store::now()).await?;
            Ok::<_, Error>(new.clone())
        })
    }

    /// Remove one tag (404 `TagNotFound` when absent).
    pub async fn remove_tag(
        &self,
        ctx: &RequestContext,
        collection: &str,
        id: &str,
        tag: &str,
    ) -> Result<()> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let (collection, id, tag) = (collection.to_string(), id.to_string(), tag.to_string());
        crate::in_tx!(self.store(), |tx| {
            let table = plugin.tag_target(tx, &ctx, &collection, &id).await?;
            if !tags::remove(tx, &collection, &id, &tag).await? {
                return Err(tag_not_found(&collection, &id, &tag));
            }
            revision::touch(tx, table, &id, &neutrino_store::now()).await?;
            Ok::<_, Error>(())
        })
    }

    /// Remove every tag.
    pub async fn clear_tags(&self, ctx: &RequestContext, collection: &str, id: &str) -> Result<()> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let (collection, id) = (collection.to_string(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let table = plugin.tag_target(tx, &ctx, &collection, &id).await?;
            if !tags::get(tx, &collection, &id).await?.is_empty() {
                tags::clear(tx, &collection, &id).await?;
                revision::touch(tx, table, &id, &neutrino_store::now()).await?;
            }
            Ok::<_, Error>(())
        })
    }
}

fn tag_not_found(collection: &str, id: &str, tag: &str) -> Error {
    Error::neutron(
        "TagNotFound",
        404,
        format!("Tag {tag} could not be found for resource {collection} {id}."),
    )
}
