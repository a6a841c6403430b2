-- Callbacks: jobs parked for an external system to finish.
--
-- A callback id belongs to one attempt: registering is fenced by the lease,
-- and every resolution matches the id with state running or waiting_external
-- and clears it in the same statement, so a callback resolves at most once.
-- Rescue, timeout, admin cancel and admin retry clear it too: an old id is
-- then rejected (no row).

-- name: job_callback_register :one
-- Fenced: the handler's attempt must still hold the job. A new registration
-- replaces the previous id (which becomes stale).
UPDATE awa.jobs_hot
   SET callback_id = gen_random_uuid(),
       callback_timeout_at = now() + make_interval(secs => %(timeout)s::float8),
       callback_filter = %(filter)s, callback_on_complete = %(on_complete)s,
       callback_on_fail = %(on_fail)s, callback_transform = %(transform)s,
       metadata = metadata - 'awa:callback_result'
 WHERE id = %(id)s AND run_lease = %(lease)s AND state = 'running'
RETURNING callback_id, callback_timeout_at;

-- name: job_park_many :many
-- WaitForCallback: running -> waiting_external, heartbeat and deadline off,
-- the worker slot freed. Fenced by the lease and by the callback id still
-- being the one registered (an early resolution already took it).
WITH input AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(leases)s::bigint[], %(callbacks)s::uuid[],
                         %(progress)s::jsonb[]) AS f(id, lease, callback, progress)
), locked AS (
    SELECT h.id, i.lease, i.callback, i.progress FROM awa.jobs_hot AS h
      JOIN input AS i ON h.id = i.id AND h.run_lease = i.lease
     WHERE h.state = 'running' AND h.callback_id = i.callback
     ORDER BY h.id
       FOR UPDATE OF h
), parked AS (
    UPDATE awa.jobs_hot AS h
       SET state = 'waiting_external', heartbeat_at = NULL, deadline_at = NULL,
           progress = COALESCE(l.progress, h.progress)
      FROM locked AS l
     WHERE h.id = l.id AND h.run_lease = l.lease AND h.state = 'running'
       AND h.callback_id = l.callback
    RETURNING h.id, h.run_lease
), woken AS (
    -- waiting_external counts as an outcome for wait_for()
    SELECT pg_notify('awa:finished', string_agg(id::text, ',')) FROM parked HAVING count(*) > 0
)
SELECT id, run_lease FROM parked WHERE (SELECT count(*) FROM woken) >= 0;

-- name: job_callback_result_take :one
-- wait_for_callback(): take the payload a resume stored for this attempt
-- (fenced; no row: nothing there yet, or the lease is gone).
WITH found AS (
    SELECT id, metadata -> 'awa:callback_result' AS result FROM awa.jobs_hot
     WHERE id = %(id)s AND run_lease = %(lease)s AND state = 'running'
       AND metadata ? 'awa:callback_result'
       FOR NO KEY UPDATE
), taken AS (
    UPDATE awa.jobs_hot AS h SET metadata = h.metadata - 'awa:callback_result'
      FROM found AS f WHERE h.id = f.id
    RETURNING h.id
)
SELECT f.result FROM found AS f JOIN taken AS t ON t.id = f.id;

-- name: job_callback_wait_state :one
-- An in-handler wait: does this attempt still hold the job, and how long
-- until its callback times out (by the database clock; NULL: no timeout)?
SELECT extract(epoch FROM callback_timeout_at - now())::float8 AS remaining
  FROM awa.jobs_hot
 WHERE id = %(id)s AND run_lease = %(lease)s AND state = 'running'
   AND callback_id = %(callback_id)s;

-- name: callback_lock :one
-- resolve_callback(): lock the row so CEL is evaluated against a callback
-- that can't be resolved by anyone else meanwhile.
SELECT id, run_lease, attempt, state, callback_id, callback_filter, callback_on_complete,
       callback_on_fail, callback_transform
  FROM awa.jobs_hot
 WHERE callback_id = %(callback_id)s AND state IN ('running', 'waiting_external')
   FOR UPDATE;

