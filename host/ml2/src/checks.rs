//! Role checks behind the default policy of the extensions served here (flavors, address
//! groups, default security group rules, port bindings, …), one function per kind of
//! Neutron rule, so that a policy engine can take them over rule by rule.
//!
//! Roles imply each other as Keystone's bootstrap makes them: `admin` ⇒ `manager` ⇒
//! `member` ⇒ `reader`; `service` stands alone.

use crate::RequestContext;
use crate::error::{Error, Result};

/// Whether the caller holds `role` (directly or implied).
pub fn has_role(ctx: &RequestContext, role: &str) -> bool {
    const ORDER: [&str; 4] = ["reader", "member", "manager", "admin"];
    let rank = |r: &str| ORDER.iter().position(|o| o.eq_ignore_ascii_case(r));
    match rank(role) {
        Some(wanted) => ctx
            .roles
            .iter()
            .any(|r| rank(r).is_some_and(|have| have >= wanted)),
        None => ctx.roles.iter().any(|r| r.eq_ignore_ascii_case(role)),
    }
}

/// `rule:service_api`: the caller has the `service` role (Nova, …).
pub fn is_service(ctx: &RequestContext) -> bool {
    has_role(ctx, "service")
}

/// Neutron's 403 for a denied rule: `rule:<action> is disallowed by policy`.
pub fn deny(action: &str) -> Error {
    Error::neutron(
        "PolicyNotAuthorized",
        403,
        format!("rule:{action} is disallowed by policy"),
    )
}

/// `rule:admin_only`.
pub fn admin_only(ctx: &RequestContext, action: &str) -> Result<()> {
    if ctx.is_admin {
        Ok(())
    } else {
        Err(deny(action))
    }
}

/// `ADMIN_OR_PROJECT_<ROLE>`: an admin, or `role` in the project owning the target.
pub fn admin_or_project(ctx: &RequestContext, role: &str, owner: &str, action: &str) -> Result<()> {
    if ctx.is_admin || (ctx.project_id == owner && has_role(ctx, role)) {
        Ok(())
    } else {
        Err(deny(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_roles(roles: &[&str]) -> RequestContext {
        RequestContext {
            project_id: "p".into(),
            user_id: String::new(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            is_admin: roles.contains(&"admin"),
            request_id: String::new(),
            ..RequestContext::default()
        }
    }

    #[test]
    fn higher_roles_imply_lower_ones_but_not_service() {
        let admin = with_roles(&["admin"]);
        assert!(has_role(&admin, "manager") && has_role(&admin, "reader"));
        assert!(!is_service(&admin));
        let member = with_roles(&["Member"]);
        assert!(has_role(&member, "reader") && !has_role(&member, "manager"));
        assert!(is_service(&with_roles(&["service"])));
    }

    #[test]
    fn project_rules_need_the_role_in_the_owning_project() {
        let manager = with_roles(&["manager"]);
        assert!(admin_or_project(&manager, "manager", "p", "x").is_ok());
        assert!(admin_or_project(&manager, "manager", "q", "x").is_err());
        let member = with_roles(&["member"]);
        let denied = admin_or_project(&member, "manager", "p", "update_x").unwrap_err();
        assert_eq!(denied.status(), 403);
        assert_eq!(denied.to_string(), "rule:update_x is disallowed by policy");
    }
}
