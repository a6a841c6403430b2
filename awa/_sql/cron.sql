-- Periodic (cron) schedules.

-- name: cron_upsert :exec
-- Every process declares its schedules (at start and every sync interval).
-- Only the definition changes; last_enqueued_at and the pause state are kept,
-- and a schedule is never deleted by a sync (remove it explicitly).
INSERT INTO awa.cron_jobs AS c
    (name, cron_expr, timezone, kind, queue, args, priority, max_attempts, tags, metadata,
     missed_fire_policy)
VALUES (%(name)s, %(cron_expr)s, %(timezone)s, %(kind)s, %(queue)s, %(args)s::jsonb, %(priority)s,
        %(max_attempts)s, %(tags)s::text[], %(metadata)s::jsonb, %(missed_fire_policy)s)
ON CONFLICT (name) DO UPDATE
   SET cron_expr = EXCLUDED.cron_expr, timezone = EXCLUDED.timezone, kind = EXCLUDED.kind,
       queue = EXCLUDED.queue, args = EXCLUDED.args, priority = EXCLUDED.priority,
       max_attempts = EXCLUDED.max_attempts, tags = EXCLUDED.tags, metadata = EXCLUDED.metadata,
       missed_fire_policy = EXCLUDED.missed_fire_policy, updated_at = now()
 WHERE (c.cron_expr, c.timezone, c.kind, c.queue, c.args, c.priority, c.max_attempts, c.tags,
        c.metadata, c.missed_fire_policy)
       IS DISTINCT FROM
       (EXCLUDED.cron_expr, EXCLUDED.timezone, EXCLUDED.kind, EXCLUDED.queue, EXCLUDED.args,
        EXCLUDED.priority, EXCLUDED.max_attempts, EXCLUDED.tags, EXCLUDED.metadata,
        EXCLUDED.missed_fire_policy);

-- name: cron_list :many
-- Every schedule, with the database clock: fire times are computed from it,
-- never from a worker's clock.
SELECT c.*, now() AS db_now FROM awa.cron_jobs AS c ORDER BY name;

-- name: cron_get :one
SELECT c.*, now() AS db_now FROM awa.cron_jobs AS c WHERE name = %(name)s;

-- name: cron_fire :one
-- Enqueue one fire, exactly once: a compare-and-swap on last_enqueued_at and
-- the job insert in one statement. No row: another leader fired it first, or
-- the schedule was paused or removed meanwhile.
WITH fired AS (
    UPDATE awa.cron_jobs
       SET last_enqueued_at = %(fire)s
     WHERE name = %(name)s
       AND last_enqueued_at IS NOT DISTINCT FROM %(previous)s::timestamptz
       AND paused_at IS NULL
    RETURNING *
)
INSERT INTO awa.jobs_hot (kind, queue, args, priority, max_attempts, tags, metadata)
SELECT kind, queue, args, priority, max_attempts, tags,
       metadata || jsonb_build_object('cron_name', name, 'cron_fire_time', %(fire)s::timestamptz)
  FROM fired
RETURNING id;

-- name: cron_trigger :one
-- Run a schedule's job now, whatever its pause state; its fire history is untouched.
INSERT INTO awa.jobs_hot (kind, queue, args, priority, max_attempts, tags, metadata)
SELECT kind, queue, args, priority, max_attempts, tags,
       metadata || jsonb_build_object('cron_name', name, 'triggered_manually', true)
  FROM awa.cron_jobs
 WHERE name = %(name)s
RETURNING *;

-- name: cron_pause :one
UPDATE awa.cron_jobs SET paused_at = now(), paused_by = %(paused_by)s, updated_at = now()
 WHERE name = %(name)s
RETURNING name;

-- name: cron_resume :one
-- Resuming leaves last_enqueued_at alone: the missed-fire policy decides what
-- happens to the fires missed while paused.
UPDATE awa.cron_jobs SET paused_at = NULL, paused_by = NULL, updated_at = now()
 WHERE name = %(name)s
RETURNING name;

-- name: cron_remove :one
DELETE FROM awa.cron_jobs WHERE name = %(name)s RETURNING name;
