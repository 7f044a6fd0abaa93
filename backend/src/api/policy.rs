//! Who may call what: one table for every route, applied by the guard in front of all of them
//! and written into the OpenAPI document from the same function, so a new route gets a rule
//! without anyone having to remember it.

use actix_web::http::Method;
use layercast_shared::Role;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the dashboard's files, the login routes, the OpenAPI document.
    Open,
    /// Anyone while `auth.open_health` is on, else a viewer.
    Health,
    /// Anyone while `auth.open_metrics` is on, else a viewer.
    Metrics,
    /// A viewer or admin (or anyone while `auth.anonymous_viewer` is on).
    Viewer,
    /// An admin.
    Admin,
}

impl Access {
    /// "a viewer", "an admin": for error messages.
    pub fn who(self) -> &'static str {
        match self {
            Access::Open => "nobody in particular",
            Access::Admin => "an admin",
            _ => "a viewer",
        }
    }

    /// The role the OpenAPI document names (`x-required-role`): `none` for open routes.
    pub fn role_name(self) -> &'static str {
        match self {
            Access::Open => "none",
            Access::Health | Access::Metrics | Access::Viewer => Role::Viewer.as_str(),
            Access::Admin => Role::Admin.as_str(),
        }
    }
}

/// Routes that read secrets or who did what: admins only, even to read.
const ADMIN_READS: [&str; 4] = ["/api/users", "/api/tokens", "/api/audit", "/api/receivers"];
/// Routes that change something and are open: logging in needs no login, and logging out
/// only ends the caller's own session.
const OPEN_CHANGES: [&str; 2] = ["/api/login", "/api/logout"];
const OPEN_READS: [&str; 2] = ["/api/me", "/api/openapi.json"];

/// The rule of `method` on `path` (decoded, without the query).
pub fn access(method: &Method, path: &str) -> Access {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if OPEN_CHANGES.contains(&path) {
        return Access::Open;
    }
    let reads = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads {
        // Every change needs an admin, whatever the path: a route added later is covered.
        return Access::Admin;
    }
    if OPEN_READS.contains(&path) {
        return Access::Open;
    }
    if ADMIN_READS.iter().any(|p| under(p)) {
        return Access::Admin;
    }
    match path {
        "/api/health" => Access::Health,
        "/metrics" => Access::Metrics,
        "/ws" => Access::Viewer,
        _ if under("/api") => Access::Viewer,
        // The dashboard's pages and files: the app shows its login page itself.
        _ => Access::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_need_an_admin_except_logging_in_and_out() {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert_eq!(access(&method, "/api/rules"), Access::Admin);
            assert_eq!(access(&method, "/api/anything/new"), Access::Admin);
            assert_eq!(access(&method, "/"), Access::Admin);
        }
        assert_eq!(access(&Method::POST, "/api/login"), Access::Open);
        assert_eq!(access(&Method::POST, "/api/logout"), Access::Open);
    }

    #[test]
    fn reads_need_a_viewer_and_secrets_an_admin() {
        assert_eq!(access(&Method::GET, "/api/windows"), Access::Viewer);
        assert_eq!(access(&Method::GET, "/ws"), Access::Viewer);
        assert_eq!(access(&Method::GET, "/api/users"), Access::Admin);
        assert_eq!(access(&Method::GET, "/api/users/admin"), Access::Admin);
        assert_eq!(access(&Method::GET, "/api/tokens"), Access::Admin);
        assert_eq!(access(&Method::GET, "/api/audit"), Access::Admin);
        // Not a prefix match on the name alone.
        assert_eq!(access(&Method::GET, "/api/usersx"), Access::Viewer);
        assert_eq!(access(&Method::GET, "/api/health"), Access::Health);
        assert_eq!(access(&Method::GET, "/metrics"), Access::Metrics);
        assert_eq!(access(&Method::GET, "/api/me"), Access::Open);
        assert_eq!(access(&Method::GET, "/alerts"), Access::Open);
    }
}
