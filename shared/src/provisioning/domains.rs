//! Custom domains: a host name belongs to at most one live instance, and only to one whose
//! owner proved control of it. The app issues a token; the owner publishes it as a TXT record at
//! `_spincat-challenge.<domain>`; a verify call (or the reconcile job) looks it up through a
//! DNS-over-HTTPS resolver. Until then no Ingress carries the domain: the rendered spec holds
//! only a verified one (`context`), and the database decides before the cluster hears of it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::context::Instance;
use super::lifecycle::Provisioner;
use super::InstanceError;
use crate::params;
use crate::ports::{Config, ConfigError, HttpClient, OutboundRequest};

/// Labels the platform keeps for its own hosts beside the base domain.
pub const RESERVED_LABELS: [&str; 8] = [
    "www", "api", "app", "admin", "mail", "status", "docs", "spincat",
];

/// A host name a user points at their instance: lower-case, at least two labels, each a DNS
/// label, written without the root's trailing dot. Parsed at the edge; whether it may be taken is `DomainRules::admits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomDomain(String);

impl CustomDomain {
    pub fn parse(text: &str) -> Result<Self, String> {
        let domain = crate::exact::unpadded(text)?.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let valid = domain.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if valid {
            Ok(Self(domain))
        } else {
            Err("must be a domain name such as blog.example.com".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where its owner publishes the token.
    pub fn challenge_name(&self) -> String {
        format!("_spincat-challenge.{}", self.0)
    }

    /// `domain` is this name or under it.
    fn covers(&self, domain: &str) -> bool {
        domain == self.0 || domain.ends_with(&format!(".{}", self.0))
    }
}

/// The TXT value that proves control for `token`.
fn challenge_value(token: &str) -> String {
    format!("spincat-verify={token}")
}

/// What the owner must publish, as the API shows it.
pub fn challenge(domain: &str, token: &str) -> Value {
    json!({
        "type": "TXT",
        "name": format!("_spincat-challenge.{domain}"),
        "value": challenge_value(token),
    })
}

/// A fresh challenge token: 128 random bits.
pub fn new_token() -> Result<String, InstanceError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| InstanceError::Invariant(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Names no tenant may take: the platform's own.
pub struct DomainRules {
    base_domain: CustomDomain,
    platform_domains: Vec<CustomDomain>,
}

impl DomainRules {
    pub fn new(base_domain: &str, platform_domains: &[CustomDomain]) -> Self {
        Self {
            base_domain: CustomDomain(base_domain.to_ascii_lowercase()),
            platform_domains: platform_domains.to_vec(),
        }
    }

    /// Why `domain` cannot be a custom domain, if it cannot: it is the base domain or under it
    /// (every instance's default host), a platform domain or under it (the API's host, the
    /// dashboard's), or a reserved label beside the base domain (`api.`, `www.`, `admin.` ... of
    /// its parent, where the platform's own hosts live).
    pub fn refuses(&self, domain: &CustomDomain) -> Option<String> {
        if self.base_domain.covers(domain.as_str()) {
            return Some(format!(
                "{domain} is under {}, where every instance has its own name",
                self.base_domain.0,
                domain = domain.0
            ));
        }
        if let Some(platform) = self
            .platform_domains
            .iter()
            .find(|p| p.covers(domain.as_str()))
        {
            return Some(format!("{} belongs to the platform itself", platform.0));
        }
        let parent = self.base_domain.0.split_once('.').map(|(_, p)| p);
        if let (Some(parent), Some((label, rest))) = (parent, domain.0.split_once('.')) {
            if parent.contains('.') && rest == parent && RESERVED_LABELS.contains(&label) {
                return Some(format!("{} is reserved for the platform", domain.0));
            }
        }
        None
    }
}

/// Where and how to look the challenge up: a DNS-over-HTTPS resolver's JSON API (Cloudflare's
/// and Google's schema), on an origin spin.toml allows.
#[derive(Debug, Clone)]
pub struct DomainSettings {
    pub resolver_url: String,
    pub platform_domains: Vec<CustomDomain>,
    pub timeout: Duration,
}

impl DomainSettings {
    pub async fn load(config: &dyn Config) -> Result<Self, ConfigError> {
        let resolver_url = config
            .url_on_origin("dns_resolver_url", "dns_resolver_origin", "")
            .await?
            .ok_or_else(|| ConfigError::new("dns_resolver_url", "is required but not set"))?;
        let platform_domains = config
            .get("platform_domains")
            .await?
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(CustomDomain::parse)
            .collect::<Result<_, _>>()
            .map_err(|reason| ConfigError::new("platform_domains", reason))?;
        Ok(Self {
            resolver_url,
            platform_domains,
            timeout: Duration::from_millis(config.parsed_or("dns_timeout_ms", 5_000).await?),
        })
    }
}

/// Why a lookup told us nothing.
#[derive(Debug, thiserror::Error)]
#[error("the DNS resolver failed: {0}")]
pub struct ResolverError(String);

/// The TXT strings published at `name` (none when the name does not exist), each with its
/// character-strings joined, as a record longer than 255 characters arrives in parts.
pub async fn txt_records(
    http: &dyn HttpClient,
    settings: &DomainSettings,
    name: &str,
) -> Result<Vec<String>, ResolverError> {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", name)
        .append_pair("type", "TXT")
        .finish();
    let separator = if settings.resolver_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let request = OutboundRequest::new(
        "GET",
        format!("{}{separator}{query}", settings.resolver_url),
    )
    .header("accept", "application/dns-json")
    .timeout(settings.timeout);
    let response = http
        .send(request)
        .await
        .map_err(|e| ResolverError(e.to_string()))?;
    if response.status != 200 {
        return Err(ResolverError(format!("it answered {}", response.status)));
    }
    let answer: Value = serde_json::from_slice(&response.body)
        .map_err(|e| ResolverError(format!("unreadable answer: {e}")))?;
    match answer["Status"].as_u64() {
        Some(0) => {}
        // NXDOMAIN: nothing published there.
        Some(3) => return Ok(Vec::new()),
        other => return Err(ResolverError(format!("DNS status {other:?}"))),
    }
    Ok(answer["Answer"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|record| record["type"] == 16)
        .filter_map(|record| record["data"].as_str().map(joined_strings))
        .collect())
}

/// `"part one" "part two"` as `part onepart two`; `\"` and `\\` unescaped.
fn joined_strings(data: &str) -> String {
    let mut out = String::new();
    let mut chars = data.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => out.extend(chars.next()),
            c if quoted => out.push(c),
            _ => {}
        }
    }
    if out.is_empty() && !data.starts_with('"') {
        return data.to_owned();
    }
    out
}

/// What a verification found.
pub enum Verified {
    Now,
    Already,
    NotYet { found: Vec<String> },
}

impl Provisioner<'_> {
    /// Looks the instance's pending custom domain up and, when its token is published, attaches
    /// it: recorded first (the unique index gives it to one live instance only), then applied.
    pub async fn verify_domain(
        &self,
        http: &dyn HttpClient,
        domains: &DomainSettings,
        instance: &Instance,
        now: DateTime<Utc>,
    ) -> Result<Verified, InstanceError> {
        let rows = self
            .conn
            .query(
                "SELECT custom_domain, domain_token, domain_verified_at IS NOT NULL AS verified
                 FROM instances WHERE id = $1",
                params![instance.id],
            )
            .await?;
        let row = rows.first().ok_or(InstanceError::NotFound)?;
        let Some(domain) = row.get::<Option<String>>("custom_domain")? else {
            return Err(InstanceError::NoCustomDomain);
        };
        if row.get::<bool>("verified")? {
            return Ok(Verified::Already);
        }
        let token: String = row.get("domain_token")?;
        let domain = CustomDomain(domain);
        let found = txt_records(http, domains, &domain.challenge_name())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "custom domain lookup failed");
                InstanceError::ResolverUnavailable
            })?;
        if !found.contains(&challenge_value(&token)) {
            return Ok(Verified::NotYet { found });
        }
        self.conn
            .execute(
                "UPDATE instances SET domain_verified_at = $3, apply_pending = true, updated_at = $3
                 WHERE id = $1 AND custom_domain = $2 AND domain_verified_at IS NULL",
                params![instance.id, domain.as_str(), now],
            )
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    InstanceError::DomainTaken
                } else {
                    e.into()
                }
            })?;
        if instance.is_deployed() {
            self.deploy(&self.load(instance.id).await?, now).await?;
        }
        Ok(Verified::Now)
    }

    /// The reconcile job's part: every live instance whose custom domain awaits its record.
    pub async fn verify_pending_domains(
        &self,
        http: &dyn HttpClient,
        domains: &DomainSettings,
        now: DateTime<Utc>,
        batch: i64,
    ) -> Result<Value, InstanceError> {
        let rows = self
            .conn
            // States as the unique index on verified domains (migrations/0011) names them.
            .query(
                "SELECT id FROM instances
                 WHERE custom_domain IS NOT NULL AND domain_verified_at IS NULL
                   AND status NOT IN ('ERROR', 'TERMINATED') AND teardown_requested_at IS NULL
                 ORDER BY updated_at LIMIT $1",
                params![batch],
            )
            .await?;
        let (mut checked, mut verified, mut errors) = (0, 0, 0);
        for row in rows.iter() {
            let id: Uuid = row.get("id")?;
            checked += 1;
            let instance = self.load(id).await?;
            match self.verify_domain(http, domains, &instance, now).await {
                Ok(Verified::Now) => verified += 1,
                Ok(_) => {}
                Err(error) => {
                    tracing::info!(instance_id = %id, error = %error, "custom domain not verified this run");
                    errors += 1;
                }
            }
        }
        Ok(json!({ "checked": checked, "verified": verified, "errors": errors }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(text: &str) -> CustomDomain {
        CustomDomain::parse(text).unwrap()
    }

    #[test]
    fn domains_are_parsed_to_lower_case_labels() {
        assert_eq!(domain("Blog.Example.com").as_str(), "blog.example.com");
        for bad in [
            "blog.example.com.",
            " blog.example.com",
            "example",
            "not a domain",
            "-a.example.com",
            "a..b",
            "ex_ample.com",
        ] {
            assert!(CustomDomain::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            domain("blog.example.com").challenge_name(),
            "_spincat-challenge.blog.example.com"
        );
    }

    #[test]
    fn the_platform_keeps_its_own_names() {
        let rules = DomainRules::new("apps.spincat.example", &[domain("console.example.net")]);
        for taken in [
            "apps.spincat.example",
            "n8n-1a2b3c.apps.spincat.example",
            "console.example.net",
            "eu.console.example.net",
            "api.spincat.example",
            "www.spincat.example",
            "admin.spincat.example",
        ] {
            assert!(rules.refuses(&domain(taken)).is_some(), "{taken}");
        }
        for free in [
            "blog.example.com",
            "www.example.com",
            "spincat.example.org",
            "myapps.spincat.example",
            "api.example.com",
        ] {
            assert_eq!(rules.refuses(&domain(free)), None, "{free}");
        }
        // A base domain right under a public suffix has no parent of the platform's to keep.
        let short = DomainRules::new("spincat.io", &[]);
        assert_eq!(short.refuses(&domain("api.io")), None);
    }

    #[test]
    fn txt_strings_are_joined_and_unescaped() {
        assert_eq!(joined_strings("\"spincat-verify=ab\""), "spincat-verify=ab");
        assert_eq!(
            joined_strings("\"part one\" \"part two\""),
            "part onepart two"
        );
        assert_eq!(joined_strings(r#""say \"hi\"""#), "say \"hi\"");
        assert_eq!(joined_strings("bare"), "bare");
    }
}
