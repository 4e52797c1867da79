-- Renewals and notifications.

ALTER TABLE subscriptions
    ADD COLUMN suspended_at       timestamp,
    -- The renewal run that last looked at this subscription, so one run looks at each once.
    ADD COLUMN last_renewal_run   uuid;

CREATE INDEX subscriptions_suspended_idx ON subscriptions (suspended_at) WHERE status = 'SUSPENDED';

CREATE TABLE notifications (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id),
    kind            text NOT NULL CHECK (kind IN ('LOW_CREDIT', 'GRACE_STARTED', 'GRACE_REMINDER',
                        'SUSPENDED', 'EXPIRED', 'RENEWED', 'TOP_UP_SETTLED')),
    subscription_id uuid REFERENCES subscriptions (id),
    title           text NOT NULL,
    body            text NOT NULL,
    -- One notification per event: `renewed:<subscription>:<period start>`, ...
    dedupe_key      text NOT NULL UNIQUE,
    created_at      timestamp NOT NULL,
    read_at         timestamp,
    -- When the outbound webhook accepted it (if one is configured).
    delivered_at    timestamp
);

CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);
CREATE INDEX notifications_undelivered_idx ON notifications (created_at) WHERE delivered_at IS NULL;
