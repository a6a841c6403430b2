-- Statements of awa.testing (users' own test suites), never run by workers.

-- name: testing_queue_heads :many
-- The first job, in claim order, of each of these queues that has one
-- claimable now: work_one() claims from the queue whose head comes first.
SELECT DISTINCT ON (queue) queue, priority, run_at, id
  FROM awa.jobs_hot
 WHERE state = 'available' AND run_at <= now() AND queue = ANY(%(queues)s::text[])
 ORDER BY queue, priority, run_at, id;

-- name: testing_shift_scheduled :exec
-- The fake clock moved forward by this many seconds: time passes for every
-- job waiting its turn (scheduled, retryable), so their run_at comes that
-- much closer to the real clock; the promoter then finds the due ones.
UPDATE awa.scheduled_jobs SET run_at = run_at - make_interval(secs => %(seconds)s::float8);

-- name: testing_shift_running :exec
-- The same for running jobs: their last heartbeat and their deadline move
-- this many seconds into the past, as if the database clock had moved on
-- (the rescuer then finds stale heartbeats and passed deadlines).
UPDATE awa.jobs_hot
   SET heartbeat_at = heartbeat_at - make_interval(secs => %(seconds)s::float8),
       deadline_at = deadline_at - make_interval(secs => %(seconds)s::float8)
 WHERE state = 'running';

-- name: testing_jobs :many
-- Jobs for assert_enqueued() and friends, oldest first.
SELECT * FROM awa.jobs
 WHERE (%(kind)s::text IS NULL OR kind = %(kind)s)
   AND (%(queue)s::text IS NULL OR queue = %(queue)s)
   AND state::text = ANY(%(states)s::text[])
 ORDER BY id;

-- name: testing_clean :exec
-- Forget every job, schedule and queue setting (for suites sharing one database).
TRUNCATE awa.jobs_hot, awa.scheduled_jobs, awa.jobs_terminal, awa.job_unique_claims,
         awa.queue_meta, awa.cron_jobs, awa.runtime_instances, awa.rate_limits,
         awa.concurrency_keys;

-- name: testing_database_create :exec
-- A throwaway database, copied from the migrated template.
CREATE DATABASE {name} TEMPLATE {template};

-- name: testing_database_drop :exec
DROP DATABASE IF EXISTS {name} WITH (FORCE);
