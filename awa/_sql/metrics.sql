-- Read by the leader for the OpenTelemetry gauges (awa.observability).

-- name: queue_gauges :many prepare=false
-- Jobs per queue and live state (available, running, waiting_external in the
-- hot table; scheduled, retryable in the deferred one), every live state of
-- every known queue listed (0 when empty, so a drained queue reads 0 rather
-- than vanishing), and lag: the age of the queue's oldest due available job
-- (0 when none). Scans the two live tables, which are kept small.
WITH live AS (
    SELECT queue, state::text AS state, count(*) AS jobs,
           min(run_at) FILTER (WHERE state = 'available') AS oldest
      FROM (SELECT queue, state, run_at FROM awa.jobs_hot
            UNION ALL
            SELECT queue, state, run_at FROM awa.scheduled_jobs) AS j
     GROUP BY queue, state
), queues AS (
    SELECT queue FROM live UNION SELECT queue FROM awa.queue_meta
)
SELECT q.queue, s.state, COALESCE(l.jobs, 0)::bigint AS jobs,
       COALESCE(GREATEST(EXTRACT(EPOCH FROM now() - l.oldest), 0), 0)::float8 AS lag_seconds
  FROM queues AS q
 CROSS JOIN unnest(ARRAY['available', 'running', 'waiting_external',
                         'scheduled', 'retryable']) AS s(state)
  LEFT JOIN live AS l ON l.queue = q.queue AND l.state = s.state
 ORDER BY q.queue, s.state;
