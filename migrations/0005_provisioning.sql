-- What provisioning needs to know about an instance between runs of the reconcile job.

ALTER TABLE instances
    -- The plan whose resources the cluster last accepted; differing from the subscription's plan
    -- means the workload must be (re)applied.
    ADD COLUMN applied_plan_id uuid REFERENCES plans (id),
    -- Set while manifests are being applied: an apply that was cut short is redone.
    ADD COLUMN apply_pending   boolean NOT NULL DEFAULT false,
    -- Bumped by a restart; rendered as a pod-template annotation so every apply keeps it.
    ADD COLUMN restarted_at    timestamp,
    ADD COLUMN torn_down_at    timestamp,
    ADD COLUMN last_error      text,
    ADD COLUMN last_checked_at timestamp,
    ADD COLUMN ready           boolean NOT NULL DEFAULT false;

CREATE INDEX instances_work_idx ON instances (status)
    WHERE status IN ('PENDING', 'PROVISIONING') OR (teardown_requested_at IS NOT NULL AND torn_down_at IS NULL);
