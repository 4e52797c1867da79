-- Custom domains are attached only once their owner has proved control of them (a TXT record at
-- _spincat-challenge.<domain> holding the token), and then to one live instance only.
ALTER TABLE instances
    ADD COLUMN domain_token       text,
    ADD COLUMN domain_verified_at timestamp;

-- Domains set before this were never proved: they wait for their record like a new one, and
-- the next apply takes them off their Ingress.
UPDATE instances
SET custom_domain = lower(custom_domain),
    domain_token = replace(gen_random_uuid()::text, '-', ''),
    apply_pending = true
WHERE custom_domain IS NOT NULL;

ALTER TABLE instances
    ADD CONSTRAINT instances_custom_domain_lower CHECK (custom_domain = lower(custom_domain)),
    ADD CONSTRAINT instances_custom_domain_token
        CHECK (custom_domain IS NULL OR domain_token IS NOT NULL);

CREATE UNIQUE INDEX instances_one_live_custom_domain ON instances (lower(custom_domain))
    WHERE domain_verified_at IS NOT NULL AND status NOT IN ('ERROR', 'TERMINATED');
