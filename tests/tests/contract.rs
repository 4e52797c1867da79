//! The published contract, `api/openapi.json`: it lists exactly the routes the components
//! answer, speaks camelCase with one list shape, is served by the app, and renders in a real
//! browser. (Every answer of every other test is validated against it in `TestApp::send`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use spincat_host::manifest::Manifest;
use spincat_host::routes::RouteTable;
use spincat_tests::contract::{contract, DOCUMENT};
use spincat_tests::{TestApp, JOB_TOKEN};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A router's match arm, `("GET", ["api", "user", "wallet"])`: its method and its segments,
/// `None` where the arm binds a variable.
struct Arm {
    component: String,
    method: String,
    segments: Vec<Option<String>>,
}

/// Every `("METHOD", [..])` arm of every component's router, read from its source.
fn router_arms(manifest: &Manifest) -> Vec<Arm> {
    let mut arms = Vec::new();
    for component in manifest.routes.iter().map(|r| &r.component) {
        let source = repo().join(format!("functions/{component}/src/lib.rs"));
        let text = std::fs::read_to_string(&source).unwrap();
        for (start, _) in text.match_indices("(\"") {
            let rest = &text[start + 2..];
            let Some((method, rest)) = rest.split_once('"') else {
                continue;
            };
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method) {
                continue;
            }
            let Some(rest) = rest.trim_start().strip_prefix(',') else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('[') else {
                continue;
            };
            let Some((list, _)) = rest.split_once(']') else {
                continue;
            };
            let segments = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.strip_prefix('"')
                        .map(|s| s.trim_end_matches('"').to_owned())
                })
                .collect();
            if arms.iter().any(|a: &Arm| {
                a.component == *component && a.method == method && a.segments == segments
            }) {
                continue;
            }
            arms.push(Arm {
                component: component.clone(),
                method: method.to_owned(),
                segments,
            });
        }
    }
    arms
}

fn documented_segments(path: &str) -> Vec<Option<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
        .collect()
}

/// Two segment lists can name the same request: equal literals, a variable on either side.
fn overlap(a: &[Option<String>], b: &[Option<String>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.is_none() || y.is_none() || x == y)
}

#[test]
fn the_document_lists_exactly_the_routes_the_components_answer() {
    let manifest = Manifest::bundled();
    let table = RouteTable::new(&manifest.routes);
    let arms = router_arms(&manifest);
    assert!(arms.len() > 40, "the scan found the routers' arms");
    let operations = contract().operations();

    let undocumented: Vec<String> = arms
        .iter()
        .filter(|arm| {
            !operations.iter().any(|o| {
                o.method == arm.method && overlap(&documented_segments(&o.path), &arm.segments)
            })
        })
        .map(|arm| format!("{} {:?} ({})", arm.method, arm.segments, arm.component))
        .collect();
    assert_eq!(
        undocumented,
        Vec::<String>::new(),
        "routes the document lacks"
    );

    // A documented route must reach, through spin.toml, a component with an arm for it.
    let unserved: Vec<String> = operations
        .iter()
        .filter(|o| {
            let concrete = o.path.replace('{', "x").replace('}', "");
            let component = table.component_for(&concrete);
            !arms.iter().any(|arm| {
                Some(arm.component.as_str()) == component
                    && arm.method == o.method
                    && overlap(&documented_segments(&o.path), &arm.segments)
            })
        })
        .map(|o| format!("{} {}", o.method, o.path))
        .collect();
    assert_eq!(
        unserved,
        Vec::<String>::new(),
        "documented routes nobody serves"
    );
}

/// Every documented path answers the methods it does not serve with 405 and an `Allow` header
/// naming exactly the documented ones: a client learns the method is wrong, not the path.
#[tokio::test]
async fn a_path_answers_an_undocumented_method_with_405_and_allow() {
    let app = TestApp::spawn().await;
    let user = app.register("methods@spincat.test").await;
    let admin = app.admin("methods-admin@spincat.test").await;
    let mut paths: Vec<&str> = contract()
        .operations()
        .iter()
        .map(|o| o.path.as_str())
        .collect();
    paths.dedup();
    let mut wrong = Vec::new();
    for path in paths {
        let mut documented: Vec<&str> = contract()
            .operations()
            .iter()
            .filter(|o| o.path == path)
            .map(|o| o.method.as_str())
            .collect();
        documented.sort();
        let concrete = path.replace('{', "x").replace('}', "");
        let token = match path {
            p if p.starts_with("/internal/") => JOB_TOKEN,
            p if p.starts_with("/api/admin/") => &admin.access_token,
            _ => &user.access_token,
        };
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if documented.contains(&method) {
                continue;
            }
            let request = app
                .http
                .request(method.parse().unwrap(), app.url(&concrete))
                .bearer_auth(token);
            let answer = app.send(request).await;
            let mut allow: Vec<&str> = answer
                .header("allow")
                .unwrap_or_default()
                .split(", ")
                .collect();
            allow.sort();
            if answer.status != 405
                || answer.error_code() != "METHOD_NOT_ALLOWED"
                || allow != documented
            {
                wrong.push(format!(
                    "{method} {path}: {} allow {allow:?}",
                    answer.status
                ));
            }
        }
    }
    assert_eq!(wrong, Vec::<String>::new(), "paths that do not answer 405");
}

