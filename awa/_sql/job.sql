-- Producer and admin statements on jobs.
--
-- A job moves between tables with DELETE ... RETURNING feeding an INSERT in
-- the same statement, so it is always in exactly one table. Job tables share
-- one column order (jobs_hot's); moves list the columns explicitly.

-- name: job_insert :one
-- Insert one job. The database clock decides: run_at <= now() goes to
-- jobs_hot as available (the notify trigger wakes that queue's workers), a
-- later run_at to scheduled_jobs. run_at is absolute, or now() + delay.
-- A queue past its max_depth with the 'reject' policy gets no row (the
-- caller raises QueueFull); over_depth flags the 'warn' policy.
-- Only what the database decided comes back: the caller knows the rest.
WITH input AS (
    SELECT COALESCE(%(run_at)s::timestamptz, now() + %(delay)s::interval, now()) AS run_at
), over AS (
    SELECT m.depth_policy FROM awa.queue_meta AS m
     WHERE m.queue = %(queue)s AND m.max_depth IS NOT NULL AND m.depth_estimate >= m.max_depth
), allowed AS (
    SELECT input.run_at FROM input WHERE NOT EXISTS (SELECT 1 FROM over WHERE depth_policy = 'reject')
), keyed AS (
    INSERT INTO awa.concurrency_keys (key)
    SELECT %(concurrency_key)s::text FROM allowed WHERE %(concurrency_key)s::text IS NOT NULL
    ON CONFLICT (key) DO NOTHING
), hot AS (
    INSERT INTO awa.jobs_hot
        (kind, queue, args, state, priority, max_attempts, run_at, tags, metadata, unique_key,
         unique_states, concurrency_key, concurrency_limit)
    SELECT %(kind)s, %(queue)s, %(args)s::jsonb, 'available', %(priority)s, %(max_attempts)s, a.run_at,
           %(tags)s::text[], %(metadata)s::jsonb, %(unique_key)s::bytea, %(unique_states)s::bit(8),
           %(concurrency_key)s, %(concurrency_limit)s
      FROM allowed AS a
     WHERE a.run_at <= now()
    RETURNING id, state, run_at, created_at
), deferred AS (
    INSERT INTO awa.scheduled_jobs
        (kind, queue, args, state, priority, max_attempts, run_at, tags, metadata, unique_key,
         unique_states, concurrency_key, concurrency_limit)
    SELECT %(kind)s, %(queue)s, %(args)s::jsonb, 'scheduled', %(priority)s, %(max_attempts)s, a.run_at,
           %(tags)s::text[], %(metadata)s::jsonb, %(unique_key)s::bytea, %(unique_states)s::bit(8),
           %(concurrency_key)s, %(concurrency_limit)s
      FROM allowed AS a
     WHERE a.run_at > now()
    RETURNING id, state, run_at, created_at
)
SELECT j.*, EXISTS (SELECT 1 FROM over) AS over_depth
  FROM (SELECT * FROM hot UNION ALL SELECT * FROM deferred) AS j;

-- name: job_insert_now :one
-- job_insert for a job to run now (no run_at, no delay): it can only go to
-- jobs_hot, so the statement skips the scheduling branch (the common insert;
-- measured about 15 % cheaper for the server than job_insert).
WITH over AS (
    SELECT m.depth_policy FROM awa.queue_meta AS m
     WHERE m.queue = %(queue)s AND m.max_depth IS NOT NULL AND m.depth_estimate >= m.max_depth
), allowed AS (
    SELECT WHERE NOT EXISTS (SELECT 1 FROM over WHERE depth_policy = 'reject')
), keyed AS (
    INSERT INTO awa.concurrency_keys (key)
    SELECT %(concurrency_key)s::text FROM allowed WHERE %(concurrency_key)s::text IS NOT NULL
    ON CONFLICT (key) DO NOTHING
), hot AS (
    INSERT INTO awa.jobs_hot
        (kind, queue, args, state, priority, max_attempts, run_at, tags, metadata, unique_key,
         unique_states, concurrency_key, concurrency_limit)
    SELECT %(kind)s, %(queue)s, %(args)s::jsonb, 'available', %(priority)s, %(max_attempts)s, now(),
           %(tags)s::text[], %(metadata)s::jsonb, %(unique_key)s::bytea, %(unique_states)s::bit(8),
           %(concurrency_key)s, %(concurrency_limit)s
      FROM allowed
    RETURNING id, state, run_at, created_at
)
SELECT hot.*, EXISTS (SELECT 1 FROM over) AS over_depth FROM hot;

-- name: job_ids_allocate :one
-- Reserve ids for a COPY batch, so the caller knows them without RETURNING.
-- One array, not a row per id: the client decodes it in one go.
SELECT array(SELECT nextval('awa.jobs_id_seq') FROM generate_series(1, %(count)s)) AS ids;

-- name: job_unique_preclaim :many
-- Take the unique keys of a batch before copying it; returns the job ids that
-- got their key. The rows' insert trigger then finds the claim already theirs.
-- Within the batch the first job (array order) with a key wins it.
INSERT INTO awa.job_unique_claims (unique_key, job_id)
SELECT key, id FROM unnest(%(keys)s::bytea[], %(ids)s::bigint[]) AS c(key, id)
ON CONFLICT (unique_key) DO NOTHING
RETURNING job_id AS id;

-- name: job_unique_holders :many
-- Who holds each of these keys now.
SELECT unique_key, job_id FROM awa.job_unique_claims WHERE unique_key = ANY(%(keys)s::bytea[]);

-- name: job_unique_release :exec
-- Give back keys taken by job_unique_preclaim for a batch that is not written.
DELETE FROM awa.job_unique_claims WHERE job_id = ANY(%(ids)s::bigint[]);

-- name: concurrency_keys_ensure :exec
-- Make the key rows of a batch's keyed jobs (claims lock them to admit jobs).
INSERT INTO awa.concurrency_keys (key)
SELECT DISTINCT key FROM unnest(%(keys)s::text[]) AS k(key)
ON CONFLICT (key) DO NOTHING;

-- name: job_copy_hot :copy
-- Jobs to run now; run_at and created_at default to the database clock.
COPY awa.jobs_hot (id, kind, queue, args, priority, max_attempts, tags, metadata, unique_key, unique_states,
                   concurrency_key, concurrency_limit)
FROM STDIN;

-- name: job_copy_hot_at :copy
-- Jobs to run now with an explicit (past) run_at.
COPY awa.jobs_hot (id, kind, queue, args, priority, max_attempts, run_at, tags, metadata, unique_key, unique_states,
                   concurrency_key, concurrency_limit)
FROM STDIN;

-- name: job_copy_scheduled :copy
-- Jobs for later; the promoter makes them available when due.
COPY awa.scheduled_jobs (id, kind, queue, args, priority, max_attempts, run_at, tags, metadata, unique_key, unique_states,
                   concurrency_key, concurrency_limit)
FROM STDIN;

-- name: job_get :one
SELECT * FROM awa.jobs WHERE id = %(id)s;

-- name: job_list :many prepare=false
-- Newest first; cursor is the last id of the previous page. Not prepared, so
-- the planner sees the filter values and skips the tables they rule out.
SELECT * FROM awa.jobs
 WHERE (%(state)s::awa.job_state IS NULL OR state = %(state)s::awa.job_state)
   AND (%(kind)s::text IS NULL OR kind = %(kind)s)
   AND (%(queue)s::text IS NULL OR queue = %(queue)s)
   AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: job_retry :one
-- Admin retry: failed, cancelled, scheduled, retryable or waiting_external
-- become available now with a fresh attempt count. run_lease is kept, so a
-- worker still holding an old lease stays fenced out.
WITH from_terminal AS (
    DELETE FROM awa.jobs_terminal
     WHERE id = %(id)s AND state IN ('failed', 'cancelled')
    RETURNING *
), from_deferred AS (
    DELETE FROM awa.scheduled_jobs WHERE id = %(id)s
    RETURNING *
), moved AS (
    INSERT INTO awa.jobs_hot
    SELECT id, kind, queue, args, 'available', priority, 0, max_attempts, now(),
           NULL, NULL, attempted_at, NULL, created_at, errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, progress, concurrency_key, concurrency_limit
      FROM (SELECT * FROM from_terminal UNION ALL SELECT * FROM from_deferred) AS r
    RETURNING *
), woken AS (
    UPDATE awa.jobs_hot
       SET state = 'available', attempt = 0, run_at = now(), heartbeat_at = NULL, deadline_at = NULL,
           callback_id = NULL, callback_timeout_at = NULL, callback_filter = NULL,
           callback_on_complete = NULL, callback_on_fail = NULL, callback_transform = NULL
     WHERE id = %(id)s AND state = 'waiting_external'
    RETURNING *
)
SELECT * FROM moved
UNION ALL
SELECT w.* FROM woken AS w CROSS JOIN LATERAL (SELECT pg_notify(awa.queue_channel(w.queue), '')) AS n;

-- name: job_cancel :one
-- Admin cancel of any job not yet finished. A running or waiting job's worker
-- is told on channel awa:cancel; its own later writes miss on run_lease.
WITH from_hot AS (
    DELETE FROM awa.jobs_hot WHERE id = %(id)s
    RETURNING *
), from_deferred AS (
    DELETE FROM awa.scheduled_jobs WHERE id = %(id)s
    RETURNING *
), moved AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args, 'cancelled', priority, attempt, max_attempts, run_at,
           heartbeat_at, deadline_at, attempted_at, now(), created_at,
           errors || jsonb_build_array(jsonb_build_object(
               'attempt', attempt, 'at', now(), 'type', 'Cancelled',
               'message', %(reason)s::text, 'terminal', true)),
           metadata, tags, unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL,
           run_lease, progress, concurrency_key, concurrency_limit
      FROM (SELECT * FROM from_hot UNION ALL SELECT * FROM from_deferred) AS r
    RETURNING *
)
SELECT m.* FROM moved AS m
  LEFT JOIN LATERAL (
      SELECT pg_notify('awa:cancel', json_build_object('job_id', h.id, 'run_lease', h.run_lease)::text)
        FROM from_hot AS h
       WHERE h.state IN ('running', 'waiting_external')
  ) AS n ON true;

-- name: job_find_by_unique_key :one
-- The oldest unfinished job carrying this key.
SELECT id FROM (
    SELECT id FROM awa.jobs_hot WHERE unique_key = %(unique_key)s
    UNION ALL
    SELECT id FROM awa.scheduled_jobs WHERE unique_key = %(unique_key)s
) AS candidates
ORDER BY id
LIMIT 1;

-- name: jobs_retry_failed :many
-- One batch of retry_failed, in id order after the cursor. Jobs whose unique
-- key another job now holds are left failed (and counted by the caller).
WITH picked AS (
    SELECT id FROM awa.jobs_failed
     WHERE state = 'failed' AND id > %(after_id)s
       AND (%(kind)s::text IS NULL OR kind = %(kind)s)
       AND (%(queue)s::text IS NULL OR queue = %(queue)s)
     ORDER BY id
     LIMIT %(limit)s
     FOR UPDATE SKIP LOCKED
), moved AS (
    DELETE FROM awa.jobs_terminal AS t
     USING picked AS p
     WHERE t.id = p.id AND t.state = 'failed'
       AND NOT EXISTS (SELECT 1 FROM awa.job_unique_claims AS c
                        WHERE c.unique_key = t.unique_key AND c.job_id <> t.id)
    RETURNING t.*
), inserted AS (
    INSERT INTO awa.jobs_hot
    SELECT id, kind, queue, args, 'available', priority, 0, max_attempts, now(),
           NULL, NULL, attempted_at, NULL, created_at, errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, progress, concurrency_key, concurrency_limit
      FROM moved
    RETURNING id
)
SELECT p.id, (i.id IS NOT NULL) AS retried
  FROM picked AS p LEFT JOIN inserted AS i ON i.id = p.id
 ORDER BY p.id;

-- name: jobs_discard_failed :many
-- One batch of discard_failed, in id order after the cursor.
WITH picked AS (
    SELECT id FROM awa.jobs_failed
     WHERE state = 'failed' AND id > %(after_id)s
       AND (%(kind)s::text IS NULL OR kind = %(kind)s)
       AND (%(queue)s::text IS NULL OR queue = %(queue)s)
     ORDER BY id
     LIMIT %(limit)s
     FOR UPDATE SKIP LOCKED
)
DELETE FROM awa.jobs_terminal AS t
 USING picked AS p
 WHERE t.id = p.id AND t.state = 'failed'
RETURNING t.id;
