use std::fmt;
use std::str::FromStr;

use crate::ports::db::{DbValue, FromDb};

/// Plan tiers in ascending order: an upgrade goes strictly up this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlanTier {
    Free,
    Basic,
    Pro,
    Premium,
    Enterprise,
}

impl PlanTier {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanTier::Free => "FREE",
            PlanTier::Basic => "BASIC",
            PlanTier::Pro => "PRO",
            PlanTier::Premium => "PREMIUM",
            PlanTier::Enterprise => "ENTERPRISE",
        }
    }
}

impl FromDb for PlanTier {
    fn from_db(value: &DbValue) -> Result<Self, String> {
        String::from_db(value)?.parse()
    }
}

impl FromStr for PlanTier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "FREE" => Ok(PlanTier::Free),
            "BASIC" => Ok(PlanTier::Basic),
            "PRO" => Ok(PlanTier::Pro),
            "PREMIUM" => Ok(PlanTier::Premium),
            "ENTERPRISE" => Ok(PlanTier::Enterprise),
            _ => Err("must be one of FREE, BASIC, PRO, PREMIUM, ENTERPRISE".into()),
        }
    }
}

impl fmt::Display for PlanTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::PlanTier::*;

    #[test]
    fn tiers_ascend() {
        assert!(Free < Basic && Basic < Pro && Pro < Premium && Premium < Enterprise);
        for tier in [Free, Basic, Pro, Premium, Enterprise] {
            assert_eq!(tier.as_str().parse(), Ok(tier));
        }
    }
}
