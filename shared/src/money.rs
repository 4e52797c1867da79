use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ports::db::{DbValue, FromDb};

/// An amount of Indonesian rupiah. Whole rupiah only (the currency has no minor unit in use), a
/// JSON integer on the wire and a `BIGINT` in SQL; never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rupiah(i64);

impl Rupiah {
    pub const ZERO: Rupiah = Rupiah(0);

    pub const fn new(amount: i64) -> Self {
        Self(amount)
    }

    pub const fn amount(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Rupiah) -> Option<Rupiah> {
        self.0.checked_add(other.0).map(Rupiah)
    }

    pub fn checked_sub(self, other: Rupiah) -> Option<Rupiah> {
        self.0.checked_sub(other.0).map(Rupiah)
    }
}

/// Amounts are stored as whole rupiah in BIGINT columns.
impl FromDb for Rupiah {
    fn from_db(value: &DbValue) -> Result<Self, String> {
        i64::from_db(value).map(Rupiah::new)
    }
}

impl fmt::Display for Rupiah {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IDR {}", self.0)
    }
}
