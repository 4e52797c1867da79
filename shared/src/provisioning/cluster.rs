//! What provisioning does to the cluster for one instance. Every call is idempotent: applying
//! again converges, deleting what is gone is fine.

use std::collections::BTreeMap;

use super::context::Instance;
use super::render::{self, PlanResources};
use crate::catalog::WorkloadKind;
use crate::kube::kind::{self, Kind};
use crate::kube::objects::{Named, SecretData, Workload};
use crate::kube::{names, rollout_complete, ClusterSettings, Kube, KubeError, Manifest, Rollout};

pub struct Cluster<'a> {
    pub kube: Kube<'a>,
    pub settings: &'a ClusterSettings,
}

impl Cluster<'_> {
    /// The user's namespace with the provisioner's access to its Secrets (before any is
    /// written), its quota for `plans`, limits and policy.
    pub async fn apply_namespace(
        &self,
        instance: &Instance,
        plans: &[PlanResources],
    ) -> Result<(), KubeError> {
        let ns = render::user_namespace(instance.user_id, plans, self.settings);
        self.kube.apply(&ns.namespace).await?;
        self.kube.apply(&ns.secrets_access).await?;
        self.kube.apply(&ns.quota).await?;
        self.kube.apply(&ns.limits).await?;
        self.kube.apply(&ns.policy).await?;
        Ok(())
    }

    /// Everything the instance runs on, namespace first, then credentials (made once), then the
    /// instance's own objects.
    pub async fn deploy(
        &self,
        instance: &Instance,
        plans: &[PlanResources],
    ) -> Result<(), KubeError> {
        self.apply_namespace(instance, plans).await?;
        self.ensure_credentials(instance).await?;
        if instance.spec.gated {
            self.ensure_gate(instance).await?;
        }
        let manifests = render::instance(&instance.spec, self.settings);
        self.kube.apply(&manifests.config_map).await?;
        self.kube.apply(&manifests.volume).await?;
        self.kube.apply(&manifests.workload).await?;
        self.kube.apply(&manifests.service).await?;
        if let Some(ingress) = &manifests.ingress {
            self.kube.apply(ingress).await?;
        }
        if let Some(policy) = &manifests.tcp_policy {
            self.kube.apply(policy).await?;
        }
        Ok(())
    }

    async fn ensure_credentials(&self, instance: &Instance) -> Result<(), KubeError> {
        self.ensure_secret(instance, &names::secret(&instance.spec.name), || {
            let mut values = BTreeMap::new();
            for secret in &instance.spec.template.secrets {
                values.insert(secret.name.clone(), random_secret(secret.length.into())?);
            }
            Ok(render::credentials(&instance.spec, values))
        })
        .await
    }

    /// The gate's credentials, made once: a password, and its SHA-512 crypt hash for nginx.
    async fn ensure_gate(&self, instance: &Instance) -> Result<(), KubeError> {
        self.ensure_secret(instance, &names::gate_secret(&instance.spec.name), || {
            let password = random_secret(24)?;
            let hash = sha512_crypt(&password)?;
            Ok(render::gate(&instance.spec, &password, &hash))
        })
        .await
    }

    /// Applies the Secret `make` renders unless `name` exists: generated values are made once,
    /// so a retried deploy never changes a password the app already uses.
    async fn ensure_secret(
        &self,
        instance: &Instance,
        name: &str,
        make: impl FnOnce() -> Result<Manifest, KubeError>,
    ) -> Result<(), KubeError> {
        match self
            .kube
            .get::<Named>(&kind::SECRET, Some(&instance.spec.namespace), name)
            .await
        {
            Ok(_) => Ok(()),
            Err(KubeError::NotFound(_)) => self.kube.apply(&make()?).await,
            Err(other) => Err(other),
        }
    }

    /// Opens a claimed instance: the Ingress is applied without the gate by `deploy`, then the
    /// gate's credentials go.
    pub async fn remove_gate(&self, instance: &Instance) -> Result<(), KubeError> {
        self.kube
            .delete(
                &kind::SECRET,
                Some(&instance.spec.namespace),
                &names::gate_secret(&instance.spec.name),
            )
            .await
    }

    /// The gate's password while the instance is behind it.
    pub async fn gate_password(&self, instance: &Instance) -> Result<Option<String>, KubeError> {
        if !instance.spec.gated {
            return Ok(None);
        }
        let mut secret: SecretData = self
            .kube
            .get(
                &kind::SECRET,
                Some(&instance.spec.namespace),
                &names::gate_secret(&instance.spec.name),
            )
            .await?;
        Ok(secret.data.remove("password"))
    }

    /// Whether the workload is available by kubectl's rollout rules; `NotFound` when missing.
    pub async fn is_available(&self, instance: &Instance) -> Result<bool, KubeError> {
        let (ns, name) = (Some(instance.spec.namespace.as_str()), &instance.spec.name);
        let (rollout, kind) = workload_kind(instance);
        let workload: Workload = self.kube.get(kind, ns, name).await?;
        Ok(rollout_complete(rollout, &workload))
    }

    pub async fn scale(&self, instance: &Instance, replicas: i32) -> Result<(), KubeError> {
        let (ns, name) = (
            instance.spec.namespace.as_str(),
            instance.spec.name.as_str(),
        );
        let (_, kind) = workload_kind(instance);
        self.kube.scale(kind, ns, name, replicas).await
    }

    /// Removes the instance's objects; with `whole_namespace`, the user's namespace too (the
    /// API server then removes whatever is left in it).
    pub async fn remove(
        &self,
        instance: &Instance,
        whole_namespace: bool,
    ) -> Result<(), KubeError> {
        let (ns, name) = (
            Some(instance.spec.namespace.as_str()),
            instance.spec.name.as_str(),
        );
        let objects: [(&Kind, String); 9] = [
            (&kind::INGRESS, name.to_owned()),
            (&kind::NETWORK_POLICY, format!("{name}-tcp")),
            (&kind::SERVICE, name.to_owned()),
            (&kind::DEPLOYMENT, name.to_owned()),
            (&kind::STATEFUL_SET, name.to_owned()),
            (&kind::PERSISTENT_VOLUME_CLAIM, name.to_owned()),
            (&kind::CONFIG_MAP, name.to_owned()),
            (&kind::SECRET, names::secret(name)),
            (&kind::SECRET, names::gate_secret(name)),
        ];
        for (kind, name) in objects {
            self.kube.delete(kind, ns, &name).await?;
        }
        if whole_namespace {
            self.kube
                .delete(&kind::NAMESPACE, None, &instance.spec.namespace)
                .await?;
        }
        Ok(())
    }

    /// The generated credentials the template lets the user see.
    pub async fn credentials(
        &self,
        instance: &Instance,
    ) -> Result<BTreeMap<String, String>, KubeError> {
        let mut secret: SecretData = self
            .kube
            .get(
                &kind::SECRET,
                Some(&instance.spec.namespace),
                &names::secret(&instance.spec.name),
            )
            .await?;
        Ok(instance
            .spec
            .template
            .secrets
            .iter()
            .filter(|s| s.exposed)
            .filter_map(|s| Some((s.name.clone(), secret.data.remove(&s.name)?)))
            .collect())
    }

    /// The app container's latest log lines, from the instance's newest pod.
    pub async fn logs(
        &self,
        instance: &Instance,
        lines: u32,
        since_seconds: Option<u32>,
    ) -> Result<String, KubeError> {
        let pods: Vec<Named> = self
            .kube
            .list(
                &kind::POD,
                Some(&instance.spec.namespace),
                Some(&names::instance_selector(instance.id)),
            )
            .await?;
        let Some(pod) = pods.iter().filter_map(|p| p.metadata.name.clone()).max() else {
            return Ok(String::new());
        };
        self.kube
            .logs(
                &instance.spec.namespace,
                &pod,
                Some("app"),
                lines,
                since_seconds,
            )
            .await
    }
}

