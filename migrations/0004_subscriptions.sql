-- Subscriptions to plans, and the instance each one runs.

CREATE TABLE subscriptions (
    id                   uuid PRIMARY KEY,
    user_id              uuid NOT NULL REFERENCES users (id),
    service_id           uuid NOT NULL REFERENCES services (id),
    plan_id              uuid NOT NULL REFERENCES plans (id),
    -- The plan before an upgrade, kept to undo it if the resize fails.
    previous_plan_id     uuid REFERENCES plans (id),
    status               text NOT NULL CHECK (status IN
                             ('ACTIVE', 'PENDING_UPGRADE', 'SUSPENDED', 'CANCELLED', 'EXPIRED')),
    -- The monthly price renewals charge: the plan's price when the period began.
    price_monthly        bigint NOT NULL CHECK (price_monthly >= 0),
    -- The price before an upgrade, to restore if it is undone.
    previous_price       bigint,
    period_start         timestamp NOT NULL,
    period_end           timestamp NOT NULL CHECK (period_end > period_start),
    -- The day of the month periods end on (shorter months end on their last day).
    anchor_day           integer NOT NULL CHECK (anchor_day BETWEEN 1 AND 31),
    auto_renew           boolean NOT NULL DEFAULT true,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    grace_ends_at        timestamp,
    failed_charges       integer NOT NULL DEFAULT 0,
    idempotency_key      text,
    ended_at             timestamp,
    created_at           timestamp NOT NULL,
    updated_at           timestamp NOT NULL,
    UNIQUE (user_id, idempotency_key)
);

-- One live subscription per user per service; ended ones stay as history.
CREATE UNIQUE INDEX subscriptions_one_live_per_service ON subscriptions (user_id, service_id)
    WHERE status IN ('ACTIVE', 'PENDING_UPGRADE', 'SUSPENDED');
CREATE INDEX subscriptions_user_idx ON subscriptions (user_id, created_at DESC);
CREATE INDEX subscriptions_due_idx ON subscriptions (period_end)
    WHERE status IN ('ACTIVE', 'SUSPENDED');

CREATE TABLE instances (
    id                    uuid PRIMARY KEY,
    subscription_id       uuid NOT NULL REFERENCES subscriptions (id),
    user_id               uuid NOT NULL REFERENCES users (id),
    name                  text NOT NULL,
    subdomain             text NOT NULL UNIQUE
                          CHECK (subdomain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    status                text NOT NULL CHECK (status IN ('PENDING', 'PROVISIONING', 'RUNNING',
                              'STOPPED', 'ERROR', 'SUSPENDED', 'TERMINATED')),
    -- Kubernetes names, derived from ids: DNS-safe and at most 63 characters.
    namespace             text NOT NULL,
    resource_name         text NOT NULL,
    custom_domain         text,
    env                   jsonb NOT NULL DEFAULT '{}',
    -- Set when the instance must go; the reconcile job deletes its resources.
    teardown_requested_at timestamp,
    created_at            timestamp NOT NULL,
    updated_at            timestamp NOT NULL
);

CREATE INDEX instances_subscription_idx ON instances (subscription_id);
CREATE INDEX instances_user_idx ON instances (user_id);
