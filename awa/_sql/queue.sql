-- Queue administration.

-- name: queue_pause :one
-- Pausing stops claims (the claim query checks queue_meta); inserts still land.
INSERT INTO awa.queue_meta AS m (queue, paused, paused_at, paused_by, updated_at)
VALUES (%(queue)s, true, now(), %(paused_by)s, now())
ON CONFLICT (queue) DO UPDATE
   SET paused = true, paused_at = now(), paused_by = EXCLUDED.paused_by, updated_at = now()
RETURNING queue, paused, paused_at, paused_by;

-- name: queue_resume :one
-- Resuming wakes the queue's workers: its jobs are claimable again.
WITH resumed AS (
    INSERT INTO awa.queue_meta AS m (queue, paused, updated_at)
    VALUES (%(queue)s, false, now())
    ON CONFLICT (queue) DO UPDATE
       SET paused = false, paused_at = NULL, paused_by = NULL, updated_at = now()
    RETURNING queue, paused, paused_at, paused_by
)
SELECT r.*, pg_notify(awa.queue_channel(r.queue), '') IS NULL AS notified FROM resumed AS r;

-- name: queue_drain :many
-- One batch of drain: cancel up to limit jobs of the queue that are waiting
-- to run (available, scheduled, retryable, waiting_external). Running jobs
-- are left to finish. A worker parked in wait_for_callback hears awa:cancel.
WITH hot AS (
    DELETE FROM awa.jobs_hot
     WHERE id IN (SELECT id FROM awa.jobs_hot
                   WHERE queue = %(queue)s AND state IN ('available', 'waiting_external')
                   ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING *
), deferred AS (
    DELETE FROM awa.scheduled_jobs
     WHERE id IN (SELECT id FROM awa.scheduled_jobs
                   WHERE queue = %(queue)s
                   ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING *
), moved AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args, 'cancelled', priority, attempt, max_attempts, run_at,
           heartbeat_at, deadline_at, attempted_at, now(), created_at,
           errors || jsonb_build_array(jsonb_build_object(
               'attempt', attempt, 'at', now(), 'type', 'Cancelled',
               'message', 'queue drained', 'terminal', true)),
           metadata, tags, unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL,
           run_lease, progress, concurrency_key, concurrency_limit
      FROM (SELECT * FROM hot UNION ALL SELECT * FROM deferred) AS r
    RETURNING id
)
SELECT m.id FROM moved AS m
  LEFT JOIN LATERAL (
      SELECT pg_notify('awa:cancel', json_build_object('job_id', h.id, 'run_lease', h.run_lease)::text)
        FROM hot AS h
       WHERE h.id = m.id AND h.state = 'waiting_external'
  ) AS n ON true;

-- name: queue_stats :many prepare=false
-- Per-queue counts by state, age of the oldest available job, completions in
-- the last hour and pause state. Counts scan the hot and deferred tables (kept
-- small) and only the last hour's completed partitions.
WITH live AS (
    SELECT queue, state, count(*) AS n, min(run_at) FILTER (WHERE state = 'available') AS oldest
      FROM (SELECT queue, state, run_at FROM awa.jobs_hot
            UNION ALL
            SELECT queue, state, run_at FROM awa.scheduled_jobs) AS j
     GROUP BY queue, state
), failed AS (
    SELECT queue, count(*) AS n FROM awa.jobs_failed WHERE state = 'failed' GROUP BY queue
), recent AS (
    SELECT queue, count(*) AS n FROM awa.jobs_completed
     WHERE finalized_at > now() - interval '1 hour' GROUP BY queue
), queues AS (
    SELECT queue FROM live UNION SELECT queue FROM failed
    UNION SELECT queue FROM recent UNION SELECT queue FROM awa.queue_meta
)
SELECT q.queue,
       COALESCE(sum(l.n) FILTER (WHERE l.state = 'scheduled'), 0)::bigint AS scheduled,
       COALESCE(sum(l.n) FILTER (WHERE l.state = 'available'), 0)::bigint AS available,
       COALESCE(sum(l.n) FILTER (WHERE l.state = 'running'), 0)::bigint AS running,
       COALESCE(sum(l.n) FILTER (WHERE l.state = 'retryable'), 0)::bigint AS retryable,
       COALESCE(sum(l.n) FILTER (WHERE l.state = 'waiting_external'), 0)::bigint AS waiting_external,
       COALESCE(max(f.n), 0)::bigint AS failed,
       COALESCE(max(r.n), 0)::bigint AS completed_last_hour,
       COALESCE(EXTRACT(EPOCH FROM now() - min(l.oldest)), 0)::float8 AS lag_seconds,
       COALESCE(bool_or(m.paused), false) AS paused
  FROM queues AS q
  LEFT JOIN live AS l ON l.queue = q.queue
  LEFT JOIN failed AS f ON f.queue = q.queue
  LEFT JOIN recent AS r ON r.queue = q.queue
  LEFT JOIN awa.queue_meta AS m ON m.queue = q.queue
 GROUP BY q.queue
 ORDER BY q.queue;
