-- The catalog: categories of apps, the apps (services) with their deployment templates, and the
-- plans they are sold in. Rows are soft-deleted (`deleted_at`) so history keeps its references.

CREATE TABLE categories (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    icon        text,
    sort_order  integer NOT NULL DEFAULT 0,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamp NOT NULL,
    updated_at  timestamp NOT NULL,
    deleted_at  timestamp
);

CREATE TABLE services (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    category_id       uuid NOT NULL REFERENCES categories (id),
    slug              text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name              text NOT NULL,
    short_description text NOT NULL DEFAULT '',
    description       text NOT NULL DEFAULT '',
    icon_url          text,
    documentation_url text,
    version           text NOT NULL,
    tags              text[] NOT NULL DEFAULT '{}',
    -- What to deploy: image, port, volumes, env, probes (catalog::DeploymentTemplate).
    template          jsonb NOT NULL,
    is_public         boolean NOT NULL DEFAULT true,
    is_active         boolean NOT NULL DEFAULT true,
    is_featured       boolean NOT NULL DEFAULT false,
    sort_order        integer NOT NULL DEFAULT 0,
    created_at        timestamp NOT NULL,
    updated_at        timestamp NOT NULL,
    deleted_at        timestamp
);

CREATE INDEX services_category_idx ON services (category_id);

CREATE TABLE plans (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_id             uuid NOT NULL REFERENCES services (id),
    name                   text NOT NULL,
    tier                   text NOT NULL
                           CHECK (tier IN ('FREE', 'BASIC', 'PRO', 'PREMIUM', 'ENTERPRISE')),
    description            text NOT NULL DEFAULT '',
    -- Whole rupiah per month.
    price_monthly          bigint NOT NULL CHECK (price_monthly >= 0),
    cpu_millicores         integer NOT NULL CHECK (cpu_millicores > 0),
    memory_mib             integer NOT NULL CHECK (memory_mib > 0),
    storage_gib            integer NOT NULL CHECK (storage_gib > 0),
    -- Instances of this plan the platform will run at once, and how many are taken.
    quota_total            integer NOT NULL CHECK (quota_total >= 0),
    quota_used             integer NOT NULL DEFAULT 0
                           CHECK (quota_used >= 0 AND quota_used <= quota_total),
    max_instances_per_user integer NOT NULL CHECK (max_instances_per_user > 0),
    features               jsonb NOT NULL DEFAULT '[]',
    is_popular             boolean NOT NULL DEFAULT false,
    is_active              boolean NOT NULL DEFAULT true,
    sort_order             integer NOT NULL DEFAULT 0,
    created_at             timestamp NOT NULL,
    updated_at             timestamp NOT NULL,
    deleted_at             timestamp
);

CREATE INDEX plans_service_idx ON plans (service_id);
CREATE UNIQUE INDEX plans_service_name_key ON plans (service_id, lower(name)) WHERE deleted_at IS NULL;