/// How the instance's workload rolls out, and its kind.
fn workload_kind(instance: &Instance) -> (Rollout, &'static Kind) {
    match instance.spec.template.workload {
        WorkloadKind::Deployment => (Rollout::Deployment, &kind::DEPLOYMENT),
        WorkloadKind::StatefulSet => (Rollout::StatefulSet, &kind::STATEFUL_SET),
    }
}

/// `$6$<salt>$<hash>`: SHA-512 crypt (5 000 rounds), which nginx's crypt() reads in an
/// htpasswd file, with a random 16-character salt.
fn sha512_crypt(password: &str) -> Result<String, KubeError> {
    const SALT_ALPHABET: &[u8] =
        b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| KubeError::Invalid(e.to_string()))?;
    let salt: String = bytes
        .iter()
        .map(|b| SALT_ALPHABET[*b as usize % SALT_ALPHABET.len()] as char)
        .collect();
    sha512_crypt_salted(password, &salt)
}

fn sha512_crypt_salted(password: &str, salt: &str) -> Result<String, KubeError> {
    let params =
        sha_crypt::Sha512Params::new(5_000).map_err(|e| KubeError::Invalid(format!("{e:?}")))?;
    let hash = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params)
        .map_err(|e| KubeError::Invalid(format!("{e:?}")))?;
    Ok(format!("$6${salt}${hash}"))
}

/// Letters and digits, uniformly drawn (rejection sampling keeps the modulo unbiased).
fn random_secret(length: usize) -> Result<String, KubeError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(length);
    while out.len() < length {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).map_err(|e| KubeError::Invalid(e.to_string()))?;
        for b in bytes {
            if out.len() < length && (b as usize) < 248 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_hashes_are_sha512_crypt_as_glibc_writes_them() {
        // The test vector of the SHA-crypt specification (Drepper), which glibc's crypt() meets.
        assert_eq!(
            sha512_crypt_salted("Hello world!", "saltstring").unwrap(),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
        let hash = sha512_crypt("a password").unwrap();
        assert!(
            hash.starts_with("$6$") && hash.len() == 3 + 16 + 1 + 86,
            "{hash}"
        );
    }
}
