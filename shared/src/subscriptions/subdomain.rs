//! The name a user gives an instance, and the DNS-safe subdomain made from it.

use crate::ports::db::DbError;

const MAX_BASE: usize = 40;

/// An instance's display name: 1 to 63 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceName(String);

impl InstanceName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let name = crate::exact::unpadded(input)?;
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

/// A subdomain is `<base>-<suffix>`: the base names the instance, and the suffix's 48 random bits
/// mean nobody finds an instance by guessing its address before its owner has set it up (the
/// first n8n is not `n8n.<base domain>`), and no name the platform keeps (`api`, `www`, ...) can
/// come out. An instance named by its user takes this base; otherwise its service's slug, which
/// is one already (migration 0002), cut as `InstanceName::slug` cuts.
pub fn subdomain_base(name: &InstanceName) -> String {
    let slug = name.slug();
    if slug.is_empty() {
        "app".to_owned()
    } else {
        slug
    }
}

/// 12 random hex digits.
pub fn random_suffix() -> Result<String, DbError> {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).map_err(|e| DbError::Other(e.to_string()))?;
    Ok(hex::encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        let slug = |s: &str| InstanceName::parse(s).unwrap().slug();
        assert_eq!(slug("My Blog!"), "my-blog");
        assert_eq!(slug("--Ünïcode__Name--"), "n-code-name");
        assert!(InstanceName::parse(" padded ").is_err());
        assert_eq!(slug("🚀🚀"), "");
        assert_eq!(slug(&"a".repeat(63)).len(), 40);
        assert_eq!(slug(&format!("{}-b", "a".repeat(39))), "a".repeat(39));
    }

    #[test]
    fn subdomains_carry_48_random_bits() {
        let (a, b) = (random_suffix().unwrap(), random_suffix().unwrap());
        assert_ne!(a, b);
        assert!(
            a.len() == 12 && a.chars().all(|c| c.is_ascii_hexdigit()),
            "{a}"
        );
        let base = |s: &str| subdomain_base(&InstanceName::parse(s).unwrap());
        assert_eq!(base("My Blog"), "my-blog");
        assert_eq!(base("🚀"), "app");
    }
}
