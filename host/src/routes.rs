//! Spin's route matching: an exact path, or a prefix ending in `/...` that matches the prefix
//! itself and everything below it. The most specific route wins.

use crate::manifest::HttpTrigger;

#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    Wildcard(String),
}

#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<(Pattern, String)>,
}

impl RouteTable {
    pub fn new(triggers: &[HttpTrigger]) -> Self {
        let mut routes: Vec<(Pattern, String)> = triggers
            .iter()
            .map(|t| {
                let pattern = match t.route.strip_suffix("/...") {
                    Some(prefix) => Pattern::Wildcard(prefix.to_owned()),
                    None => Pattern::Exact(t.route.trim_end_matches('/').to_owned()),
                };
                (pattern, t.component.clone())
            })
            .collect();
        // Exact routes first, then wildcards from the longest prefix down.
        routes.sort_by_key(|(pattern, _)| match pattern {
            Pattern::Exact(_) => (0, 0),
            Pattern::Wildcard(prefix) => (1, usize::MAX - prefix.len()),
        });
        Self { routes }
    }

    /// The component serving `path`, if any route matches.
    pub fn component_for(&self, path: &str) -> Option<&str> {
        let path = match path.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        };
        self.routes
            .iter()
            .find(|(pattern, _)| match pattern {
                Pattern::Exact(route) => route == path,
                Pattern::Wildcard(prefix) => {
                    path == prefix
                        || path
                            .strip_prefix(prefix.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                }
            })
            .map(|(_, component)| component.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(route: &str, component: &str) -> HttpTrigger {
        HttpTrigger {
            route: route.into(),
            component: component.into(),
        }
    }

    #[test]
    fn most_specific_route_wins() {
        let table = RouteTable::new(&[
            trigger("/api/...", "fallback"),
            trigger("/api/auth/...", "auth"),
            trigger("/api/health", "health"),
        ]);
        assert_eq!(table.component_for("/api/auth/login"), Some("auth"));
        assert_eq!(table.component_for("/api/auth"), Some("auth"));
        assert_eq!(table.component_for("/api/authx"), Some("fallback"));
        assert_eq!(table.component_for("/api/health"), Some("health"));
        assert_eq!(table.component_for("/api/health/"), Some("health"));
        assert_eq!(table.component_for("/other"), None);
    }
}
