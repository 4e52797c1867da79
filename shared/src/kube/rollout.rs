use super::objects::Workload;

/// The two kinds of workload an app runs as, whose rollouts are judged differently.
#[derive(Debug, Clone, Copy)]
pub enum Rollout {
    Deployment,
    StatefulSet,
}

/// Whether the workload is available, by the rules `kubectl rollout status` uses: the controller
/// has seen the latest spec, every replica runs it, no old replica is left, and the updated ones
/// are available (ready, for a StatefulSet, on its update revision).
pub fn rollout_complete(kind: Rollout, workload: &Workload) -> bool {
    let Some(status) = &workload.status else {
        return false;
    };
    let generation = workload.metadata.generation.unwrap_or(0);
    let wanted = workload.spec.replicas.unwrap_or(1);
    let observed = status.observed_generation.unwrap_or(0) >= generation;
    match kind {
        Rollout::Deployment => {
            let updated = status.updated_replicas.unwrap_or(0);
            observed
                && updated >= wanted
                && status.replicas.unwrap_or(0) <= updated
                && status.available_replicas.unwrap_or(0) >= updated
        }
        Rollout::StatefulSet => {
            observed
                && status.ready_replicas.unwrap_or(0) >= wanted
                && status.updated_replicas.unwrap_or(0) >= wanted
                && status.current_revision == status.update_revision
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Deployment as the API server answers it, status and all.
    fn deployment(
        generation: i64,
        observed: i64,
        replicas: i32,
        updated: i32,
        total: i32,
        available: i32,
    ) -> Workload {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "generation": generation, "labels": {"a": "b"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app"}]}}},
            "status": {
                "observedGeneration": observed,
                "updatedReplicas": updated,
                "replicas": total,
                "availableReplicas": available,
                "conditions": [{"type": "Available", "status": "True"}],
            },
        }))
        .unwrap()
    }

    fn complete(workload: Workload) -> bool {
        rollout_complete(Rollout::Deployment, &workload)
    }

    #[test]
    fn deployments_follow_kubectls_rules() {
        assert!(complete(deployment(2, 2, 1, 1, 1, 1)));
        assert!(!complete(deployment(3, 2, 1, 1, 1, 1)), "spec not observed");
        assert!(!complete(deployment(2, 2, 1, 0, 1, 1)), "not updated");
        assert!(!complete(deployment(2, 2, 1, 1, 2, 1)), "old replica left");
        assert!(!complete(deployment(2, 2, 1, 1, 1, 0)), "not available");
        assert!(complete(deployment(2, 2, 0, 0, 0, 0)), "scaled to zero");
    }

    #[test]
    fn a_workload_without_status_is_not_available() {
        let fresh: Workload =
            serde_json::from_str(r#"{"metadata":{"generation":1},"spec":{"replicas":1}}"#).unwrap();
        assert!(!rollout_complete(Rollout::StatefulSet, &fresh));
    }
}
