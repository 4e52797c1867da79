//! The name a user gives an instance, and the DNS-safe subdomain made from it.

use crate::params;
use crate::ports::db::{Connection, DbError};

/// Subdomains the platform keeps for itself.
const RESERVED: [&str; 8] = [
    "www", "api", "app", "admin", "mail", "status", "docs", "spincat",
];
const MAX_BASE: usize = 40;

/// An instance's display name: 1 to 63 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceName(String);

impl InstanceName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let name = input.trim();
        if name.is_empty() || name.chars().count() > 63 {
            return Err("must be 1 to 63 characters".into());
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lower-case letters, digits and single dashes, at most 40 characters.
    pub fn slug(&self) -> String {
        let mut slug = String::new();
        for c in self.0.to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug: String = slug.trim_matches('-').chars().take(MAX_BASE).collect();
        slug.trim_end_matches('-').to_owned()
    }
}

/// `base` when it is free and not reserved, otherwise `base-<6 random hex>`.
pub async fn unique_subdomain(conn: &dyn Connection, base: &str) -> Result<String, DbError> {
    let base = if base.is_empty() { "app" } else { base };
    let taken = conn
        .query(
            "SELECT 1 FROM instances WHERE subdomain = $1",
            params![base],
        )
        .await?;
    if taken.is_empty() && !RESERVED.contains(&base) {
        return Ok(base.to_owned());
    }
    let mut random = [0u8; 3];
    getrandom::fill(&mut random).map_err(|e| DbError::Other(e.to_string()))?;
    Ok(format!("{base}-{}", hex::encode(random)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        let slug = |s: &str| InstanceName::parse(s).unwrap().slug();
        assert_eq!(slug("My Blog!"), "my-blog");
        assert_eq!(slug("  --Ünïcode__Name--  "), "n-code-name");
        assert_eq!(slug("🚀🚀"), "");
        assert_eq!(slug(&"a".repeat(63)).len(), 40);
        assert_eq!(slug(&format!("{}-b", "a".repeat(39))), "a".repeat(39));
    }
}
