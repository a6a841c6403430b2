-- Transaction control and schema bookkeeping.

-- name: tx_begin :exec
BEGIN;

-- name: tx_commit :exec
COMMIT;

-- name: tx_rollback :exec
ROLLBACK;

-- name: schema_version_exists :one
-- Whether awa was ever migrated here (the version table exists).
SELECT to_regclass('awa.schema_version') IS NOT NULL AS present;

-- name: schema_version_current :one
SELECT COALESCE(max(version), 0) AS version FROM awa.schema_version;

-- name: schema_migration_lock :exec
-- Serialises concurrent migrators until the end of their transaction.
-- Key 0x4157415f4d494752 = "AWA_MIGR".
SELECT pg_advisory_xact_lock(4708303813013489490);

-- name: schema_version_record :exec
INSERT INTO awa.schema_version (version, description) VALUES (%(version)s, %(description)s)
ON CONFLICT (version) DO NOTHING;

-- name: health_ping :one
SELECT 1 AS ok;
