-- Leader election and the leader's maintenance statements.

-- name: leader_try_lock :one
-- Session-level advisory lock held on a dedicated connection while leading.
-- Key 0x4157415f4d41494e = "AWA_MAIN".
SELECT pg_try_advisory_lock(4708303813012965710) AS acquired;

-- name: leader_idle_timeout :one
-- Have the server end this session if it stays idle past timeout (a
-- duration such as '95s'): a leader that is paused (SIGSTOP, a VM freeze, a
-- stuck event loop) stops pinging, and its lock must not outlive it.
-- PostgreSQL 14+ (idle_session_timeout); older servers refuse the name.
SELECT set_config('idle_session_timeout', %(timeout)s, false) AS value;

-- name: leader_try_xact_lock :one
-- The same lock, held by an open transaction instead of the session: behind
-- PgBouncer in transaction mode a transaction keeps its server connection,
-- a session does not. Released by ROLLBACK or when the connection is lost.
SELECT pg_try_advisory_xact_lock(4708303813012965710) AS acquired;

-- name: leader_xact_idle_timeout :one
-- For the transaction holding the lock: end it if it sits idle past timeout
-- (a paused leader), releasing the lock. Local to the transaction, so no
-- setting leaks to a pooled server connection.
SELECT set_config('idle_in_transaction_session_timeout', %(timeout)s, true) AS value;

-- name: leader_unlock :one
SELECT pg_advisory_unlock(4708303813012965710) AS released;

-- name: job_promote_due :one
-- Move up to limit due scheduled/retryable jobs to jobs_hot as available
-- (their run_at kept, so they queue by when they were due). The insert wakes
-- each queue through the notify trigger. Index: scheduled_jobs_due (run_at, id).
WITH due AS (
    SELECT id FROM awa.scheduled_jobs
     WHERE run_at <= now()
     ORDER BY run_at, id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), moved AS (
    DELETE FROM awa.scheduled_jobs AS s USING due AS d
     WHERE s.id = d.id
    RETURNING s.*
), promoted AS (
    INSERT INTO awa.jobs_hot
    SELECT id, kind, queue, args, 'available', priority, attempt, max_attempts, run_at,
           NULL, NULL, attempted_at, NULL, created_at, errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, progress, concurrency_key, concurrency_limit
      FROM moved
    RETURNING run_at
)
SELECT count(*) AS promoted,
       COALESCE(max(EXTRACT(EPOCH FROM now() - run_at)), 0)::float8 AS max_lateness
  FROM promoted;

-- name: job_next_due :one
-- Seconds until the earliest deferred job is due (null when there is none).
SELECT EXTRACT(EPOCH FROM min(run_at) - now())::float8 AS seconds FROM awa.scheduled_jobs;

-- name: job_rescue_many :many
-- Rescue running jobs whose worker stopped heartbeating (heartbeat_at older
-- than staleness seconds) or that passed their hard deadline. A job with
-- attempts left becomes retryable after the backoff; one that used them all
-- fails. The row's run_lease is unchanged: the next claim increments it, and
-- meanwhile the old attempt's writes miss on state = 'running'. only_id
-- (nullable) restricts the sweep to one job, for the per-row fallback.
WITH stuck AS (
    SELECT id,
           CASE WHEN deadline_at IS NOT NULL AND deadline_at < now() THEN 'deadline'
                ELSE 'heartbeat' END AS reason
      FROM awa.jobs_hot
     WHERE state = 'running'
       AND (heartbeat_at < now() - make_interval(secs => %(staleness)s::float8)
            OR deadline_at < now())
       AND (%(only_id)s::bigint IS NULL OR id = %(only_id)s::bigint)
     ORDER BY id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM awa.jobs_hot AS h USING stuck AS s
     WHERE h.id = s.id AND h.state = 'running'
    RETURNING h.*, s.reason,
              h.errors || jsonb_build_array(jsonb_build_object(
                  'attempt', h.attempt, 'at', now(),
                  'type', CASE s.reason WHEN 'deadline' THEN 'DeadlineExceeded' ELSE 'HeartbeatStale' END,
                  'message', CASE s.reason WHEN 'deadline' THEN 'hard deadline exceeded'
                                  ELSE 'heartbeat stale: worker presumed dead' END,
                  'terminal', h.attempt >= h.max_attempts OR %(force_fail)s::boolean)) AS new_errors
), failed AS (
    INSERT INTO awa.jobs_terminal
    SELECT id, kind, queue, args, 'failed', priority, attempt, max_attempts, run_at,
           heartbeat_at, deadline_at, attempted_at, now(), created_at, new_errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, progress, concurrency_key, concurrency_limit
      FROM gone
     WHERE attempt >= max_attempts OR %(force_fail)s::boolean
    RETURNING *
), retried AS (
    INSERT INTO awa.scheduled_jobs
    SELECT id, kind, queue, args, 'retryable', priority, attempt, max_attempts,
           now() + awa.backoff_duration(attempt, max_attempts),
           NULL, NULL, attempted_at, NULL, created_at, new_errors, metadata, tags,
           unique_key, unique_states, NULL, NULL, NULL, NULL, NULL, NULL, run_lease, progress, concurrency_key, concurrency_limit
      FROM gone
     WHERE attempt < max_attempts AND NOT %(force_fail)s::boolean
    RETURNING *
)
SELECT r.*, g.reason
  FROM (SELECT * FROM failed UNION ALL SELECT * FROM retried) AS r
  JOIN (SELECT id, reason FROM gone) AS g ON g.id = r.id;

