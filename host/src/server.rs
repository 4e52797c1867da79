//! Serving spin.toml's routes over HTTP: each request goes to the component whose route matches,
//! with that component's ports, as Spin would send it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use axum::extract::ConnectInfo;
use futures::FutureExt;
use http_body_util::BodyExt;
use spincat::http::{error_response, ApiError, Request, Response, MAX_BODY_BYTES};
use spincat::ports::{
    BoxFuture, Clock, Database, DbError, HttpClient, KeyValue, NoStore, OnDemand, Passwords, Ports,
};

use crate::allowed_hosts::{AllowedHosts, Sandboxed};
use crate::config::{ComponentConfig, Variables};
use crate::db::NativeDatabase;
use crate::kv::MemoryStore;
use crate::manifest::{Component, Manifest};
use crate::passwords::BlockingPasswords;
use crate::routes::RouteTable;

/// A component's `handle` function.
pub type Handler = for<'a> fn(Request, &'a Ports) -> BoxFuture<'a, Response>;

/// Connections each database URL may hold; like Spin, one pool per address.
const POOL_SIZE: usize = 32;

pub struct Host {
    routes: RouteTable,
    components: BTreeMap<String, (Handler, Ports)>,
    schedules: Vec<Schedule>,
    clock: Arc<dyn Clock>,
}

/// A cron component: `spincat::jobs::tick` with its ports, on its expression, read as Spin's cron
/// trigger plugin reads it (seconds first, day of month and day of week both required).
struct Schedule {
    component: String,
    cron: croner::Cron,
    ports: Ports,
}

impl Host {
    pub fn new(
        manifest: &Manifest,
        variables: &Variables,
        handlers: &BTreeMap<String, Handler>,
        clock: Arc<dyn Clock>,
        http: Arc<dyn HttpClient>,
    ) -> anyhow::Result<Self> {
        variables.check_required()?;
        let mut ports = ComponentPorts {
            pools: BTreeMap::new(),
            store: MemoryStore::default(),
            passwords: Arc::new(BlockingPasswords::per_core()),
            variables,
            clock: clock.clone(),
            http,
        };
        let mut components = BTreeMap::new();
        let served = manifest
            .components
            .iter()
            .filter(|(id, _)| manifest.routes.iter().any(|r| &r.component == *id));
        for (id, component) in served {
            let handler = *handlers
                .get(id)
                .ok_or_else(|| anyhow!("component {id} has no native handler"))?;
            components.insert(id.clone(), (handler, ports.of(id, component)?));
        }
        let mut schedules = Vec::new();
        for trigger in &manifest.schedules {
            let id = &trigger.component;
            let component = manifest
                .components
                .get(id)
                .ok_or_else(|| anyhow!("a cron trigger names unknown component {id}"))?;
            let cron = croner::Cron::new(&trigger.cron_expression)
                .with_seconds_required()
                .with_dom_and_dow()
                .parse()
                .with_context(|| format!("cron_expression of component {id}"))?;
            schedules.push(Schedule {
                component: id.clone(),
                cron,
                ports: ports.of(id, component)?,
            });
        }
        Ok(Self {
            routes: RouteTable::new(&manifest.routes),
            components,
            schedules,
            clock,
        })
    }

    /// Runs every cron component on its schedule, as `spin up` with the cron trigger plugin does,
    /// until the returned set is dropped. A tick that fails is logged; the next one runs anyway.
    pub fn run_schedules(self: &Arc<Self>) -> tokio::task::JoinSet<()> {
        let mut running = tokio::task::JoinSet::new();
        for index in 0..self.schedules.len() {
            let host = self.clone();
            running.spawn(async move {
                let schedule = &host.schedules[index];
                loop {
                    let now = chrono::Utc::now();
                    let Ok(next) = schedule.cron.find_next_occurrence(&now, false) else {
                        return;
                    };
                    tokio::time::sleep((next - now).to_std().unwrap_or_default()).await;
                    if let Err(error) = spincat::jobs::tick(&schedule.ports).await {
                        tracing::error!(component = %schedule.component, error = %error, "scheduled jobs failed");
                    }
                }
            });
        }
        running
    }

