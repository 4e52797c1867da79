-- When the owner of an app with a first-visitor setup (n8n, Ghost) said they had set it up:
-- until then its Ingress asks for the gate's credentials, so nobody else can take the app over.
ALTER TABLE instances ADD COLUMN claimed_at timestamp;
