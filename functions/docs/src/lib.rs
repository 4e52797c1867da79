//! The `docs` component: the API's OpenAPI document and a page that renders it for a person,
//! with the renderer served from here too (clients may have no internet, so no CDN).

use spincat::http::{ApiError, Ctx, Document, Reply};

/// Documents change only with a deployment; the ETag lets a client revalidate cheaply.
const MAX_AGE_SECONDS: u32 = 300;

/// The contract, as reviewed in the repository (`api/openapi.json`).
pub const OPENAPI: &[u8] = include_bytes!("../../../api/openapi.json");

spincat::component!(route, ROUTES);

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/redoc.standalone.js"),
];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    let document = match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("GET", ["api", "openapi.json"]) => Document {
            content_type: "application/json",
            content_encoding: None,
            bytes: OPENAPI,
        },
        ("GET", ["api", "docs"]) => Document {
            content_type: "text/html; charset=utf-8",
            content_encoding: None,
            bytes: include_bytes!("../assets/index.html"),
        },
        ("GET", ["api", "docs", "redoc.standalone.js"]) => Document {
            content_type: "text/javascript; charset=utf-8",
            content_encoding: Some("gzip"),
            bytes: include_bytes!("../assets/redoc.standalone.js.gz"),
        },
        _ => {
            return Err(ApiError::route_not_found(
                &ctx.request.method,
                &ctx.request.path,
            ))
        }
    };
    Ok(Reply::document(document).cacheable(MAX_AGE_SECONDS))
}
