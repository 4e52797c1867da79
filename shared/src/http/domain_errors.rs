//! The one place where the domain's errors become HTTP: each one's status, stable code and
//! details. The message is the error's own text; a broken invariant reads as a 500 whose cause
//! is logged, never shown.

use serde_json::json;

use super::ApiError;
use crate::admin::catalog::Kind;
use crate::admin::AdminError;
use crate::auth::{AuthError, TokenError};
use crate::catalog::CatalogError;
use crate::jobs::JobError;
use crate::kube::KubeError;
use crate::notifications::NotificationError;
use crate::payments::PaymentError;
use crate::ports::ConfigError;
use crate::provisioning::InstanceError;
use crate::subscriptions::SubscriptionError;
use crate::upstream::Busy;

impl From<SubscriptionError> for ApiError {
    fn from(error: SubscriptionError) -> Self {
        use SubscriptionError as E;
        let message = error.to_string();
        let (status, code) = match error {
            E::NotFound => (404, "SUBSCRIPTION_NOT_FOUND"),
            E::PlanNotFound => (404, "PLAN_NOT_FOUND"),
            E::PlanNotOnSale => (422, "PLAN_INACTIVE"),
            E::PlanOfAnotherService => (422, "PLAN_NOT_IN_SERVICE"),
            E::SamePlan => (422, "SAME_PLAN"),
            E::DowngradeNotAllowed { .. } => (422, "DOWNGRADE_NOT_ALLOWED"),
            E::PlanFull { .. } => (422, "QUOTA_EXCEEDED"),
            E::InstanceLimit { .. } => (422, "INSTANCE_LIMIT"),
            E::IdempotencyKeyReused => (422, "IDEMPOTENCY_KEY_REUSED"),
            E::NotActive => (422, "SUBSCRIPTION_NOT_ACTIVE"),
            E::AlreadySubscribed { existing } => {
                return ApiError::conflict("DUPLICATE_SUBSCRIPTION", message).with_details(json!({
                    "subscriptionId": existing,
                    "upgrade": "PUT /api/user/services/subscriptions/{id}/upgrade",
                }))
            }
            E::SubdomainTaken => (409, "SUBDOMAIN_TAKEN"),
            E::UpgradeInProgress => (409, "UPGRADE_IN_PROGRESS"),
            E::ResizeFailed => (502, "UPGRADE_FAILED"),
            E::Ledger(e) => return e.into(),
            E::Db(e) => return e.into(),
            E::Invariant(cause) => return ApiError::internal(cause),
        };
        ApiError::new(status, code, message)
    }
}

impl From<Busy> for ApiError {
    fn from(error: Busy) -> Self {
        let mut refusal = ApiError::new(429, "TOO_MANY_PENDING_REQUESTS", error.to_string());
        refusal.retry_after_seconds = Some(1);
        refusal
    }
}

impl From<InstanceError> for ApiError {
    fn from(error: InstanceError) -> Self {
        use InstanceError as E;
        let message = error.to_string();
        let (status, code) = match error {
            E::NotFound => (404, "INSTANCE_NOT_FOUND"),
            E::WrongState {
                status, allowed, ..
            } => {
                return ApiError::conflict("INVALID_INSTANCE_STATE", message)
                    .with_details(json!({ "status": status, "allowedFrom": allowed }))
            }
            E::Ended { .. } | E::NotDeployed => (409, "INVALID_INSTANCE_STATE"),
            E::SubscriptionSuspended => (422, "SUBSCRIPTION_SUSPENDED"),
            E::EnvNotSettable { .. } => return ApiError::field("env", message),
            E::DomainReserved(_) => {
                return ApiError::unprocessable("DOMAIN_RESERVED", message)
                    .with_details(json!({ "field": "customDomain" }))
            }
            E::DomainTaken => (409, "DOMAIN_TAKEN"),
            E::NoCustomDomain => (422, "NO_CUSTOM_DOMAIN"),
            E::DomainNotVerified { name, value, found } => {
                let expected = json!({ "type": "TXT", "name": name, "value": value });
                return ApiError::unprocessable("DOMAIN_NOT_VERIFIED", message)
                    .with_details(json!({ "expected": expected, "found": found }));
            }
            E::ResolverUnavailable => (502, "DNS_RESOLVER_ERROR"),
            E::Cluster(e) => return e.into(),
            E::Subscription(e) => return e.into(),
            E::Db(e) => return e.into(),
            E::Invariant(cause) => return ApiError::internal(cause),
        };
        ApiError::new(status, code, message)
    }
}

/// The API server is an upstream. Its message names accounts, namespaces and objects, so it goes
/// to the log, not to the caller.
impl From<KubeError> for ApiError {
    fn from(error: KubeError) -> Self {
        if let KubeError::NotConfigured { variable, reason } = error {
            return ConfigError::new(&variable, reason).into();
        }
        tracing::warn!(%error, "Kubernetes call failed");
        ApiError::bad_gateway(
            "CLUSTER_ERROR",
            "The cluster could not complete this request; try again shortly",
        )
    }
}

