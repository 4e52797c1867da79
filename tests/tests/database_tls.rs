//! `spincat-host migrate` (and the native host's pool) reach a PostgreSQL that accepts only
//! TLS, as every managed one does, and check its certificate as `sslmode` says. The server is a
//! real throwaway cluster with `ssl=on`, a certificate from a CA made for the test, and an
//! `pg_hba.conf` that refuses unencrypted connections.

use std::path::{Path, PathBuf};
use std::process::Command;

use spincat_host::local_pg::LocalPostgres;
use spincat_host::migrate;

struct TlsPostgres {
    dir: PathBuf,
    port: u16,
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = LocalPostgres::remove(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`<name>.crt`, `<name>.key`) in `dir`.
fn certificate_authority(dir: &Path, name: &str) {
    let (key, cert) = (format!("{name}.key"), format!("{name}.crt"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &cert,
        ],
    );
}

impl TlsPostgres {
    fn start() -> Self {
        // Under /tmp, which the postgres user can reach when the suite runs as root.
        let dir =
            std::env::temp_dir().join(format!("spincat-pg-tls-{}", uuid::Uuid::new_v4().simple()));
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        certificate_authority(&tls, "ca");
        certificate_authority(&tls, "stranger");
        openssl(
            &tls,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(tls.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
        openssl(
            &tls,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.crt",
            ],
        );
        // PostgreSQL refuses a key others can read.
        std::fs::set_permissions(
            tls.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        // TLS or nothing over TCP.
        std::fs::write(
            tls.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .unwrap();
        let file = |name: &str| tls.join(name).display().to_string();
        let postgres = LocalPostgres::start_with(
            &dir,
            &[
                "ssl=on".into(),
                format!("ssl_cert_file={}", file("server.crt")),
                format!("ssl_key_file={}", file("server.key")),
                format!("hba_file={}", file("pg_hba.conf")),
            ],
        )
        .expect("a TLS PostgreSQL starts");
        Self {
            port: postgres.port,
            dir,
        }
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }

    fn file(&self, name: &str) -> String {
        self.dir.join("tls").join(name).display().to_string()
    }
}

fn migrate_with(url: &str) -> Result<String, String> {
    let output = Command::new(spincat_tests::host_binary())
        .arg("migrate")
        .env("SPIN_VARIABLE_DATABASE_URL", url)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}

#[tokio::test]
async fn migrate_reaches_a_tls_only_database_and_checks_its_certificate() {
    if spincat_tests::spin::skip("spincat-host migrate runs natively, with or without Spin") {
        return;
    }
    let db = TlsPostgres::start();

    let plain = migrate_with(&db.url("127.0.0.1", "sslmode=disable")).unwrap_err();
    assert!(
        plain.contains("no encryption"),
        "the server refuses plain connections: {plain}"
    );

    let first = migrate_with(&db.url("127.0.0.1", "sslmode=require")).unwrap();
    assert!(
        first.contains("applied") && !first.contains("applied 0"),
        "{first}"
    );
    let verified = format!("sslmode=verify-full&sslrootcert={}", db.file("ca.crt"));
    let again = migrate_with(&db.url("localhost", &verified)).unwrap();
    assert!(again.contains("applied 0 migration(s)"), "{again}");

    // The checks refuse what they should.
    let stranger = format!(
        "sslmode=verify-full&sslrootcert={}",
        db.file("stranger.crt")
    );
    let Err(refused) = migrate::connect(&db.url("localhost", &stranger)).await else {
        panic!("a certificate another CA signed is trusted");
    };
    assert!(
        format!("{refused:?}").contains("certificate"),
        "{refused:?}"
    );
    let wrong_name = migrate::connect(&db.url("127.0.0.1", &verified)).await;
    assert!(
        wrong_name.is_err(),
        "a certificate for localhost does not name 127.0.0.1"
    );
    let ca_only = format!("sslmode=verify-ca&sslrootcert={}", db.file("ca.crt"));
    migrate::connect(&db.url("127.0.0.1", &ca_only))
        .await
        .expect("verify-ca checks the signer, not the name");
    let prefer = migrate::connect(&db.url("127.0.0.1", "")).await;
    prefer.expect("the default, prefer, takes TLS when offered");
    let unknown = migrate::connect(&db.url("localhost", "sslmode=allow-anything")).await;
    assert!(format!("{:?}", unknown.err().unwrap()).contains("not supported"));
}
