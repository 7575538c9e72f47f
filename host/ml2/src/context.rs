//! Who is asking: the caller's project and roles, as the auth layer determined them.

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Project (tenant) the caller acts for.
    pub project_id: String,
    /// User id, when known.
    pub user_id: String,
    /// Roles of the caller in that project.
    pub roles: Vec<String>,
    /// Whether the caller has the admin role.
    pub is_admin: bool,
    /// `req-<uuid>` of the request.
    pub request_id: String,
}

impl RequestContext {
    /// An admin context for internal work and tests.
    pub fn admin(project_id: &str) -> RequestContext {
        RequestContext {
            project_id: project_id.to_string(),
            user_id: String::new(),
            roles: vec!["admin".into()],
            is_admin: true,
            request_id: String::new(),
        }
    }

    /// Whether the caller may act on a resource owned by `project_id`.
    pub fn owns(&self, project_id: &str) -> bool {
        self.is_admin || self.project_id == project_id
    }
}
