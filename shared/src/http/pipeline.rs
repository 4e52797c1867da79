//! The path of every request through a component: request id, CORS, body limit, routing,
//! the envelope, ETags, and one JSON log line.

use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::cors::Cors;
use super::fields::nul_in;
use super::{allowed_methods, ApiError, Fields, Request, Response, Routes};
use crate::ports::{BoxFuture, Config, Connection, Ports};

/// No Spincat endpoint takes more than a small JSON document.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a handler sees: its request, the ports, and the instant the request is judged at.
pub struct Ctx {
    pub request: Request,
    pub ports: Ports,
    pub now: DateTime<Utc>,
    pub request_id: String,
}

impl Ctx {
    pub fn config(&self) -> &dyn Config {
        self.ports.config.as_ref()
    }

    pub async fn db(&self) -> Result<Box<dyn Connection>, ApiError> {
        Ok(self.ports.db.connect().await?)
    }

    pub fn query(&self) -> Fields {
        Fields::from_query(&self.request.query)
    }

    /// The `Idempotency-Key` header of a money-moving request: 1 to 255 visible ASCII
    /// characters.
    pub fn idempotency_key(&self) -> Result<Option<String>, ApiError> {
        match self.request.header("idempotency-key") {
            None => Ok(None),
            Some(key)
                if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Some(key.to_owned()))
            }
            Some(_) => Err(ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )),
        }
    }

    /// The body of a route whose fields are all optional (`POST .../cancel`): no body at all
    /// (nor a content type) is an empty object.
    pub fn optional_json(&self) -> Result<Fields, ApiError> {
        if self.request.body.is_empty() && self.request.header("content-type").is_none() {
            return Ok(Fields::from_json_object(Default::default()));
        }
        self.json()
    }

    /// The body as named fields: it must be declared JSON, parse, and be an object.
    pub fn json(&self) -> Result<Fields, ApiError> {
        let content_type = self.request.header("content-type").unwrap_or_default();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Send the body as application/json",
            ));
        }
        let body = serde_json::from_slice::<Value>(&self.request.body).map_err(|e| {
            ApiError::bad_request("MALFORMED_JSON", format!("The body is not valid JSON: {e}"))
        })?;
        if let Some(field) = nul_in(&body) {
            return Err(ApiError::field(&field, "must not contain a NUL character"));
        }
        match body {
            Value::Object(map) => Ok(Fields::from_json_object(map)),
            _ => Err(ApiError::bad_request(
                "INVALID_BODY",
                "The body must be a JSON object",
            )),
        }
    }
}

/// A successful answer: its status and body, and whether clients may cache it.
#[derive(Debug)]
pub struct Reply {
    status: u16,
    body: Body,
    cache_max_age: Option<u32>,
}

#[derive(Debug)]
enum Body {
    /// The standard envelope around `data`, JSON serialized once.
    Envelope { message: String, data: String },
    /// A document that is not part of the API's data (its description, the docs page), as is.
    Document(Document),
}

/// A static file a component serves byte for byte.
#[derive(Debug, Clone, Copy)]
pub struct Document {
    pub content_type: &'static str,
    /// `Some("gzip")` for a file kept compressed: served with that `Content-Encoding`.
    pub content_encoding: Option<&'static str>,
    pub bytes: &'static [u8],
}

impl Reply {
    pub fn ok(message: impl Into<String>, data: Value) -> Self {
        Self::kept(message.into(), data.to_string())
    }

    /// A 200 whose data is already serialized JSON: an answer a cache kept from `kept_parts`.
    pub fn kept(message: String, data: String) -> Self {
        Self {
            status: 200,
            body: Body::Envelope { message, data },
            cache_max_age: None,
        }
    }

    /// The message and data of a 200 in the envelope: what a cache may keep.
    pub fn kept_parts(&self) -> Option<(&str, &str)> {
        match &self.body {
            Body::Envelope { message, data } if self.status == 200 => Some((message, data)),
            _ => None,
        }
    }

    pub fn document(document: Document) -> Self {
        Self {
            status: 200,
            body: Body::Document(document),
            cache_max_age: None,
        }
    }

    pub fn created(message: impl Into<String>, data: Value) -> Self {
        Self {
            status: 201,
            ..Self::ok(message, data)
        }
    }

    /// Public data that clients and CDNs may cache for `max_age` seconds, validated by an
    /// ETag over the data, so any change to it (an admin write, a quota taken) changes the tag.
    pub fn cacheable(mut self, max_age: u32) -> Self {
        self.cache_max_age = Some(max_age);
        self
    }
}

/// The future of a component's router. Boxed, because a router is passed around as a plain
/// function pointer (see `spincat::component!`); `Send` natively, where handlers run on a
/// multi-threaded runtime.
pub type RouteFuture<'a> = BoxFuture<'a, Result<Reply, ApiError>>;

