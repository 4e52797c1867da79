use crate::kube::KubeError;
use crate::ports::db::DbError;
use crate::states::InstanceStatus;
use crate::subscriptions::SubscriptionError;

/// Why an instance could not be shown, operated or moved along, in the business's words.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("No such instance")]
    NotFound,
    /// The action needs the instance in one of `allowed`; it is `status`, or leaving.
    #[error("Cannot {action} an instance that is {status}")]
    WrongState {
        action: &'static str,
        status: InstanceStatus,
        allowed: Vec<InstanceStatus>,
    },
    /// The instance failed or is gone: nothing about it can change any more.
    #[error("Cannot {action} that is {status}")]
    Ended {
        action: &'static str,
        status: InstanceStatus,
    },
    #[error("Credentials exist once the instance is deployed")]
    NotDeployed,
    #[error("The subscription is suspended: top up your wallet to resume it")]
    SubscriptionSuspended,
    #[error("not settable: {unknown:?}; this app allows {allowed:?}")]
    EnvNotSettable {
        unknown: Vec<String>,
        allowed: Vec<String>,
    },
    /// A name of the platform itself; the reason says which.
    #[error("{0}")]
    DomainReserved(String),
    #[error("That domain is attached to another instance")]
    DomainTaken,
    #[error("Set a custom domain on the instance first")]
    NoCustomDomain,
    #[error("No TXT record {name} with the value {value} yet; DNS changes can take a while")]
    DomainNotVerified {
        name: String,
        value: String,
        found: Vec<String>,
    },
    #[error("The DNS resolver could not be asked; try again shortly")]
    ResolverUnavailable,
    /// The API server refused or did not answer; its words name accounts and objects, so they
    /// are logged, not shown.
    #[error(transparent)]
    Cluster(#[from] KubeError),
    /// Ending a subscription whose app never ran.
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// Stored data broke one of our own invariants: a bug, never the caller's fault.
    #[error("{0}")]
    Invariant(String),
}
