//! A real nginx, configured from an Ingress the way ingress-nginx configures it, for the parts the
//! app uses: a `server` per rule's host, `location /` proxied to the backend, and, with
//! `nginx.ingress.kubernetes.io/auth-type: basic`, `auth_basic` with the htpasswd lines of the
//! `auth` key of the Secret `auth-secret` names (in the Ingress's namespace) and `auth-realm`.
//! The backend stands in for the Service: the test's own app double. What it proves is that
//! nginx itself enforces the gate with the hash the app wrote.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

const ANNOTATION: &str = "nginx.ingress.kubernetes.io/";

/// nginx serving one Ingress on a loopback port.
pub struct Nginx {
    pub url: String,
    dir: PathBuf,
    child: Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    /// `scripts/test` installs it (`scripts/install-nginx`).
    fn binary() -> &'static str {
        "/usr/sbin/nginx"
    }

    /// Serves `ingress` (with `secret(name)` giving a Secret of its namespace) in front of
    /// `backend` (`host:port`).
    pub async fn serve(
        ingress: &Value,
        secret: impl Fn(&str) -> Option<Value>,
        backend: &str,
    ) -> Self {
        let dir =
            std::env::temp_dir().join(format!("spincat-nginx-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = crate::spin::free_port();
        std::fs::write(
            dir.join("nginx.conf"),
            config(ingress, &secret, backend, port, &dir),
        )
        .unwrap();
        let child = Command::new(Self::binary())
            .arg("-p")
            .arg(&dir)
            .args(["-c", "nginx.conf"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {}: {e} (scripts/install-nginx installs it)",
                    Self::binary()
                )
            });
        let nginx = Self {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                nginx.error_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

fn config(
    ingress: &Value,
    secret: &impl Fn(&str) -> Option<Value>,
    backend: &str,
    port: u16,
    dir: &std::path::Path,
) -> String {
    let annotations = &ingress["metadata"]["annotations"];
    let annotation = |key: &str| annotations[format!("{ANNOTATION}{key}")].as_str();
    let auth = match annotation("auth-type") {
        Some("basic") => {
            let name = annotation("auth-secret").expect("auth-secret with auth-type basic");
            let secret = secret(name).unwrap_or_else(|| panic!("the Secret {name} of auth-secret"));
            let lines = base64::engine::general_purpose::STANDARD
                .decode(secret["data"]["auth"].as_str().expect("an auth key"))
                .unwrap();
            std::fs::write(dir.join("htpasswd"), lines).unwrap();
            format!(
                "auth_basic \"{}\";\n      auth_basic_user_file {};",
                annotation("auth-realm").unwrap_or("Authentication Required"),
                dir.join("htpasswd").display()
            )
        }
        Some(other) => panic!("auth-type {other} is not what ingress-nginx reads"),
        None => String::new(),
    };
    let hosts: Vec<&str> = ingress["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["host"].as_str())
        .collect();
    format!(
        "daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port} default_server;
    return 404;
  }}
  server {{
    listen 127.0.0.1:{port};
    server_name {hosts};
    location / {{
      {auth}
      proxy_pass http://{backend};
      proxy_set_header Host $host;
    }}
  }}
}}
",
        dir = dir.display(),
        hosts = hosts.join(" "),
    )
}