-- name: callback_complete :one
-- waiting_external (or running: an early callback) -> completed. A running
-- handler is told to stop (its later writes would be refused anyway).
WITH gone AS (
    DELETE FROM awa.jobs_hot
     WHERE callback_id = %(callback_id)s AND state IN ('running', 'waiting_external')
    RETURNING *
), done AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args, 'completed', priority, attempt, max_attempts, run_at,
           heartbeat_at, deadline_at, attempted_at, now(), created_at, errors,
           CASE WHEN %(payload)s::jsonb IS NULL THEN metadata
                ELSE metadata || jsonb_build_object('awa:callback_payload', %(payload)s::jsonb) END,
           tags, unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, NULL,
           concurrency_key, concurrency_limit
      FROM gone
    RETURNING *
)
SELECT d.* FROM done AS d
  LEFT JOIN LATERAL (
      SELECT pg_notify('awa:cancel', json_build_object('job_id', g.id, 'run_lease', g.run_lease)::text)
        FROM gone AS g WHERE g.id = d.id AND g.state = 'running'
  ) AS n ON true;

-- name: callback_fail :one
-- -> failed, with the external error appended.
WITH gone AS (
    DELETE FROM awa.jobs_hot
     WHERE callback_id = %(callback_id)s AND state IN ('running', 'waiting_external')
    RETURNING *
), done AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args, 'failed', priority, attempt, max_attempts, run_at,
           heartbeat_at, deadline_at, attempted_at, now(), created_at,
           errors || jsonb_build_array(%(error)s::jsonb || jsonb_build_object('at', now())),
           metadata, tags, unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL,
           run_lease, progress, concurrency_key, concurrency_limit
      FROM gone
    RETURNING *
)
SELECT d.* FROM done AS d
  LEFT JOIN LATERAL (
      SELECT pg_notify('awa:cancel', json_build_object('job_id', g.id, 'run_lease', g.run_lease)::text)
        FROM gone AS g WHERE g.id = d.id AND g.state = 'running'
  ) AS n ON true;

-- name: callback_retry :one
-- waiting_external -> retryable now (promoted at once), or failed when the
-- job has used its attempts.
WITH gone AS (
    DELETE FROM awa.jobs_hot
     WHERE callback_id = %(callback_id)s AND state = 'waiting_external'
    RETURNING *
), failed AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args, 'failed', priority, attempt, max_attempts, run_at,
           heartbeat_at, deadline_at, attempted_at, now(), created_at,
           errors || jsonb_build_array(jsonb_build_object(
               'attempt', attempt, 'at', now(), 'type', 'CallbackRetry',
               'message', 'retry requested by the external system; attempts exhausted',
               'terminal', true)),
           metadata, tags, unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL,
           run_lease, progress, concurrency_key, concurrency_limit
      FROM gone WHERE attempt >= max_attempts
    RETURNING *
), retried AS (
    INSERT INTO awa.scheduled_jobs
    SELECT id, kind, queue, args, 'retryable', priority, attempt, max_attempts, now(),
           NULL, NULL, attempted_at, now(), created_at, errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, progress,
           concurrency_key, concurrency_limit
      FROM gone WHERE attempt < max_attempts
    RETURNING *
)
SELECT * FROM failed UNION ALL SELECT * FROM retried;

-- name: callback_resume :one
-- Hand the payload to the handler. A handler waiting in-process
-- (wait_for_callback, job running) is woken on awa:callback; a parked job
-- (waiting_external) becomes available to run again, the attempt given back
-- (parking and resuming are one attempt), and finds the payload in
-- job.callback_result.
UPDATE awa.jobs_hot
   SET state = 'available',
       attempt = GREATEST(attempt - 1, 0),
       run_at = now(),
       callback_id = NULL, callback_timeout_at = NULL, callback_filter = NULL,
       callback_on_complete = NULL, callback_on_fail = NULL, callback_transform = NULL,
       metadata = metadata || jsonb_build_object('awa:callback_result', %(payload)s::jsonb)
 WHERE callback_id = %(callback_id)s AND state = 'waiting_external'
