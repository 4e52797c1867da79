//! The states of Spincat's state machines. Each is an enum with one mapping to and from the text
//! the database stores and the API shows; the database's CHECK constraints list the same words
//! (a test compares them).

use crate::ports::db::{DbValue, FromDb, Param};

/// A state machine's states, as the `states!` macro defines them.
pub trait State: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    fn from_text(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == text)
    }

    /// States as one `text[]` parameter, for `status = ANY($n)`.
    fn param(states: &[Self]) -> Param {
        Param::ArrayStr(states.iter().map(|s| Some(s.as_str().to_owned())).collect())
    }
}

macro_rules! states {
    ($(#[$meta:meta])* $name:ident { $($(#[$doc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$doc])* $variant,)+
        }

        impl State for $name {
            const ALL: &'static [Self] = &[$($name::$variant,)+];

            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl FromDb for $name {
            fn from_db(value: &DbValue) -> Result<Self, String> {
                let text = String::from_db(value)?;
                Self::from_text(&text)
                    .ok_or_else(|| format!("`{text}` is no {}", stringify!($name)))
            }
        }

        impl From<$name> for Param {
            fn from(state: $name) -> Self {
                Param::Str(state.as_str().to_owned())
            }
        }
    };
}

states! {
    /// Where a subscription is in its life.
    SubscriptionStatus {
        Active = "ACTIVE",
        /// Moved to another plan; the workload is being resized, both plans' slots held.
        PendingUpgrade = "PENDING_UPGRADE",
        /// A renewal could not be paid and grace ran out: the instance is scaled to zero.
        Suspended = "SUSPENDED",
        Cancelled = "CANCELLED",
        Expired = "EXPIRED",
    }
}

impl SubscriptionStatus {
    /// Subscriptions that hold a quota slot and count as the user's one subscription to a
    /// service. SQL takes them as a parameter: `status = ANY($n)` with `live_param()`.
    pub const LIVE: &'static [Self] = &[Self::Active, Self::PendingUpgrade, Self::Suspended];

    /// Live subscriptions whose current period is paid: the active ones in the analytics.
    pub const PAID_UP: &'static [Self] = &[Self::Active, Self::PendingUpgrade];

    /// Subscriptions that are over: churn.
    pub const ENDED: &'static [Self] = &[Self::Cancelled, Self::Expired];

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    pub fn live_param() -> Param {
        Self::param(Self::LIVE)
    }
}

states! {
    /// Where an instance's workload is.
    InstanceStatus {
        Pending = "PENDING",
        Provisioning = "PROVISIONING",
        Running = "RUNNING",
        Stopped = "STOPPED",
        Error = "ERROR",
        Suspended = "SUSPENDED",
        Terminated = "TERMINATED",
    }
}

states! {
    /// Where a top-up is with the gateway.
    TopUpStatus {
        Pending = "PENDING",
        Settled = "SETTLED",
        Failed = "FAILED",
        Refunded = "REFUNDED",
        ChargedBack = "CHARGED_BACK",
    }
}

impl TopUpStatus {
    /// The money arrived (and may since have gone back).
    pub fn was_settled(self) -> bool {
        matches!(self, Self::Settled | Self::Refunded | Self::ChargedBack)
    }
}
