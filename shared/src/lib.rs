//! Spincat's shared library: the domain (accounts, catalog, money), the ports through which it
//! reaches the database, HTTP, configuration and time, and the HTTP pipeline every component
//! runs requests through. Function crates are thin routes over this crate.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod catalog;
pub mod exact;
pub mod features;
pub mod http;
pub mod jobs;
pub mod kube;
pub mod ledger;
pub mod logging;
pub mod money;
pub mod notifications;
pub mod password;
pub mod payments;
pub mod ports;
pub mod provisioning;
pub mod renewals;
#[cfg(target_arch = "wasm32")]
pub mod spin;
pub mod states;
pub mod subscriptions;
pub mod upstream;
pub mod wallet;

/// Makes a function crate a component: its native `handle(request, ports)`, which the native
/// host and the tests call, and under Spin the `#[http_component]` entry point around it. The
/// crate itself only provides `async fn route(ctx: &Ctx) -> Result<Reply, ApiError>`. Under Spin
/// a component gets no password hashing and no key-value store unless it names them
/// (`passwords = spincat::ports::InlinePasswords`, `kv = spincat::spin::SpinStore::default()`),
/// which keeps Argon2 and the store's bindings out of the others' wasm.
#[macro_export]
macro_rules! component {
    ($route:path, $routes:expr $(, $port:ident = $adapter:expr)* $(,)?) => {
        pub async fn handle(
            request: $crate::http::Request,
            ports: &$crate::ports::Ports,
        ) -> $crate::http::Response {
            fn boxed(ctx: &$crate::http::Ctx) -> $crate::http::RouteFuture<'_> {
                Box::pin($route(ctx))
            }
            $crate::http::serve(request, ports, boxed, $routes).await
        }

        #[cfg(target_arch = "wasm32")]
        #[spin_sdk::http_component]
        async fn spin_entry(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
            #[allow(unused_mut)]
            let mut ports = $crate::spin::ports();
            $(ports.$port = ::std::sync::Arc::new($adapter);)*
            $crate::spin::serve(request, handle, ports).await
        }
    };
}