-- name: job_rescue_candidates :many
-- Ids the rescue sweep would take; used to retry them one at a time when the
-- batch hit a unique-key conflict.
SELECT id FROM awa.jobs_hot
 WHERE state = 'running'
   AND (heartbeat_at < now() - make_interval(secs => %(staleness)s::float8) OR deadline_at < now())
 ORDER BY id
 LIMIT %(limit)s;

-- name: job_age_priorities :one
-- Priority aging for one queue: an available job that has waited n intervals
-- gets priority original - n (at best 1). The original is kept in metadata
-- under _awa_original_priority. Index: jobs_hot_claim (queue, priority, ...).
WITH aged AS (
    SELECT id,
           GREATEST(1, COALESCE((metadata ->> '_awa_original_priority')::int, priority)
                       - floor(EXTRACT(EPOCH FROM now() - run_at) / %(interval)s::float8)::int) AS target
      FROM awa.jobs_hot
     WHERE state = 'available' AND queue = %(queue)s AND priority > 1
       AND run_at <= now() - make_interval(secs => %(interval)s::float8)
       AND GREATEST(1, COALESCE((metadata ->> '_awa_original_priority')::int, priority)
                       - floor(EXTRACT(EPOCH FROM now() - run_at) / %(interval)s::float8)::int) < priority
     ORDER BY priority DESC, run_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), updated AS (
    UPDATE awa.jobs_hot AS j
       SET priority = a.target,
           metadata = CASE WHEN j.metadata ? '_awa_original_priority' THEN j.metadata
                           ELSE j.metadata || jsonb_build_object('_awa_original_priority', j.priority) END
      FROM aged AS a
     WHERE j.id = a.id AND j.state = 'available'
    RETURNING j.id
)
SELECT count(*) AS aged FROM updated;

-- name: terminal_partitions_ensure :one
-- Create the hourly terminal partitions for the hours ahead.
SELECT awa.ensure_terminal_partitions(make_interval(secs => %(ahead)s::float8)) AS created;

-- name: terminal_partitions_drop :one
-- Drop whole partitions of one state class that ended before the cutoff.
-- lock_timeout keeps a busy jobs view from stalling the leader: it retries
-- next round.
SELECT awa.drop_terminal_partitions(%(parent)s, now() - make_interval(secs => %(older_than)s::float8))
    AS dropped;

-- name: terminal_delete_older :one
-- Row-wise retention for queues whose setting is shorter than the partition
-- cutoff (per-queue overrides): one bounded batch. queues null = every queue
-- except those in keep_queues.
WITH doomed AS (
    SELECT id FROM awa.jobs_terminal
     WHERE state = ANY(%(states)s::awa.job_state[])
       AND finalized_at < now() - make_interval(secs => %(older_than)s::float8)
       AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
       AND NOT (queue = ANY(%(keep_queues)s::text[]))
     LIMIT %(limit)s
), deleted AS (
    DELETE FROM awa.jobs_terminal AS t USING doomed AS d WHERE t.id = d.id
    RETURNING t.id
)
SELECT count(*) AS deleted FROM deleted;

-- name: lock_timeout_local :exec
-- For the rest of the current transaction only.
SELECT set_config('lock_timeout', %(value)s, true);

-- name: runtime_instance_upsert :exec
-- Each worker process publishes a snapshot of itself every few seconds.
INSERT INTO awa.runtime_instances
    (instance_id, hostname, pid, version, leader, shutting_down, snapshot, last_seen_at)
VALUES (%(instance_id)s, %(hostname)s, %(pid)s, %(version)s, %(leader)s, %(shutting_down)s,
        %(snapshot)s::jsonb, now())
ON CONFLICT (instance_id) DO UPDATE
   SET leader = EXCLUDED.leader, shutting_down = EXCLUDED.shutting_down,
       snapshot = EXCLUDED.snapshot, last_seen_at = now();

-- name: runtime_instance_delete :exec
DELETE FROM awa.runtime_instances WHERE instance_id = %(instance_id)s;

-- name: runtime_instances_prune :one
WITH pruned AS (
    DELETE FROM awa.runtime_instances
     WHERE last_seen_at < now() - make_interval(secs => %(older_than)s::float8)
    RETURNING 1
)
SELECT count(*) AS pruned FROM pruned;
