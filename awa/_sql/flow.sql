-- Flow control: fleet-wide rate limits and queue depth limits.

-- name: rate_limit_init :exec
-- Create a queue's shared bucket, full.
INSERT INTO awa.rate_limits (queue, tokens, refilled_at)
VALUES (%(queue)s, %(burst)s, COALESCE(%(now)s::timestamptz, now()))
ON CONFLICT (queue) DO NOTHING;

-- name: rate_limit_take :one
-- Refill by the elapsed time, then take up to wanted whole tokens. The row
-- lock makes claimers of every process take turns. now is null except in
-- tests (an injected clock).
WITH current AS (
    SELECT queue,
           LEAST(%(burst)s::float8,
                 tokens + GREATEST(0, EXTRACT(EPOCH FROM COALESCE(%(now)s::timestamptz, now()) - refilled_at))
                          * %(rate)s::float8) AS available
      FROM awa.rate_limits
     WHERE queue = %(queue)s
       FOR UPDATE
)
UPDATE awa.rate_limits AS r
   SET tokens = c.available - LEAST(%(wanted)s::int, floor(c.available)::int),
       refilled_at = GREATEST(r.refilled_at, COALESCE(%(now)s::timestamptz, now()))
  FROM current AS c
 WHERE r.queue = c.queue
RETURNING LEAST(%(wanted)s::int, floor(c.available)::int) AS granted, c.available;

-- name: rate_limit_refund :exec
-- Give back tokens taken for jobs the claim did not find.
UPDATE awa.rate_limits SET tokens = LEAST(%(burst)s::float8, tokens + %(count)s)
 WHERE queue = %(queue)s;

-- name: queue_limit_set :one
-- Set (or clear, with null) a queue's depth limit and what happens past it.
-- A new limit is measured at once: the leader's refresh slows down while no
-- queue has a limit, and inserts must not wait for it.
WITH measured AS (
    SELECT (SELECT count(*) FROM awa.jobs_hot h
             WHERE h.queue = %(queue)s AND h.state = 'available')
         + (SELECT count(*) FROM awa.scheduled_jobs s WHERE s.queue = %(queue)s) AS depth
)
INSERT INTO awa.queue_meta AS m
       (queue, max_depth, depth_policy, updated_at, depth_estimate, depth_measured_at)
SELECT %(queue)s, %(max_depth)s, %(policy)s, now(), measured.depth, now() FROM measured
ON CONFLICT (queue) DO UPDATE
   SET max_depth = EXCLUDED.max_depth, depth_policy = EXCLUDED.depth_policy, updated_at = now(),
       depth_estimate = EXCLUDED.depth_estimate, depth_measured_at = EXCLUDED.depth_measured_at
RETURNING queue, max_depth, depth_policy, depth_estimate, depth_measured_at;

-- name: queue_depth_get :one
SELECT queue, max_depth, depth_policy, depth_estimate, depth_measured_at
  FROM awa.queue_meta WHERE queue = %(queue)s;

-- name: queue_depth_refresh :one
-- The leader measures the depth (jobs waiting: available, scheduled,
-- retryable) of every queue with a limit. Inserts read the estimate.
WITH limited AS (
    SELECT queue FROM awa.queue_meta WHERE max_depth IS NOT NULL
), measured AS (
    SELECT l.queue,
           (SELECT count(*) FROM awa.jobs_hot h WHERE h.queue = l.queue AND h.state = 'available')
         + (SELECT count(*) FROM awa.scheduled_jobs s WHERE s.queue = l.queue) AS depth
      FROM limited AS l
), updated AS (
    UPDATE awa.queue_meta AS m SET depth_estimate = d.depth, depth_measured_at = now()
      FROM measured AS d WHERE m.queue = d.queue
    RETURNING m.queue
)
SELECT count(*) AS queues FROM updated;

-- name: concurrency_keys_prune :one
-- Forget keys no unfinished job uses (locked, so no claim is admitting one).
-- Should one be pruned as a job with that key is inserted, the next claim
-- makes the row again.
WITH idle AS (
    SELECT key FROM awa.concurrency_keys AS k
     WHERE running = 0
       AND NOT EXISTS (SELECT 1 FROM awa.jobs_hot AS h WHERE h.concurrency_key = k.key)
       AND NOT EXISTS (SELECT 1 FROM awa.scheduled_jobs AS s WHERE s.concurrency_key = k.key)
     LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), pruned AS (
    DELETE FROM awa.concurrency_keys AS k USING idle AS i WHERE k.key = i.key AND k.running = 0
    RETURNING 1
)
SELECT count(*) AS pruned FROM pruned;
