-- The demo catalog: three categories, three apps with real deployment templates, seven plans.
-- Safe to run again: existing rows are left as they are.

INSERT INTO categories (slug, name, description, icon, sort_order, created_at, updated_at)
VALUES
    ('development-tools', 'Development tools', 'Automation and tooling for builders', 'wrench', 1,
     now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'),
    ('cms', 'CMS', 'Publishing platforms for blogs, newsletters and sites', 'newspaper', 2,
     now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'),
    ('databases', 'Databases', 'Managed databases for your apps', 'database', 3,
     now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc')
ON CONFLICT (slug) DO NOTHING;

INSERT INTO services (category_id, slug, name, short_description, description, icon_url,
                      documentation_url, version, tags, template, is_featured, sort_order,
                      created_at, updated_at)
SELECT c.id, v.slug, v.name, v.short_description, v.description, v.icon_url, v.documentation_url,
       v.version, v.tags, v.template::jsonb, v.is_featured, v.sort_order,
       now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
FROM (VALUES
    ('development-tools', 'n8n', 'n8n',
     'Workflow automation with 400+ integrations',
     'n8n is a fair-code workflow automation platform: connect APIs, databases and apps with a visual editor, and run workflows on schedules or webhooks.',
     'https://n8n.io/favicon.ico', 'https://docs.n8n.io', '1.80.0',
     ARRAY['automation', 'workflow', 'integration', 'low-code'], true, 1,
     '{
        "image": "docker.n8n.io/n8nio/n8n:1.80.0",
        "port": 5678,
        "protocol": "http",
        "workload": "Deployment",
        "dataMountPath": "/home/node/.n8n",
        "env": [
          {"name": "N8N_HOST", "value": "{{host}}"},
          {"name": "N8N_PORT", "value": "5678"},
          {"name": "N8N_PROTOCOL", "value": "https"},
          {"name": "WEBHOOK_URL", "value": "{{publicUrl}}/"},
          {"name": "N8N_EDITOR_BASE_URL", "value": "{{publicUrl}}/"},
          {"name": "N8N_ENCRYPTION_KEY", "value": "{{secret:encryptionKey}}"},
          {"name": "GENERIC_TIMEZONE", "value": "Asia/Jakarta"},
          {"name": "N8N_DIAGNOSTICS_ENABLED", "value": "false"}
        ],
        "secrets": [{"name": "encryptionKey", "length": 32, "exposed": false}],
        "healthCheck": {"type": "http", "path": "/healthz"},
        "runAsUser": 1000,
        "fsGroup": 1000,
        "userEnv": ["GENERIC_TIMEZONE", "N8N_DEFAULT_LOCALE", "EXECUTIONS_DATA_PRUNE", "EXECUTIONS_DATA_MAX_AGE"],
        "firstVisitorSetup": true
      }'),
    ('cms', 'ghost', 'Ghost',
     'Professional publishing: blogs, newsletters, memberships',
     'Ghost is an open-source publishing platform for independent creators: a fast editor, newsletters, paid memberships and themes. Runs in production mode with its own MySQL 8 database.',
     'https://ghost.org/favicon.ico', 'https://ghost.org/docs', '5.109.0',
     ARRAY['blog', 'cms', 'newsletter', 'publishing'], true, 1,
     '{
        "image": "ghost:5.109.0-alpine",
        "port": 2368,
        "protocol": "http",
        "workload": "StatefulSet",
        "dataMountPath": "/var/lib/ghost/content",
        "env": [
          {"name": "url", "value": "{{publicUrl}}"},
          {"name": "NODE_ENV", "value": "production"},
          {"name": "database__client", "value": "mysql"},
          {"name": "database__connection__host", "value": "127.0.0.1"},
          {"name": "database__connection__port", "value": "3306"},
          {"name": "database__connection__user", "value": "ghost"},
          {"name": "database__connection__password", "value": "{{secret:databasePassword}}"},
          {"name": "database__connection__database", "value": "ghost"}
        ],
        "secrets": [
          {"name": "databasePassword", "length": 24, "exposed": false},
          {"name": "databaseRootPassword", "length": 24, "exposed": false}
        ],
        "healthCheck": {"type": "http", "path": "/ghost/api/admin/site/"},
        "runAsUser": 1000,
        "fsGroup": 1000,
        "companions": [{
          "name": "mysql",
          "image": "mysql:8.0",
          "port": 3306,
          "dataMountPath": "/var/lib/mysql",
          "runAsUser": 999,
          "env": [
            {"name": "MYSQL_ROOT_PASSWORD", "value": "{{secret:databaseRootPassword}}"},
            {"name": "MYSQL_DATABASE", "value": "ghost"},
            {"name": "MYSQL_USER", "value": "ghost"},
            {"name": "MYSQL_PASSWORD", "value": "{{secret:databasePassword}}"}
          ]
        }],
        "userEnv": ["mail__transport", "mail__from", "mail__options__host", "mail__options__port", "mail__options__auth__user", "mail__options__auth__pass"],
        "firstVisitorSetup": true
      }'),
    ('databases', 'postgresql', 'PostgreSQL',
     'The world''s most advanced open-source relational database',
     'A private PostgreSQL 16 server with persistent storage, reachable over TCP with generated credentials.',
     'https://www.postgresql.org/favicon.ico', 'https://www.postgresql.org/docs/16/', '16.6',
     ARRAY['database', 'sql', 'relational'], false, 1,
     '{
        "image": "postgres:16.6-alpine",
        "port": 5432,
        "protocol": "tcp",
        "workload": "StatefulSet",
        "dataMountPath": "/var/lib/postgresql/data",
        "env": [
          {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
          {"name": "POSTGRES_USER", "value": "app"},
          {"name": "POSTGRES_DB", "value": "app"},
          {"name": "POSTGRES_PASSWORD", "value": "{{secret:password}}"}
        ],
        "secrets": [{"name": "password", "length": 24, "exposed": true}],
        "healthCheck": {"type": "exec", "command": ["pg_isready", "-U", "app", "-d", "app", "-h", "127.0.0.1"]},
        "runAsUser": 70,
        "fsGroup": 70,
        "userEnv": ["TZ"]
      }')
) AS v (category, slug, name, short_description, description, icon_url, documentation_url,
        version, tags, is_featured, sort_order, template)
JOIN categories c ON c.slug = v.category
ON CONFLICT (slug) DO NOTHING;

INSERT INTO plans (service_id, name, tier, description, price_monthly, cpu_millicores, memory_mib,
                   storage_gib, quota_total, max_instances_per_user, is_popular, features,
                   sort_order, created_at, updated_at)
SELECT s.id, v.name, v.tier, v.description, v.price, v.cpu, v.memory, v.storage, v.quota,
       v.max_per_user, v.popular, v.features::jsonb, v.sort_order,
       now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
FROM (VALUES
    ('n8n', 'Free', 'FREE', 'Try workflows on a small instance', 0::bigint, 200, 256, 2, 10, 1, false,
     '["Unlimited workflows", "Community support"]', 1),
    ('n8n', 'Basic', 'BASIC', 'For individuals automating daily work', 50000, 500, 512, 5, 50, 1, true,
     '["Unlimited workflows", "Daily backups", "Email support"]', 2),
    ('n8n', 'Pro', 'PRO', 'For teams running production automations', 150000, 1000, 1024, 10, 25, 3, false,
     '["Unlimited workflows", "Daily backups", "Priority support"]', 3),
    ('ghost', 'Starter', 'FREE', 'A personal blog to get started', 0, 150, 512, 5, 15, 1, false,
     '["Custom themes", "Newsletters"]', 1),
    ('ghost', 'Creator', 'BASIC', 'For creators with a growing audience', 75000, 300, 1024, 10, 30, 1, true,
     '["Custom themes", "Newsletters", "Paid memberships", "Custom domain"]', 2),
    ('postgresql', 'Basic DB', 'BASIC', 'A small database for side projects', 25000, 100, 256, 10, 100, 2, true,
     '["Daily backups", "TCP access"]', 1),
    ('postgresql', 'Production DB', 'PRO', 'A database sized for production traffic', 100000, 500, 1024, 50, 50, 5, false,
     '["Daily backups", "TCP access", "Priority support"]', 2)
) AS v (service, name, tier, description, price, cpu, memory, storage, quota, max_per_user, popular,
        features, sort_order)
JOIN services s ON s.slug = v.service
ON CONFLICT (service_id, lower(name)) WHERE deleted_at IS NULL DO NOTHING;
