//! Who is asking: the caller's identity, as the auth layer determined it (from a Keystone
//! token, or from headers with `noauth`).

/// The caller of one request.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Project (tenant) the caller acts for.
    pub project_id: String,
    /// Project name, when known.
    pub project_name: String,
    /// Domain of the project.
    pub project_domain_id: String,
    /// User id, when known.
    pub user_id: String,
    /// User name, when known.
    pub user_name: String,
    /// Domain of the user.
    pub user_domain_id: String,
    /// Domain of a domain-scoped token.
    pub domain_id: String,
    /// `all` for a system-scoped token.
    pub system_scope: String,
    /// Roles of the caller in that project, lower-cased.
    pub roles: Vec<String>,
    /// Whether the caller is a cloud admin (Neutron's `context_is_admin` rule, `role:admin`
    /// by default).
    pub is_admin: bool,
    /// Whether the caller has the `service` role (Neutron's `service_api`): like admins, it
    /// sees every project's resources.
    pub is_service: bool,
    /// Keystone's `is_admin_project` of the token (`true` when the token says nothing).
    pub is_admin_project: bool,
    /// `req-<uuid>` of the request.
    pub request_id: String,
}

impl RequestContext {
    /// An admin context for internal work and tests.
    pub fn admin(project_id: &str) -> RequestContext {
        RequestContext {
            project_id: project_id.to_string(),
            roles: vec![
                "admin".into(),
                "manager".into(),
                "member".into(),
                "reader".into(),
            ],
            is_admin: true,
            is_admin_project: true,
            ..RequestContext::default()
        }
    }

    /// Whether database queries are not limited to the caller's project (admins and the
    /// service role), as Neutron's model queries do.
    pub fn sees_all(&self) -> bool {
        self.is_admin || self.is_service
    }

    /// Whether the caller may act on a resource owned by `project_id` without policy (admin,
    /// or the owner). The API checks Neutron's policy before the plugin runs; the plugin uses
    /// this only for what Neutron decides in the plugin itself.
    pub fn owns(&self, project_id: &str) -> bool {
        self.sees_all() || self.project_id == project_id
    }

    /// Whether the caller holds `role` (lower-case).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
