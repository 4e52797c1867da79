use subtle::ConstantTimeEq;

use super::AuthError;
use crate::http::Ctx;

/// Internal job routes are called by a Kubernetes CronJob (or a test) with the `job_token`.
pub async fn authenticate_job(ctx: &Ctx) -> Result<(), AuthError> {
    let expected = ctx.config().required("job_token").await?;
    let presented = ctx
        .request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    if presented.is_empty() || !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(AuthError::JobTokenRequired);
    }
    Ok(())
}