impl From<PaymentError> for ApiError {
    fn from(error: PaymentError) -> Self {
        use PaymentError as E;
        let message = error.to_string();
        let (status, code) = match error {
            E::AmountOutOfRange { .. } => return ApiError::field("amount", message),
            E::IdempotencyKeyReused => (422, "IDEMPOTENCY_KEY_REUSED"),
            E::RequestInProgress => (409, "REQUEST_IN_PROGRESS"),
            E::GatewayRefused { reason } => {
                return ApiError::bad_gateway("PAYMENT_GATEWAY_ERROR", message)
                    .with_details(json!({ "reason": reason }))
            }
            E::InvalidNotification(_) => (400, "INVALID_NOTIFICATION"),
            E::InvalidSignature => (401, "INVALID_SIGNATURE"),
            E::AmountMismatch { order_id } => {
                return ApiError::bad_request("AMOUNT_MISMATCH", message)
                    .with_details(json!({ "orderId": order_id }))
            }
            E::StatusUnconfirmed(_) => (502, "PAYMENT_GATEWAY_ERROR"),
            E::Ledger(e) => return e.into(),
            E::Db(e) => return e.into(),
            E::Invariant(cause) => return ApiError::internal(cause),
        };
        ApiError::new(status, code, message)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        use AuthError as E;
        let message = error.to_string();
        let (status, code) = match error {
            E::EmailTaken => {
                return ApiError::conflict("EMAIL_TAKEN", message)
                    .with_details(json!({ "field": "email" }))
            }
            E::InvalidCredentials => (401, "INVALID_CREDENTIALS"),
            E::AccountDisabled => (403, "ACCOUNT_DISABLED"),
            E::TooManyAttempts {
                retry_after_seconds,
            } => return ApiError::too_many_attempts(retry_after_seconds),
            E::RefreshTokenReused => (401, "REFRESH_TOKEN_REUSED"),
            E::InvalidRefreshToken => (401, "INVALID_REFRESH_TOKEN"),
            E::SignInRequired | E::JobTokenRequired => (401, "UNAUTHENTICATED"),
            E::AccessToken(TokenError::Expired) => (401, "TOKEN_EXPIRED"),
            E::NotBearer | E::AccessToken(TokenError::Invalid) | E::AccountGone => {
                (401, "INVALID_TOKEN")
            }
            E::NotAdministrator => (403, "FORBIDDEN"),
            E::Config(e) => return e.into(),
            E::Db(e) => return e.into(),
            E::Invariant(cause) => return ApiError::internal(cause),
        };
        ApiError::new(status, code, message)
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        use AdminError as E;
        let message = error.to_string();
        let (status, code) = match error {
            E::UserNotFound => (404, "USER_NOT_FOUND"),
            E::NotYourself { .. } => (422, "SELF_CHANGE_FORBIDDEN"),
            E::IdempotencyKeyReused => (422, "IDEMPOTENCY_KEY_REUSED"),
            E::NotFound(Kind::Category) => (404, "CATEGORY_NOT_FOUND"),
            E::NotFound(Kind::Service) => (404, "SERVICE_NOT_FOUND"),
            E::NotFound(Kind::Plan) => (404, "PLAN_NOT_FOUND"),
            E::SlugTaken(_) => {
                return ApiError::conflict("SLUG_TAKEN", message)
                    .with_details(json!({ "field": "slug" }))
            }
            E::InUse { live, .. } => {
                return ApiError::conflict("IN_USE", message)
                    .with_details(json!({ "liveSubscriptions": live }))
            }
            E::BreaksRule { .. } => (422, "INVALID_CHANGE"),
            E::QuotaBelowUsed { used } => {
                return ApiError::unprocessable("QUOTA_BELOW_USED", message)
                    .with_details(json!({ "used": used }))
            }
            E::Ledger(e) => return e.into(),
            E::Db(e) => return e.into(),
        };
        ApiError::new(status, code, message)
    }
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        let message = error.to_string();
        match error {
            CatalogError::NoCategory(_) => ApiError::not_found("CATEGORY_NOT_FOUND", message),
            CatalogError::NoService(_) => ApiError::not_found("SERVICE_NOT_FOUND", message),
            CatalogError::Db(e) => e.into(),
        }
    }
}

impl From<NotificationError> for ApiError {
    fn from(error: NotificationError) -> Self {
        match error {
            NotificationError::NotFound => {
                ApiError::not_found("NOTIFICATION_NOT_FOUND", error.to_string())
            }
            NotificationError::Db(e) => e.into(),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::Config(e) => e.into(),
            JobError::Payment(e) => e.into(),
            JobError::Instance(e) => e.into(),
            JobError::Subscription(e) => e.into(),
            JobError::Db(e) => e.into(),
        }
    }
}
