use super::message::segments;

/// A component's routes as `(method, path)`, `:name` standing for one segment: what its router
/// matches, so a path it serves under another method answers 405 with `Allow` rather than 404.
pub type Routes = &'static [(&'static str, &'static str)];

/// The methods `routes` serve at `path`, in their order; empty when none serves it.
pub fn allowed_methods(routes: Routes, path: &str) -> Vec<&'static str> {
    let requested = segments(path);
    let mut methods = Vec::new();
    for &(method, template) in routes {
        let pattern = segments(template);
        let fits = pattern.len() == requested.len()
            && pattern
                .iter()
                .zip(&requested)
                .all(|(p, s)| p.starts_with(':') || p == s);
        if fits && !methods.contains(&method) {
            methods.push(method);
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: Routes = &[
        ("GET", "/api/things"),
        ("POST", "/api/things"),
        ("GET", "/api/things/:id"),
        ("DELETE", "/api/things/:id"),
    ];

    #[test]
    fn a_template_segment_fits_any_one_segment() {
        assert_eq!(allowed_methods(ROUTES, "/api/things/42"), ["GET", "DELETE"]);
        assert_eq!(allowed_methods(ROUTES, "/api/things/"), ["GET", "POST"]);
    }

    #[test]
    fn no_route_serves_a_longer_or_other_path() {
        assert!(allowed_methods(ROUTES, "/api/things/42/parts").is_empty());
        assert!(allowed_methods(ROUTES, "/api/other").is_empty());
    }
}
