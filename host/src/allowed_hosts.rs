//! A component's `allowed_outbound_hosts`, enforced as Spin enforces it (Spin's
//! `outbound-networking-config`): `<scheme>://<host>[:<port>]`, `*` for any scheme, host or port,
//! `*.domain` for its subdomains, a port range `a..b`, the scheme's well-known port when none is
//! given, `{{ variable }}` templates expanded; no path. A call Spin would refuse fails natively
//! too, instead of passing every test.

use std::sync::Arc;

use anyhow::{bail, Context};
use spincat::ports::{HttpClient, OutboundError, OutboundRequest, OutboundResponse};

use crate::config::Variables;

#[derive(Debug, Clone)]
struct Entry {
    /// `None`: any scheme.
    scheme: Option<String>,
    host: Host,
    /// `None`: any port.
    ports: Option<(u16, u16)>,
}

#[derive(Debug, Clone)]
enum Host {
    Any,
    /// `.example.com`: any name ending so.
    Subdomains(String),
    Literal(String),
}

#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<Entry>);

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl Entry {
    fn parse(entry: &str) -> anyhow::Result<Self> {
        let entry = entry.trim();
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("{entry:?} has no scheme (e.g. 'https://' or '*://')");
        };
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port.split_once('/') {
            Some((_, path)) if !path.is_empty() => bail!("{entry:?} has a path"),
            Some((port, _)) => port,
            None => port,
        };
        let host = host.trim().trim_end_matches('/');
        if host.contains('/') {
            bail!("{entry:?} has a path");
        }
        if !(scheme == "*" || (!scheme.is_empty() && scheme.chars().all(char::is_alphabetic))) {
            bail!("{entry:?}: invalid scheme");
        }
        let ports = match port {
            "*" => None,
            "" => {
                let port = well_known_port(scheme).with_context(|| {
                    format!("{entry:?}: no port, and {scheme:?} has no well-known one")
                })?;
                Some((port, port))
            }
            range => Some(match range.split_once("..") {
                // Spin's ranges exclude their end.
                Some((start, end)) => (start.parse()?, end.parse::<u16>()?.saturating_sub(1)),
                None => {
                    let port = range.parse().with_context(|| format!("{entry:?}: port"))?;
                    (port, port)
                }
            }),
        };
        let host = match host {
            "*" => Host::Any,
            _ if host.starts_with("*.") && !host[2..].contains('*') => {
                Host::Subdomains(host[1..].to_ascii_lowercase())
            }
            _ if host.contains('*') => bail!("{entry:?}: wildcards only as a subdomain prefix"),
            "" => bail!("{entry:?}: no host"),
            literal => Host::Literal(literal.to_ascii_lowercase()),
        };
        Ok(Self {
            scheme: (scheme != "*").then(|| scheme.to_owned()),
            host,
            ports,
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            Host::Any => true,
            Host::Subdomains(suffix) => host.ends_with(suffix.as_str()),
            Host::Literal(literal) => host == literal,
        };
        let port_ok = match self.ports {
            None => true,
            Some((low, high)) => port
                .or_else(|| well_known_port(scheme))
                .is_some_and(|p| (low..=high).contains(&p)),
        };
        scheme_ok && host_ok && port_ok
    }
}

impl AllowedHosts {
    /// A component's entries, templates expanded; an entry Spin would refuse is an error here
    /// too (Spin refuses to start).
    pub fn parse(entries: &[String], variables: &Variables) -> anyhow::Result<Self> {
        entries
            .iter()
            .map(|entry| Entry::parse(&variables.expand(entry)?))
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    pub fn allows(&self, url: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(url) else {
            return false;
        };
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.0
            .iter()
            .any(|entry| entry.allows(url.scheme(), host, url.port()))
    }
}

/// Outbound HTTP that only reaches what the component's `allowed_outbound_hosts` allows.
pub struct Sandboxed {
    pub component: String,
    pub allowed: AllowedHosts,
    pub http: Arc<dyn HttpClient>,
}

#[async_trait::async_trait]
impl HttpClient for Sandboxed {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        if !self.allowed.allows(&request.url) {
            // The origin only: a path or query may carry a secret, and errors reach the log.
            let origin = reqwest::Url::parse(&request.url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|_| "an unparsable URL".into());
            return Err(OutboundError::NotAllowed(format!(
                "{origin} is not in the allowed_outbound_hosts of component {}",
                self.component
            )));
        }
        self.http.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts(entries.iter().map(|e| Entry::parse(e).unwrap()).collect())
    }

    #[test]
    fn urls_are_allowed_as_spin_allows_them() {
        let hosts = allowed(&[
            "https://api.midtrans.com",
            "http://127.0.0.1:*",
            "https://*.example.com",
            "http://localhost:8000..8002",
        ]);
        for url in [
            "https://api.midtrans.com/v2/x/status",
            "https://API.midtrans.com:443/",
            "http://127.0.0.1:41234/snap/v1/transactions",
            "https://hooks.example.com/notify",
            "http://localhost:8001/",
        ] {
            assert!(hosts.allows(url), "{url}");
        }
        for url in [
            "http://api.midtrans.com/",
            "https://api.midtrans.com:8443/",
            "https://evil.com/",
            "https://example.com/",
            "http://localhost:8002/",
            "http://127.0.0.2:80/",
            "not a url",
        ] {
            assert!(!hosts.allows(url), "{url}");
        }
    }

    #[test]
    fn entries_spin_refuses_are_refused() {
        for entry in [
            "api.midtrans.com",
            "https://hooks.example.com/path",
            "https://a.*.com",
            "ftp://example.com",
            "",
        ] {
            assert!(Entry::parse(entry).is_err(), "{entry:?}");
        }
    }
}
