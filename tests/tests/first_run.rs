//! A newcomer's first run: `scripts/dev` serves with a local PostgreSQL it keeps between runs
//! and stops with itself; `scripts/demo` walks the offline journey against it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Dev {
    child: Child,
    base_url: String,
    output: std::sync::mpsc::Receiver<String>,
}

impl Dev {
    fn start(dir: &std::path::Path, extra: &[&str]) -> Self {
        let port = spincat_tests::spin::free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(repo().join("scripts/dev"))
            .args(["--listen", &listen, "--dir"])
            .arg(dir)
            .args(extra)
            .env("SPINCAT_HOST", spincat_tests::host_binary())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("scripts/dev starts");
        // What it prints and what it logs, as one stream of lines.
        let (sender, output) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log_sender = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = log_sender.send(line);
            }
        });
        let dev = Self {
            child,
            base_url: format!("http://{listen}"),
            output,
        };
        dev.wait_for("Spincat is serving", Duration::from_secs(90));
        dev
    }

    /// Lines printed until one contains `wanted`.
    fn wait_for(&self, wanted: &str, within: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) if line.contains(wanted) => return seen,
                Ok(line) => seen.push(line),
                Err(_) => panic!("scripts/dev never printed {wanted:?}; it printed {seen:#?}"),
            }
        }
    }

    fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let said = self.wait_for("Stopped the local PostgreSQL", Duration::from_secs(30));
        assert!(self.child.wait().unwrap().success(), "{said:#?}");
        said
    }
}

fn demo(base_url: &str) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(repo().join("scripts/demo"))
        .arg(base_url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        status.success(),
        "scripts/demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    stdout
}

async fn ana_balance(base_url: &str) -> i64 {
    let http = reqwest::Client::new();
    let answer = |request: reqwest::RequestBuilder| async move {
        request.send().await.unwrap().json::<Value>().await.unwrap()
    };
    let session = answer(
        http.post(format!("{base_url}/api/auth/login"))
            .json(&json!({ "email": "ana@spincat.local", "password": "spincat-demo" })),
    )
    .await;
    let wallet = answer(
        http.get(format!("{base_url}/api/user/wallet"))
            .bearer_auth(session["data"]["accessToken"].as_str().unwrap()),
    )
    .await;
    wallet["data"]["balance"].as_i64().unwrap()
}

/// The folder scripts/dev keeps its data in for this test; its PostgreSQL is removed at the end,
/// even when the test fails half-way.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("first-run-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = spincat_host::local_pg::LocalPostgres::remove(&self.0.join("postgres"));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn postgres_port(dir: &std::path::Path) -> u16 {
    std::fs::read_to_string(dir.join("postgres/port"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port file under {}", dir.display()))
}

#[tokio::test]
async fn a_newcomer_walks_the_offline_journey_and_dev_cleans_up_after_itself() {
    if spincat_tests::spin::skip("runs scripts/dev, which serves through the native host") {
        return;
    }
    let dir = Scratch::new();
    let dev = Dev::start(dir.path(), &[]);

    let journey = demo(&dev.base_url);
    for step in [
        "== The administrator credits Ana's wallet with Rp 150000",
        "balance: Rp 150000",
        "  ghost\tGhost",
        "  Creator\tRp 75000/month",
        "off here: Topping up through Midtrans is not available here: the setting midtrans_server_key",
        "off here: Deploying and operating instances on Kubernetes is not available here: the setting k8s_api_url",
    ] {
        assert!(journey.contains(step), "{step:?} missing from:\n{journey}");
    }
    let again = demo(&dev.base_url);
    assert!(
        again.ends_with("balance: Rp 150000\n"),
        "a second run credits nothing twice:\n{again}"
    );

    // What a route logs names the request it served.
    let session: Value = reqwest::Client::new()
        .post(format!("{}/api/auth/login", dev.base_url))
        .json(&json!({ "email": "ana@spincat.local", "password": "spincat-demo" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = reqwest::Client::new()
        .post(format!("{}/api/user/wallet/topup", dev.base_url))
        .bearer_auth(session["data"]["accessToken"].as_str().unwrap())
        .header("x-request-id", "first-run-topup")
        .header("idempotency-key", "first-run-topup")
        .json(&json!({ "amount": 50_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    dev.wait_for(
        r#""span":{"name":"request","request_id":"first-run-topup"}"#,
        Duration::from_secs(10),
    );

    let port = postgres_port(dir.path());
    dev.terminate();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "PostgreSQL stopped with scripts/dev"
    );

    let dev = Dev::start(dir.path(), &[]);
    assert_eq!(
        ana_balance(&dev.base_url).await,
        150_000,
        "the data is kept"
    );
    dev.terminate();

    let dev = Dev::start(dir.path(), &["--reset"]);
    assert_eq!(ana_balance(&dev.base_url).await, 0, "--reset starts clean");
    dev.terminate();
}
