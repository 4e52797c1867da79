//! CORS for the configured list of origins (`cors_origins`, comma-separated; `*` allows any).

use super::{Request, Response};

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, If-None-Match, X-Request-Id";
const EXPOSE_HEADERS: &str = "ETag, Retry-After, X-Request-Id";

pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    pub fn new(setting: Option<&str>) -> Self {
        let origins = setting
            .unwrap_or_default()
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        Self { origins }
    }

    fn allowed_origin<'r>(&self, request: &'r Request) -> Option<&'r str> {
        let origin = request.header("origin")?;
        self.origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
            .then_some(origin)
    }

    pub fn is_preflight(request: &Request) -> bool {
        request.method == "OPTIONS" && request.header("access-control-request-method").is_some()
    }

    /// The answer to a preflight: 204, with the allow headers only for an allowed origin, so the
    /// browser refuses the others.
    pub fn preflight(&self, request: &Request) -> Response {
        let mut response = Response {
            status: 204,
            headers: vec![("vary".into(), "Origin".into())],
            body: Vec::new(),
        };
        if let Some(origin) = self.allowed_origin(request) {
            response.headers.extend([
                ("access-control-allow-origin".into(), origin.to_owned()),
                ("access-control-allow-methods".into(), ALLOW_METHODS.into()),
                ("access-control-allow-headers".into(), ALLOW_HEADERS.into()),
                ("access-control-max-age".into(), "600".into()),
            ]);
        }
        response
    }

    pub fn decorate(&self, request: &Request, response: &mut Response) {
        response.headers.push(("vary".into(), "Origin".into()));
        if let Some(origin) = self.allowed_origin(request) {
            response.headers.extend([
                ("access-control-allow-origin".into(), origin.to_owned()),
                (
                    "access-control-expose-headers".into(),
                    EXPOSE_HEADERS.into(),
                ),
            ]);
        }
    }
}
