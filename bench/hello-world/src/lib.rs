//! The hello world of `spin new http-rust` on spin-sdk 5.2, built with the workspace's release
//! profile: the least a request to a Spin component costs, against which `scripts/bench-spin`
//! measures the app's routes. `/hello/db` adds one PostgreSQL statement, `SELECT 1`, through
//! Spin's postgres API: what the database costs a request before any of our code runs;
//! `/hello/kv` one read of Spin's default key-value store instead, what a cache would cost. Not
//! part of the app.

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle_hello_world(
    request: spin_sdk::http::Request,
) -> anyhow::Result<impl spin_sdk::http::IntoResponse> {
    if request.path().ends_with("/db") {
        let url = spin_sdk::variables::get("database_url")?;
        spin_sdk::pg4::Connection::open(&url)?.query("SELECT 1", &[])?;
    }
    if request.path().ends_with("/kv") {
        spin_sdk::key_value::Store::open_default()?.get("catalog")?;
    }
    Ok(spin_sdk::http::Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello World!")
        .build())
}
