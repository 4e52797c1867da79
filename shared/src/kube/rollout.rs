use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};

/// A workload whose rollout can be judged.
pub enum Rollout<'a> {
    Deployment(&'a Deployment),
    StatefulSet(&'a StatefulSet),
}

/// Whether the workload is available, by the rules `kubectl rollout status` uses: the controller
/// has seen the latest spec, every replica runs it, no old replica is left, and the updated ones
/// are available (ready, for a StatefulSet, on its update revision).
pub fn rollout_complete(workload: Rollout<'_>) -> bool {
    match workload {
        Rollout::Deployment(d) => {
            let (spec, Some(status)) = (&d.spec, &d.status) else {
                return false;
            };
            let generation = d.metadata.generation.unwrap_or(0);
            let wanted = spec.replicas.unwrap_or(1);
            let updated = status.updated_replicas.unwrap_or(0);
            status.observed_generation.unwrap_or(0) >= generation
                && updated >= wanted
                && status.replicas.unwrap_or(0) <= updated
                && status.available_replicas.unwrap_or(0) >= updated
        }
        Rollout::StatefulSet(s) => {
            let (spec, Some(status)) = (&s.spec, &s.status) else {
                return false;
            };
            let generation = s.metadata.generation.unwrap_or(0);
            let wanted = spec.replicas.unwrap_or(1);
            status.observed_generation.unwrap_or(0) >= generation
                && status.ready_replicas.unwrap_or(0) >= wanted
                && status.updated_replicas.unwrap_or(0) >= wanted
                && status.current_revision == status.update_revision
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn deployment(
        generation: i64,
        observed: i64,
        replicas: i32,
        updated: i32,
        total: i32,
        available: i32,
    ) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(generation),
                ..Default::default()
            },
            spec: DeploymentSpec {
                replicas: Some(replicas),
                ..Default::default()
            },
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                updated_replicas: Some(updated),
                replicas: Some(total),
                available_replicas: Some(available),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn deployments_follow_kubectls_rules() {
        assert!(rollout_complete(Rollout::Deployment(&deployment(
            2, 2, 1, 1, 1, 1
        ))));
        assert!(
            !rollout_complete(Rollout::Deployment(&deployment(3, 2, 1, 1, 1, 1))),
            "spec not observed"
        );
        assert!(
            !rollout_complete(Rollout::Deployment(&deployment(2, 2, 1, 0, 1, 1))),
            "not updated"
        );
        assert!(
            !rollout_complete(Rollout::Deployment(&deployment(2, 2, 1, 1, 2, 1))),
            "old replica left"
        );
        assert!(
            !rollout_complete(Rollout::Deployment(&deployment(2, 2, 1, 1, 1, 0))),
            "not available"
        );
        assert!(
            rollout_complete(Rollout::Deployment(&deployment(2, 2, 0, 0, 0, 0))),
            "scaled to zero"
        );
    }
}
