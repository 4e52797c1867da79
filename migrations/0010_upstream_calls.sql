-- Requests of one user waiting on Midtrans or Kubernetes right now: a slow upstream must not let
-- one user pile up requests without end. A row outlives a crashed request only until it expires.
CREATE TABLE upstream_calls (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id),
    expires_at timestamp NOT NULL
);

CREATE INDEX upstream_calls_user_idx ON upstream_calls (user_id);
