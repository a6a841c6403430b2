-- Least-privilege roles (awa.schema.roles_sql, client.grant_roles, `awa roles`).
-- Run by the schema's owner (the role that ran the migrations), after every
-- migration; idempotent. {worker} and {reader} are existing roles, composed in
-- as quoted identifiers.

-- name: roles_secure_partition_functions :exec prepare=false
-- Partition maintenance creates and drops tables, which only the owner may
-- do: these functions run as their owner, with a fixed search_path, and only
-- roles granted EXECUTE (workers) may call them.
ALTER FUNCTION awa.create_terminal_partition(text, timestamptz, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION awa.ensure_terminal_partitions(interval)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION awa.drop_terminal_partitions(text, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION awa.create_terminal_partition(text, timestamptz, timestamptz),
    awa.ensure_terminal_partitions(interval),
    awa.drop_terminal_partitions(text, timestamptz) FROM PUBLIC;

-- name: roles_grant_worker :exec prepare=false
-- What a worker (and a producer) needs: read and write job rows, queue and
-- cron state, runtime snapshots; draw job ids; run partition maintenance.
-- Not: create, alter, drop or truncate anything, or record migrations.
GRANT USAGE ON SCHEMA awa TO {worker};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA awa TO {worker};
REVOKE INSERT, UPDATE, DELETE ON awa.schema_version FROM {worker};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA awa TO {worker};
GRANT EXECUTE ON FUNCTION awa.create_terminal_partition(text, timestamptz, timestamptz),
    awa.ensure_terminal_partitions(interval),
    awa.drop_terminal_partitions(text, timestamptz) TO {worker};
ALTER DEFAULT PRIVILEGES IN SCHEMA awa GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {worker};
ALTER DEFAULT PRIVILEGES IN SCHEMA awa GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {worker};

-- name: roles_grant_reader :exec prepare=false
-- What the web UI in read-only mode and monitoring need: read, nothing else.
GRANT USAGE ON SCHEMA awa TO {reader};
GRANT SELECT ON ALL TABLES IN SCHEMA awa TO {reader};
ALTER DEFAULT PRIVILEGES IN SCHEMA awa GRANT SELECT ON TABLES TO {reader};

-- name: roles_missing :many
-- Which of the given role names do not exist.
SELECT name FROM unnest(%(names)s::text[]) AS name
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name);