    /// Runs a request through its component. A panicking handler answers 500 in the envelope
    /// and takes nothing else down.
    pub async fn dispatch(&self, request: Request) -> Response {
        let Some(id) = self.routes.component_for(&request.path) else {
            let error = ApiError::route_not_found(&request.method, &request.path);
            return error_response(error, self.clock.now());
        };
        let (handler, ports) = &self.components[id];
        let (method, path) = (request.method.clone(), request.path.clone());
        match AssertUnwindSafe(handler(request, ports))
            .catch_unwind()
            .await
        {
            Ok(response) => response,
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown".into());
                tracing::error!(component = id, %method, route = %path, panic = %reason, "handler panicked");
                let error =
                    ApiError::new(500, "INTERNAL_ERROR", "Something went wrong on our side");
                error_response(error, self.clock.now())
            }
        }
    }

    async fn serve_http(
        &self,
        request: axum::extract::Request,
        peer: SocketAddr,
    ) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let mut incoming = Request::new(parts.method.as_str(), parts.uri.path());
        incoming.query = parts.uri.query().unwrap_or_default().to_owned();
        incoming.headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        // As Spin does: its own value after whatever the client sent under the same name.
        incoming
            .headers
            .push(("spin-client-addr".into(), peer.to_string()));
        incoming.body = read_capped(body, MAX_BODY_BYTES + 1).await;
        let response = self.dispatch(incoming).await;
        let mut builder = axum::response::Response::builder().status(response.status);
        for (name, value) in &response.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(axum::body::Body::from(response.body))
            .expect("handler responses carry valid headers")
    }
}

/// Keeps at most `cap` bytes of a body: enough for the pipeline to see that it is too large,
/// without buffering whatever a client chooses to send. The rest is read and dropped, up to
/// `DRAIN_LIMIT`, because answering 413 and closing on unread data makes the kernel reset the
/// connection, and the client then loses the answer.
async fn read_capped(mut body: axum::body::Body, cap: usize) -> Vec<u8> {
    const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
    let mut bytes = Vec::new();
    let mut seen = 0;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            let room = cap.saturating_sub(bytes.len());
            bytes.extend_from_slice(&data[..room.min(data.len())]);
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    bytes
}

/// What each component is given: its own variables and allowed hosts, one database pool per
/// address and one key-value store shared by all, as Spin shares them.
struct ComponentPorts<'a> {
    pools: BTreeMap<String, NativeDatabase>,
    store: MemoryStore,
    passwords: Arc<dyn Passwords>,
    variables: &'a Variables,
    clock: Arc<dyn Clock>,
    http: Arc<dyn HttpClient>,
}

impl ComponentPorts<'_> {
    fn of(&mut self, id: &str, component: &Component) -> anyhow::Result<Ports> {
        let config = ComponentConfig::resolve(component, self.variables)
            .with_context(|| format!("variables of component {id}"))?;
        let db: Arc<dyn Database> = match config.value("database_url") {
            Some(url) => {
                if !self.pools.contains_key(url) {
                    let pool = NativeDatabase::connect_lazily(url, POOL_SIZE)?;
                    self.pools.insert(url.to_owned(), pool);
                }
                Arc::new(OnDemand::over(Arc::new(self.pools[url].clone())))
            }
            None => Arc::new(Undeclared),
        };
        let kv: Arc<dyn KeyValue> = match component.key_value_stores.as_slice() {
            [] => Arc::new(NoStore),
            [default] if default == "default" => Arc::new(self.store.clone()),
            other => {
                bail!("component {id}: only the default key-value store exists, not {other:?}")
            }
        };
        let allowed = AllowedHosts::parse(&component.allowed_outbound_hosts, self.variables)
            .with_context(|| format!("allowed_outbound_hosts of component {id}"))?;
        Ok(Ports {
            db,
            kv,
            http: Arc::new(Sandboxed {
                component: id.to_owned(),
                allowed,
                http: self.http.clone(),
            }),
            config: Arc::new(config),
            clock: self.clock.clone(),
            passwords: self.passwords.clone(),
        })
    }
}

/// The database of a component that declares no `database_url`, failing as Spin would.
struct Undeclared;

#[async_trait::async_trait]
impl Database for Undeclared {
    async fn connect(&self) -> Result<Box<dyn spincat::ports::Connection>, DbError> {
        Err(DbError::ConnectionFailed(
            "the component declares no database_url variable".into(),
        ))
    }
}

/// Serves until the listener fails or the task is dropped; the cron components run beside it,
/// on their schedules.
pub async fn serve(listener: tokio::net::TcpListener, host: Arc<Host>) -> anyhow::Result<()> {
    let _schedules = host.run_schedules();
    let app = axum::Router::new().fallback(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, request: axum::extract::Request| {
            let host = host.clone();
            async move { host.serve_http(request, peer).await }
        },
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
