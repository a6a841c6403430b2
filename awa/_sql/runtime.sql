-- Worker statements. Every write after the claim is fenced by the lease:
-- it matches (id, run_lease, state = 'running'); a row that does not match is
-- a stale attempt (rescued, cancelled or re-claimed) and is left untouched.
-- Batches lock their rows in id order first, so two batches (completions and
-- heartbeats of the same worker) can't deadlock.

-- name: job_claim_many :many
-- Claim up to limit available jobs of a queue in claim order (priority,
-- run_at, id). The CTE is needed: as a FROM-subquery the planner may merge it
-- and ignore LIMIT. The outer state = 'available' re-check stops a row that
-- another claimer updated after our snapshot from being claimed twice.
-- Keyed jobs (concurrency_key) are admitted only while their key's row is
-- locked here and its running count stays within the job's limit; keys at
-- their limit are skipped when picking candidates, and a key seen for the
-- first time gets its row now (its jobs are admitted from the next claim).
-- The running counts change through triggers on jobs_hot.
-- Index: jobs_hot_claim (queue, priority, run_at, id) WHERE state = 'available'.
WITH candidates AS (
    SELECT j.id, j.priority, j.run_at, j.concurrency_key, j.concurrency_limit
      FROM awa.jobs_hot AS j
     WHERE j.state = 'available' AND j.queue = %(queue)s AND j.run_at <= now()
       AND NOT EXISTS (SELECT 1 FROM awa.queue_meta AS m WHERE m.queue = %(queue)s AND m.paused)
       AND (j.concurrency_key IS NULL
            OR NOT EXISTS (SELECT 1 FROM awa.concurrency_keys AS k
                            WHERE k.key = j.concurrency_key AND k.running >= j.concurrency_limit))
     ORDER BY j.priority, j.run_at, j.id
     LIMIT %(limit)s
       FOR UPDATE OF j SKIP LOCKED
), new_keys AS (
    INSERT INTO awa.concurrency_keys (key)
    SELECT DISTINCT concurrency_key FROM candidates WHERE concurrency_key IS NOT NULL
    ON CONFLICT (key) DO NOTHING
), keys AS (
    SELECT k.key, k.running FROM awa.concurrency_keys AS k
     WHERE k.key IN (SELECT concurrency_key FROM candidates WHERE concurrency_key IS NOT NULL)
       FOR UPDATE SKIP LOCKED
), admitted AS (
    SELECT c.id
      FROM (SELECT c.*, row_number() OVER (PARTITION BY c.concurrency_key
                                           ORDER BY c.priority, c.run_at, c.id) AS nth
              FROM candidates AS c) AS c
      LEFT JOIN keys AS k ON k.key = c.concurrency_key
     WHERE c.concurrency_key IS NULL OR c.nth + k.running <= c.concurrency_limit
)
UPDATE awa.jobs_hot AS j
   SET state = 'running', attempt = j.attempt + 1, run_lease = j.run_lease + 1,
       attempted_at = now(), heartbeat_at = now(),
       deadline_at = CASE WHEN %(deadline)s::float8 > 0
                          THEN now() + make_interval(secs => %(deadline)s::float8) END
  FROM admitted AS a
 WHERE j.id = a.id AND j.state = 'available'
RETURNING j.*;

-- name: job_complete_many :many
-- Batched completion: running -> completed (progress cleared). With keep
-- false the rows are deleted instead of kept for retention. Returns the
-- (id, run_lease) pairs that were accepted; the others were stale.
WITH input AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(leases)s::bigint[]) AS f(id, lease)
), locked AS (
    SELECT h.id FROM awa.jobs_hot AS h JOIN input AS i ON h.id = i.id AND h.run_lease = i.lease
     WHERE h.state = 'running'
     ORDER BY h.id
       FOR UPDATE OF h
), done AS (
    DELETE FROM awa.jobs_hot AS h USING input AS i
     WHERE h.id = i.id AND h.run_lease = i.lease AND h.state = 'running'
       AND h.id IN (SELECT id FROM locked)
    RETURNING h.*
), kept AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args, 'completed', priority, attempt, max_attempts, run_at,
           heartbeat_at, deadline_at, attempted_at, now(), created_at, errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, NULL, concurrency_key, concurrency_limit
      FROM done
     WHERE %(keep)s::boolean
)
SELECT id, run_lease FROM done;