RETURNING *;

-- name: callback_resume_running :one
-- An early or in-handler resume: the job stays running, the payload waits.
WITH resumed AS (
    UPDATE awa.jobs_hot
       SET callback_id = NULL, callback_timeout_at = NULL, callback_filter = NULL,
           callback_on_complete = NULL, callback_on_fail = NULL, callback_transform = NULL,
           metadata = metadata || jsonb_build_object('awa:callback_result', %(payload)s::jsonb)
     WHERE callback_id = %(callback_id)s AND state = 'running'
    RETURNING *
)
SELECT r.* FROM resumed AS r
  LEFT JOIN LATERAL (
      SELECT pg_notify('awa:callback', json_build_object('job_id', r.id, 'run_lease', r.run_lease)::text)
  ) AS n ON true;

-- name: callback_heartbeat :one
-- The external system is still working: push the timeout out.
UPDATE awa.jobs_hot
   SET callback_timeout_at = now() + make_interval(secs => %(timeout)s::float8)
 WHERE callback_id = %(callback_id)s AND state IN ('running', 'waiting_external')
RETURNING *;

-- name: callback_timeouts :many
-- Leader: waiting jobs whose callback timed out become retryable after the
-- backoff, or fail once their attempts are used; the callback id is cleared.
WITH expired AS (
    SELECT id FROM awa.jobs_hot
     WHERE state = 'waiting_external' AND callback_timeout_at < now()
     ORDER BY id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM awa.jobs_hot AS h USING expired AS e
     WHERE h.id = e.id AND h.state = 'waiting_external'
    RETURNING h.*,
              h.errors || jsonb_build_array(jsonb_build_object(
                  'attempt', h.attempt, 'at', now(), 'type', 'CallbackTimeout',
                  'message', 'callback timed out', 'terminal', h.attempt >= h.max_attempts))
                  AS new_errors
), failed AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args, 'failed', priority, attempt, max_attempts, run_at,
           heartbeat_at, deadline_at, attempted_at, now(), created_at, new_errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, progress,
           concurrency_key, concurrency_limit
      FROM gone WHERE attempt >= max_attempts
    RETURNING *
), retried AS (
    INSERT INTO awa.scheduled_jobs
    SELECT id, kind, queue, args, 'retryable', priority, attempt, max_attempts,
           now() + awa.backoff_duration(attempt, max_attempts),
           NULL, NULL, attempted_at, now(), created_at, new_errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, progress,
           concurrency_key, concurrency_limit
      FROM gone WHERE attempt < max_attempts
    RETURNING *
)
SELECT * FROM failed UNION ALL SELECT * FROM retried;

-- name: jobs_get_many :many
-- wait_for(): the jobs some waiters are waiting on.
SELECT * FROM awa.jobs WHERE id = ANY(%(ids)s::bigint[]);

-- name: job_lease_held :one
-- Whether this attempt still holds its job (the cancel watcher checks a
-- cancel notice before acting on it). No row: the lease is gone.
SELECT id FROM awa.jobs_hot WHERE id = %(id)s AND run_lease = %(lease)s;

-- name: job_lock_running :one
-- job.transaction(): hold this attempt's row for the rest of the transaction.
-- KEY SHARE blocks what would take the job away (rescue, cancel, external
-- completion: they all move the row, a DELETE) but not heartbeats, progress
-- or callback writes (in-place updates), so the worker's heartbeats go on.
-- No row: the lease is gone.
SELECT id FROM awa.jobs_hot
 WHERE id = %(id)s AND run_lease = %(lease)s AND state = 'running'
   FOR KEY SHARE;
