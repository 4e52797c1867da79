use std::fmt;

/// An email address, trimmed and lower-cased, so one mailbox is one account. The form is the
/// HTML standard's valid e-mail address with at least two domain labels (what a browser's
/// `type=email` field accepts, and what `api/openapi.json` publishes): ASCII atext and dots
/// before the `@`, DNS labels after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, String> {
        let email = crate::exact::unpadded(input)?.to_ascii_lowercase();
        let local_char = |c: char| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c);
        let label = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                (1..=64).contains(&local.len())
                    && local.chars().all(local_char)
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(label)
            });
        if valid {
            Ok(Self(email))
        } else {
            Err("must be a valid email address".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn normalises_case_and_refuses_padding() {
        assert_eq!(
            Email::parse("Ana@Example.COM").unwrap().as_str(),
            "ana@example.com"
        );
        assert!(Email::parse(" ana@example.com").is_err());
    }

    #[test]
    fn rejects_what_cannot_receive_mail() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a na@example.com",
            "ana@@example.com",
            "ana@-x.com",
            "ana@example..com",
            "ana@exämple.com",
            "ana(x)@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
