-- Failed logins counted per email and source address (OWASP ASVS 2.2.1), not per account: an
-- attacker's guesses slow the attacker, never the owner signing in from elsewhere, and an email
-- nobody registered is throttled exactly like a real one, so the answers tell nothing. The row
-- with an empty email counts a source address's failures over every account.
CREATE TABLE login_failures (
    email          text NOT NULL,
    source         text NOT NULL,
    failures       integer NOT NULL CHECK (failures >= 0),
    last_failed_at timestamp NOT NULL,
    PRIMARY KEY (email, source)
);

CREATE INDEX login_failures_age_idx ON login_failures (last_failed_at);

ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN last_failed_login_at;
