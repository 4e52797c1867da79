//! Instances as their owner sees and operates them. Every query is scoped to the owner: anyone
//! else's instance is simply not found.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::context::Instance;
use super::domains::{self, CustomDomain, DomainRules, DomainSettings, Verified};
use super::lifecycle::Provisioner;
use super::render;
use super::InstanceError;
use crate::http::{Page, Paging};
use crate::params;
use crate::ports::db::{DbError, Row};
use crate::ports::HttpClient;
use crate::states::{InstanceStatus, SubscriptionStatus};
use crate::subscriptions::InstanceName;

const SUMMARY: &str = "i.id, i.name, i.subdomain, i.status, i.custom_domain, i.domain_token,
     i.domain_verified_at IS NOT NULL AS domain_verified, i.ready,
     (sv.template->>'firstVisitorSetup')::boolean IS TRUE AND i.claimed_at IS NULL AS gated,
     i.last_checked_at, i.last_error, i.created_at, i.subscription_id,
     sv.slug AS service_slug, sv.name AS service_name, sv.template->>'protocol' AS protocol,
     (sv.template->>'port')::int AS port,
     p.name AS plan_name, p.cpu_millicores, p.memory_mib, p.storage_gib";

const FROM: &str = "instances i
     JOIN subscriptions s ON s.id = i.subscription_id
     JOIN plans p ON p.id = s.plan_id
     JOIN services sv ON sv.id = s.service_id";

/// An instance being torn down, failed or gone takes no more changes: 409, saying it cannot
/// `act` in its state.
fn still_live(instance: &Instance, action: &'static str) -> Result<(), InstanceError> {
    if instance.teardown_requested
        || matches!(
            instance.status,
            InstanceStatus::Error | InstanceStatus::Terminated
        )
    {
        return Err(InstanceError::Ended {
            action,
            status: instance.status,
        });
    }
    Ok(())
}

fn summary(row: Row<'_>, base_domain: &str) -> Result<Value, DbError> {
    let subdomain: String = row.get("subdomain")?;
    let host = format!("{subdomain}.{base_domain}");
    let custom: Option<String> = row.get("custom_domain")?;
    let verified: bool = row.get("domain_verified")?;
    let custom_domain = match &custom {
        None => Value::Null,
        Some(domain) if verified => json!({ "name": domain, "status": "VERIFIED" }),
        Some(domain) => json!({
            "name": domain,
            "status": "PENDING_VERIFICATION",
            "verification": domains::challenge(domain, &row.get::<String>("domain_token")?),
        }),
    };
    let protocol: Option<String> = row.get("protocol")?;
    let urls: Vec<String> = if protocol.as_deref() == Some("tcp") {
        vec![format!(
            "{host}:{}",
            row.get::<Option<i32>>("port")?.unwrap_or_default()
        )]
    } else {
        std::iter::once(host)
            .chain(custom.filter(|_| verified))
            .map(|h| format!("https://{h}"))
            .collect()
    };
    let status: String = row.get("status")?;
    Ok(json!({
        "id": row.get::<Uuid>("id")?,
        "name": row.get::<String>("name")?,
        "status": status,
        "subdomain": subdomain,
        "customDomain": custom_domain,
        "gated": row.get::<bool>("gated")?,
        "urls": urls,
        "health": {
            "ready": row.get::<bool>("ready")?,
            "lastCheckedAt": row.get::<Option<DateTime<Utc>>>("last_checked_at")?,
            "lastError": row.get::<Option<String>>("last_error")?,
        },
        "service": { "slug": row.get::<String>("service_slug")?, "name": row.get::<String>("service_name")? },
        "plan": row.get::<String>("plan_name")?,
        "resources": {
            "cpuMillicores": row.get::<i32>("cpu_millicores")?,
            "memoryMib": row.get::<i32>("memory_mib")?,
            "storageGib": row.get::<i32>("storage_gib")?,
        },
        "subscriptionId": row.get::<Uuid>("subscription_id")?,
        "createdAt": row.get::<DateTime<Utc>>("created_at")?,
    }))
}