fn walk_properties(schema: &Value, at: &str, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                found.extend(properties.keys().map(|k| format!("{at}.{k}")));
            }
            for (key, value) in map {
                walk_properties(value, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk_properties(i, at, found)),
        _ => {}
    }
}

#[test]
fn every_field_is_camel_case_and_every_list_has_one_shape() {
    let document: Value = serde_json::from_str(DOCUMENT).unwrap();
    let mut fields = Vec::new();
    walk_properties(&document, "", &mut fields);
    let camel = |name: &str| {
        name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric())
    };
    let not_camel: Vec<&String> = fields
        .iter()
        // Midtrans's notification is Midtrans's format, not ours.
        .filter(|f| !f.contains("MidtransNotification"))
        .filter(|f| !camel(f.rsplit('.').next().unwrap()))
        .collect();
    assert_eq!(not_camel, Vec::<&String>::new());

    // A list is `{items, pagination}`: no schema has one without the other.
    let lists: Vec<&String> = fields.iter().filter(|f| f.ends_with(".items")).collect();
    assert!(lists.len() > 10);
    for list in lists {
        let owner = list.trim_end_matches(".items");
        assert!(
            fields.contains(&format!("{owner}.pagination")),
            "{list} comes without pagination"
        );
    }

    // Every code a response lists is in the one list of stable codes.
    let all = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    for (name, response) in document["components"]["responses"].as_object().unwrap() {
        for code in response["x-error-codes"].as_array().unwrap() {
            assert!(all.contains(code), "{name}: {code}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_serves_its_document_and_a_docs_page_without_a_cdn() {
    let app = TestApp::spawn().await;
    let served = app.get("/api/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.body,
        serde_json::from_str::<Value>(DOCUMENT).unwrap()
    );
    assert!(served
        .header("cache-control")
        .unwrap()
        .starts_with("public"));
    let etag = served.header("etag").unwrap().to_owned();
    let again = app.get_if_none_match("/api/openapi.json", &etag).await;
    assert_eq!(again.status, 304);

    let page = app.get("/api/docs").await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = String::from_utf8(page.bytes.clone()).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere: {html}"
    );
    assert!(html.contains(r#"src="/api/docs/redoc.standalone.js""#));

    let script = app.get("/api/docs/redoc.standalone.js").await;
    assert_eq!(script.status, 200);
    assert_eq!(script.header("content-encoding"), Some("gzip"));
    assert!(script.bytes.starts_with(&[0x1f, 0x8b]), "gzip bytes");
    assert!(script.bytes.len() > 100_000);
}

/// Debian's `chromium`, when this machine has it.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_renders_the_docs_page_with_every_route() {
    let Some(chromium) = chromium() else {
        // CI installs chromium (.ci/run): there, a missing browser is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing in CI"
        );
        println!("SKIPPED: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let app = TestApp::spawn().await;
    let url = app.url("/api/docs");
    let out_dir = repo().join("target/contract");
    std::fs::create_dir_all(&out_dir).unwrap();
    let screenshot = out_dir.join("docs-page.png");
    let profile = tempdir();
    let browser = |extra: &[&str]| {
        let chromium = chromium.clone();
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1400,2200",
            // Enough virtual time for the renderer to fetch and lay out the document.
            "--virtual-time-budget=20000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(url.clone());
        tokio::task::spawn_blocking(move || Command::new(chromium).args(args).output().unwrap())
    };

    let dom = browser(&["--dump-dom"]).await.unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let document: Value = serde_json::from_str(DOCUMENT).unwrap();
    let summaries: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|o| o["summary"].as_str().unwrap())
        .collect();
    let shown = summaries
        .iter()
        .filter(|s| dom.contains(&html_escape(s)))
        .count();
    assert_eq!(
        shown,
        summaries.len(),
        "the rendered page lists every operation; missing: {:?}",
        summaries
            .iter()
            .filter(|s| !dom.contains(&html_escape(s)))
            .collect::<Vec<_>>()
    );

    let shot = browser(&[&format!("--screenshot={}", screenshot.display())])
        .await
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let size = std::fs::metadata(&screenshot).unwrap().len();
    assert!(
        size > 20_000,
        "a screenshot with something on it: {size} bytes"
    );
    println!(
        "the docs page, as chromium renders it: {} ({size} bytes; {shown} operations listed)",
        screenshot.display()
    );
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spincat-chromium-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