-- name: job_finalize_many :many
-- Batched non-success outcomes, one action per row:
--   retry  -> retryable at now() + delay (or the backoff when delay is null)
--   snooze -> scheduled at now() + delay, the attempt given back
--   fail   -> failed;  cancel -> cancelled
-- error (nullable) is appended to errors with the database time; progress
-- (nullable = keep) is the handler's last snapshot.
WITH input AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(leases)s::bigint[], %(actions)s::text[],
                         %(delays)s::float8[], %(errors)s::jsonb[], %(progress)s::jsonb[])
        AS f(id, lease, action, delay, error, progress)
), locked AS (
    SELECT h.id FROM awa.jobs_hot AS h JOIN input AS i ON h.id = i.id AND h.run_lease = i.lease
     WHERE h.state = 'running'
     ORDER BY h.id
       FOR UPDATE OF h
), gone AS (
    DELETE FROM awa.jobs_hot AS h USING input AS i
     WHERE h.id = i.id AND h.run_lease = i.lease AND h.state = 'running'
       AND h.id IN (SELECT id FROM locked)
    RETURNING h.*, i.action, i.delay,
              CASE WHEN i.error IS NULL THEN h.errors
                   ELSE h.errors || jsonb_build_array(i.error || jsonb_build_object('at', now())) END
                  AS new_errors,
              COALESCE(i.progress, h.progress) AS new_progress
), finished AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args,
           (CASE WHEN action = 'cancel' THEN 'cancelled' ELSE 'failed' END)::awa.job_state,
           priority, attempt, max_attempts, run_at, heartbeat_at, deadline_at, attempted_at, now(),
           created_at, new_errors, metadata, tags, unique_key, unique_states,
           NULL, NULL, NULL, NULL, NULL, NULL, run_lease, new_progress, concurrency_key, concurrency_limit
      FROM gone
     WHERE action IN ('fail', 'cancel')
    RETURNING id, run_lease, state
), deferred AS (
    INSERT INTO awa.scheduled_jobs
    SELECT id, kind, queue, args,
           (CASE WHEN action = 'snooze' THEN 'scheduled' ELSE 'retryable' END)::awa.job_state,
           priority,
           CASE WHEN action = 'snooze' THEN GREATEST(attempt - 1, 0) ELSE attempt END,
           max_attempts,
           now() + CASE WHEN delay IS NULL THEN awa.backoff_duration(attempt, max_attempts)
                        ELSE make_interval(secs => delay) END,
           NULL, NULL, attempted_at, now(), created_at, new_errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, new_progress, concurrency_key, concurrency_limit
      FROM gone
     WHERE action IN ('retry', 'snooze')
    RETURNING id, run_lease, state
)
SELECT id, run_lease, state::text AS state FROM finished
UNION ALL
SELECT id, run_lease, state::text AS state FROM deferred;

-- name: job_hand_back_many :many
-- Shutdown: give running jobs back as available at once (attempt returned,
-- run_lease kept so the old attempt stays fenced) and wake their queues.
WITH input AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(leases)s::bigint[], %(progress)s::jsonb[])
        AS f(id, lease, progress)
), locked AS (
    SELECT h.id, i.lease, i.progress FROM awa.jobs_hot AS h
      JOIN input AS i ON h.id = i.id AND h.run_lease = i.lease
     WHERE h.state = 'running'
     ORDER BY h.id
       FOR UPDATE OF h
), back AS (
    UPDATE awa.jobs_hot AS h
       SET state = 'available', attempt = GREATEST(h.attempt - 1, 0),
           heartbeat_at = NULL, deadline_at = NULL, progress = COALESCE(l.progress, h.progress)
      FROM locked AS l
     WHERE h.id = l.id AND h.run_lease = l.lease AND h.state = 'running'
    RETURNING h.id, h.run_lease, h.queue
), woken AS (
    SELECT pg_notify(awa.queue_channel(q.queue), '') FROM (SELECT DISTINCT queue FROM back) AS q
)
SELECT id, run_lease FROM back WHERE (SELECT count(*) FROM woken) >= 0;

-- name: job_heartbeat_many :many
-- Refresh heartbeat_at of this worker's running jobs; progress (nullable =
-- unchanged) rides along. A token missing from the result has lost its lease.
WITH input AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(leases)s::bigint[], %(progress)s::jsonb[])
        AS f(id, lease, progress)
), locked AS (
    SELECT h.id, i.lease, i.progress FROM awa.jobs_hot AS h
      JOIN input AS i ON h.id = i.id AND h.run_lease = i.lease
     WHERE h.state = 'running'
     ORDER BY h.id
       FOR NO KEY UPDATE OF h  -- not blocked by a job.transaction() holding KEY SHARE
)
UPDATE awa.jobs_hot AS h
   SET heartbeat_at = now(), progress = COALESCE(l.progress, h.progress)
  FROM locked AS l
 WHERE h.id = l.id AND h.run_lease = l.lease AND h.state = 'running'
RETURNING h.id, h.run_lease;

-- name: job_progress_set :one
-- flush_progress(): write one attempt's progress now.
UPDATE awa.jobs_hot SET progress = %(progress)s::jsonb
 WHERE id = %(id)s AND run_lease = %(lease)s AND state = 'running'
RETURNING id;
