-- Accounts and their sessions. Instants are `timestamp` holding UTC: Spin's Postgres host cannot
-- read `timestamptz`.

CREATE TABLE users (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                text NOT NULL UNIQUE CHECK (email = lower(email)),
    name                 text NOT NULL,
    phone                text,
    password_hash        text NOT NULL,
    role                 text NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'ADMINISTRATOR')),
    is_active            boolean NOT NULL DEFAULT true,
    -- Login attempts counted within the current lockout window (see auth::users).
    failed_logins        integer NOT NULL DEFAULT 0,
    last_failed_login_at timestamp,
    created_at           timestamp NOT NULL,
    updated_at           timestamp NOT NULL
);

-- Refresh tokens are stored as SHA-256 digests only. Every rotation adds a token to the same
-- family; presenting a rotated token again revokes the whole family.
CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    uuid NOT NULL,
    token_digest text NOT NULL UNIQUE,
    issued_at    timestamp NOT NULL,
    expires_at   timestamp NOT NULL,
    rotated_at   timestamp,
    revoked_at   timestamp
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
