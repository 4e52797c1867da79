//! The hello world of `spin new http-rust` on spin-sdk 5.2, built with the workspace's release
//! profile: the least a request to a Spin component costs, against which `scripts/bench-spin`
//! measures the app's routes. Not part of the app.

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle_hello_world(
    _request: spin_sdk::http::Request,
) -> anyhow::Result<impl spin_sdk::http::IntoResponse> {
    Ok(spin_sdk::http::Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello World!")
        .build())
}
