use chrono::{DateTime, Utc};

/// A top-up's order id at Midtrans: `TOPUP-<yyyymmdd>-<24 hex digits>`. Anything else in a
/// notification names no order we could have made, and is refused before it reaches the
/// database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderId(String);

const PREFIX: &str = "TOPUP-";
const RANDOM_HEX: usize = 24;

impl OrderId {
    pub fn generate(now: DateTime<Utc>) -> Result<Self, String> {
        let mut random = [0u8; RANDOM_HEX / 2];
        getrandom::fill(&mut random).map_err(|e| e.to_string())?;
        Ok(Self(format!(
            "{PREFIX}{}-{}",
            now.format("%Y%m%d"),
            hex::encode(random)
        )))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let well_formed = text
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(date, random)| {
                date.len() == 8
                    && date.bytes().all(|b| b.is_ascii_digit())
                    && random.len() == RANDOM_HEX
                    && random
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            });
        if well_formed {
            Ok(Self(text.to_owned()))
        } else {
            Err("order_id is not an order id this platform issues".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_nothing_else_does() {
        let id = OrderId::generate(Utc::now()).unwrap();
        assert_eq!(OrderId::parse(id.as_str()), Ok(id.clone()));
        assert!(id.as_str().len() <= 50, "Midtrans allows 50 characters");
        for bad in [
            "",
            "order-id",
            "TOPUP-2026112-0123456789abcdef01234567",
            "TOPUP-20261124-0123456789ABCDEF01234567",
            "TOPUP-20261124-0123456789abcdef0123456",
            "TOPUP-20261124-0123456789abcdef0123456\u{0}",
            " TOPUP-20261124-0123456789abcdef01234567",
        ] {
            assert!(OrderId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