pub struct InstanceFilter {
    pub status: Option<InstanceStatus>,
    pub service: Option<String>,
    pub paging: Paging,
}

impl Provisioner<'_> {
    /// The owner's instance; anyone else's is not found, so ids cannot be probed.
    pub async fn owned(&self, user_id: Uuid, id: Uuid) -> Result<Instance, InstanceError> {
        let instance = self.load(id).await?;
        if instance.user_id != user_id {
            return Err(InstanceError::NotFound);
        }
        Ok(instance)
    }

    pub async fn list(
        &self,
        user_id: Uuid,
        filter: &InstanceFilter,
    ) -> Result<Page<Value>, InstanceError> {
        let condition = "i.user_id = $1 AND ($2::text IS NULL OR i.status = $2)
             AND ($3::text IS NULL OR sv.slug = $3)";
        let total = self
            .conn
            .scalar(
                &format!("SELECT count(*) AS total FROM {FROM} WHERE {condition}"),
                params![user_id, filter.status, filter.service.clone()],
            )
            .await?;
        let rows = self
            .conn
            .query(
                &format!(
                    "SELECT {SUMMARY} FROM {FROM} WHERE {condition}
                     ORDER BY i.created_at DESC, i.id LIMIT $4 OFFSET $5"
                ),
                params![
                    user_id,
                    filter.status,
                    filter.service.clone(),
                    filter.paging.limit,
                    filter.paging.offset()
                ],
            )
            .await?;
        Ok(Page {
            items: rows
                .iter()
                .map(|r| summary(r, &self.settings.base_domain))
                .collect::<Result<_, _>>()?,
            total,
            paging: filter.paging,
        })
    }

    /// The owner's instance. A read moves a provisioning instance along, so a user watching it
    /// sees it turn RUNNING without waiting for the next job run.
    pub async fn detail(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Value, InstanceError> {
        let instance = self.owned(user_id, id).await?;
        if matches!(
            instance.status,
            InstanceStatus::Pending | InstanceStatus::Provisioning
        ) && !instance.teardown_requested
        {
            if let Err(error) = self.advance(id, now).await {
                tracing::info!(instance_id = %id, error = %error, "refresh on read did not finish");
            }
        }
        let rows = self
            .conn
            .query(
                &format!("SELECT {SUMMARY} FROM {FROM} WHERE i.id = $1"),
                params![id],
            )
            .await?;
        Ok(summary(
            rows.first().ok_or(InstanceError::NotFound)?,
            &self.settings.base_domain,
        )?)
    }

    fn operable(
        instance: &Instance,
        allowed: &[InstanceStatus],
        action: &'static str,
    ) -> Result<(), InstanceError> {
        if instance.teardown_requested || !allowed.contains(&instance.status) {
            return Err(InstanceError::WrongState {
                action,
                status: instance.status,
                allowed: allowed.to_vec(),
            });
        }
        if instance.subscription_status == SubscriptionStatus::Suspended {
            return Err(InstanceError::SubscriptionSuspended);
        }
        Ok(())
    }

    pub async fn stop(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Value, InstanceError> {
        self.scale_between(
            user_id,
            id,
            (InstanceStatus::Running, InstanceStatus::Stopped),
            0,
            "stop",
            now,
        )
        .await
    }

    pub async fn start(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Value, InstanceError> {
        self.scale_between(
            user_id,
            id,
            (InstanceStatus::Stopped, InstanceStatus::Running),
            1,
            "start",
            now,
        )
        .await
    }

    /// Scales the workload through the scale subresource, then records the new state.
    async fn scale_between(
        &self,
        user_id: Uuid,
        id: Uuid,
        (from, to): (InstanceStatus, InstanceStatus),
        replicas: i32,
        action: &'static str,
        now: DateTime<Utc>,
    ) -> Result<Value, InstanceError> {
        let instance = self.owned(user_id, id).await?;
        Self::operable(&instance, &[from], action)?;
        self.cluster.scale(&instance, replicas).await?;
        self.set_status(id, from, to, now).await?;
        Ok(json!({ "id": id, "status": to }))
    }

    /// A rolling restart: a new pod-template annotation, kept in the database so every later
    /// apply renders the same one.
    pub async fn restart(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Value, InstanceError> {
        let mut instance = self.owned(user_id, id).await?;
        Self::operable(&instance, &[InstanceStatus::Running], "restart")?;
        instance.spec.restarted_at = Some(now);
        self.deploy(&instance, now).await?;
        self.conn
            .execute(
                "UPDATE instances SET restarted_at = $2, updated_at = $2 WHERE id = $1",
                params![id, now],
            )
            .await?;
        self.detail(user_id, id, now).await
    }

    /// Renames, sets or clears the custom domain, and sets the variables the template allows.
    /// A domain change is recorded first (see `request_domain`); the rest is applied to the
    /// cluster first, and the database follows only if the cluster took it.
    pub async fn update(
        &self,
        domains: &DomainSettings,
        user_id: Uuid,
        id: Uuid,
        change: InstanceChange,
        now: DateTime<Utc>,
    ) -> Result<Value, InstanceError> {
        let instance = self.owned(user_id, id).await?;
        still_live(&instance, "change an instance")?;
        if let Some(env) = &change.env {
            let unknown: Vec<&String> = env
                .keys()
                .filter(|k| !instance.spec.template.user_env.contains(k))
                .collect();
            if !unknown.is_empty() {
                return Err(InstanceError::EnvNotSettable {
                    unknown: unknown.into_iter().cloned().collect(),
                    allowed: instance.spec.template.user_env.clone(),
                });
            }
        }
        if let Some(domain) = &change.custom_domain {
            self.request_domain(domains, &instance, domain.as_ref(), now)
                .await?;
        }
        let mut instance = self.load(id).await?;
        if let Some(env) = change.env {
            instance.spec.user_env = env;
        }
        if instance.is_deployed() {
            self.deploy(&instance, now).await?;
        }
        self.conn
            .execute(
                "UPDATE instances SET name = coalesce($2, name), env = $3, updated_at = $4
                 WHERE id = $1",
                params![
                    id,
                    change.name.as_ref().map(InstanceName::as_str),
                    &json!(instance.spec.user_env),
                    now
                ],
            )
            .await?;
        self.detail(user_id, id, now).await
    }

    /// Sets (with a fresh challenge, unproved) or clears the custom domain. The database
    /// decides first: a domain another live instance holds is refused here, and a domain
    /// leaving is marked for the next apply, so a failed apply leaves no Ingress carrying it.
    async fn request_domain(
        &self,
        domains: &DomainSettings,
        instance: &Instance,
        domain: Option<&CustomDomain>,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        let Some(domain) = domain else {
            self.conn
                .execute(
                    "UPDATE instances SET custom_domain = NULL, domain_token = NULL,
                         domain_verified_at = NULL, apply_pending = true, updated_at = $2
                     WHERE id = $1",
                    params![instance.id, now],
                )
                .await?;
            return Ok(());
        };
        if let Some(reason) =
            DomainRules::new(&self.settings.base_domain, &domains.platform_domains).refuses(domain)
        {
            return Err(InstanceError::DomainReserved(reason));
        }
        let taken = self
            .conn
            // As the unique index on verified domains (migrations/0011) says it.
            .query(
                "SELECT 1 FROM instances
                 WHERE lower(custom_domain) = $1 AND domain_verified_at IS NOT NULL
                   AND status NOT IN ('ERROR', 'TERMINATED') AND id <> $2",
                params![domain.as_str(), instance.id],
            )
            .await?;
        if !taken.is_empty() {
            return Err(InstanceError::DomainTaken);
        }
        self.conn
            .execute(
                "UPDATE instances SET custom_domain = $2, domain_token = $3,
                     domain_verified_at = NULL, apply_pending = true, updated_at = $4
                 WHERE id = $1 AND custom_domain IS DISTINCT FROM $2",
                params![instance.id, domain.as_str(), domains::new_token()?, now],
            )
            .await?;
        Ok(())
    }

    /// Looks the pending custom domain's record up now, rather than at the next job run.
    pub async fn verify(
        &self,
        http: &dyn HttpClient,
        domains: &DomainSettings,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Value, InstanceError> {
        let instance = self.owned(user_id, id).await?;
        still_live(&instance, "verify a domain of an instance")?;
        match self.verify_domain(http, domains, &instance, now).await? {
            Verified::Now | Verified::Already => self.detail(user_id, id, now).await,
            Verified::NotYet { found } => {
                let detail = self.detail(user_id, id, now).await?;
                let expected = &detail["customDomain"]["verification"];
                let text = |key: &str| expected[key].as_str().unwrap_or_default().to_owned();
                Err(InstanceError::DomainNotVerified {
                    name: text("name"),
                    value: text("value"),
                    found,
                })
            }
        }
    }

    pub async fn logs(
        &self,
        user_id: Uuid,
        id: Uuid,
        lines: u32,
        since_seconds: Option<u32>,
    ) -> Result<Value, InstanceError> {
        let instance = self.owned(user_id, id).await?;
        if !instance.is_deployed() {
            return Ok(json!({ "lines": [] }));
        }
        let text = self.cluster.logs(&instance, lines, since_seconds).await?;
        Ok(json!({ "lines": text.lines().collect::<Vec<_>>() }))
    }

    /// Connection details and the credentials the template exposes, read from the instance's
    /// Secret: they are never stored in our database.
    pub async fn credentials(&self, user_id: Uuid, id: Uuid) -> Result<Value, InstanceError> {
        let instance = self.owned(user_id, id).await?;
        if !instance.is_deployed() {
            return Err(InstanceError::NotDeployed);
        }
        let secrets = self.cluster.credentials(&instance).await?;
        let gate = self
            .cluster
            .gate_password(&instance)
            .await?
            .map(|password| json!({ "username": render::GATE_USER, "password": password }));
        Ok(json!({
            "host": render::host(&instance.spec, self.settings),
            "port": instance.spec.template.port,
            "url": render::public_url(&instance.spec, self.settings),
            "credentials": secrets,
            "gate": gate,
        }))
    }

    /// The owner has set the app up (its own owner account exists): the gate opens. Recorded
    /// first, so an Ingress refused half-way is opened by the next run; then the gate's
    /// credentials go. Claiming again, or an app with no gate, changes nothing.
    pub async fn claim(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Value, InstanceError> {
        let instance = self.owned(user_id, id).await?;
        Self::operable(
            &instance,
            &[InstanceStatus::Running, InstanceStatus::Stopped],
            "claim",
        )?;
        if instance.spec.gated {
            self.conn
                .execute(
                    "UPDATE instances SET claimed_at = $2, apply_pending = true, updated_at = $2
                     WHERE id = $1 AND claimed_at IS NULL",
                    params![id, now],
                )
                .await?;
            let instance = self.load(id).await?;
            self.deploy(&instance, now).await?;
            self.cluster.remove_gate(&instance).await?;
        }
        self.detail(user_id, id, now).await
    }
}

/// What a user may change on an instance; `None` leaves a field as it is.
pub struct InstanceChange {
    pub name: Option<InstanceName>,
    /// `Some(None)` clears the custom domain.
    pub custom_domain: Option<Option<CustomDomain>>,
    pub env: Option<BTreeMap<String, String>>,
}