pub async fn serve(
    request: Request,
    ports: &Ports,
    route: for<'a> fn(&'a Ctx) -> RouteFuture<'a>,
    routes: Routes,
) -> Response {
    let started = Instant::now();
    let request_id = request_id(&request);
    let cors_origins = ports.config.get("cors_origins").await.ok().flatten();
    let cors = Cors::new(cors_origins.as_deref());
    let ctx = Ctx {
        request,
        ports: ports.clone(),
        now: ports.clock.now(),
        request_id,
    };

    let mut response = if Cors::is_preflight(&ctx.request) {
        cors.preflight(&ctx.request)
    } else {
        let result = if ctx.request.body.len() > MAX_BODY_BYTES {
            Err(ApiError::new(
                413,
                "PAYLOAD_TOO_LARGE",
                format!("The body is larger than {MAX_BODY_BYTES} bytes"),
            ))
        } else {
            // Whatever the route logs (an internal error, an upstream failure) names the request.
            let span = tracing::info_span!("request", request_id = %ctx.request_id);
            match route(&ctx).instrument(span).await {
                Err(error) if error.code == "ROUTE_NOT_FOUND" => {
                    Err(unmatched_method(&ctx.request, routes).unwrap_or(error))
                }
                result => result,
            }
        };
        let mut response = render(&ctx, result);
        cors.decorate(&ctx.request, &mut response);
        response
    };
    response
        .headers
        .push(("x-request-id".into(), ctx.request_id.clone()));

    tracing::info!(
        request_id = %ctx.request_id,
        method = %ctx.request.method,
        route = %ctx.request.path,
        status = response.status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// The caller's request id when it is a sane token, otherwise a fresh one.
fn request_id(request: &Request) -> String {
    match request.header("x-request-id") {
        Some(id)
            if (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => uuid::Uuid::new_v4().simple().to_string(),
    }
}

fn render(ctx: &Ctx, result: Result<Reply, ApiError>) -> Response {
    let reply = match result {
        Ok(reply) => reply,
        Err(error) => return error_response(error, ctx.now),
    };
    let mut headers = Vec::new();
    // The tag of an envelope covers its data only: the timestamp changes with every answer.
    let tag = |bytes: &[u8]| reply.cache_max_age.map(|_| etag(bytes));
    let (body, tag) = match reply.body {
        Body::Envelope { message, data } => {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
            // Written out rather than built as a `Value`: the data is serialized already.
            let body = format!(
                r#"{{"data":{data},"message":{message},"statusCode":{status},"success":true,"timestamp":"{timestamp}"}}"#,
                message = Value::from(message),
                status = reply.status,
                timestamp = ctx.now.to_rfc3339_opts(SecondsFormat::Millis, true),
            );
            (body.into_bytes(), tag(data.as_bytes()))
        }
        Body::Document(document) => {
            headers.push(("content-type".to_owned(), document.content_type.to_owned()));
            if let Some(encoding) = document.content_encoding {
                headers.push(("content-encoding".into(), encoding.to_owned()));
                headers.push(("vary".into(), "accept-encoding".into()));
            }
            (document.bytes.to_vec(), tag(document.bytes))
        }
    };
    match reply.cache_max_age.zip(tag) {
        Some((max_age, tag)) => {
            headers.push(("etag".into(), tag.clone()));
            headers.push(("cache-control".into(), format!("public, max-age={max_age}")));
            if matches_etag(ctx.request.header("if-none-match"), &tag) {
                return Response {
                    status: 304,
                    headers,
                    body: Vec::new(),
                };
            }
        }
        None => headers.push(("cache-control".into(), "no-store".into())),
    }
    Response {
        status: reply.status,
        headers,
        body,
    }
}

/// A 405 when the component serves the request's path, only under other methods.
fn unmatched_method(request: &Request, routes: Routes) -> Option<ApiError> {
    let allowed = allowed_methods(routes, &request.path);
    (!allowed.is_empty() && !allowed.contains(&request.method.as_str()))
        .then(|| ApiError::method_not_allowed(&request.method, &request.path, &allowed))
}

/// An error in the standard envelope, for answers given outside a component's pipeline (the
/// native host's unknown routes and crashed handlers).
pub fn error_response(error: ApiError, now: DateTime<Utc>) -> Response {
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("cache-control".to_owned(), "no-store".to_owned()),
    ];
    if let Some(seconds) = error.retry_after_seconds {
        headers.push(("retry-after".into(), seconds.to_string()));
    }
    if let Some(allow) = &error.allow {
        headers.push(("allow".into(), allow.clone()));
    }
    let body = json!({
        "success": false,
        "statusCode": error.status,
        "message": error.message,
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": null,
        "error": { "code": error.code, "details": error.details },
    });
    Response {
        status: error.status,
        headers,
        body: body.to_string().into_bytes(),
    }
}

fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// `If-None-Match` compares weakly: `*`, or any listed tag with or without `W/`.
fn matches_etag(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|header| {
        header
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    })
}
