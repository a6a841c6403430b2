-- Reads for the operator surfaces (the web UI and the CLI): dashboards,
-- searching, runtime instances. Admin writes reuse job.sql, queue.sql and
-- cron.sql.

-- name: job_search :many prepare=false
-- The jobs list with a free-text filter: a job id, or a substring of the
-- kind, queue, a tag or the args JSON (case-insensitive). Newest first,
-- keyset paged on id like job_list. The args match scans: an operator tool,
-- not a query for the hot path.
SELECT * FROM awa.jobs
 WHERE (%(state)s::awa.job_state IS NULL OR state = %(state)s::awa.job_state)
   AND (%(kind)s::text IS NULL OR kind = %(kind)s)
   AND (%(queue)s::text IS NULL OR queue = %(queue)s)
   AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
   AND (id::text = %(search)s
        OR kind ILIKE %(pattern)s OR queue ILIKE %(pattern)s
        OR array_to_string(tags, ' ') ILIKE %(pattern)s
        OR args::text ILIKE %(pattern)s)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: job_state_counts :many prepare=false
-- How many jobs are in each state, every table counted (terminal included).
SELECT state::text AS state, count(*)::bigint AS n
  FROM (SELECT state FROM awa.jobs_hot
        UNION ALL SELECT state FROM awa.scheduled_jobs
        UNION ALL SELECT state FROM awa.jobs_terminal) AS j
 GROUP BY state;

-- name: job_throughput :many prepare=false
-- Jobs finished per minute over the last %(minutes)s minutes (the current,
-- partial minute last), by outcome. Only the matching terminal partitions
-- are read; empty minutes are zero rows from generate_series.
WITH finished AS (
    SELECT date_trunc('minute', finalized_at) AS minute, state
      FROM awa.jobs_terminal
     WHERE finalized_at >= date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1)
), buckets AS (
    SELECT generate_series(date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1),
                           date_trunc('minute', now()), interval '1 minute') AS minute
)
SELECT b.minute,
       count(f.state) FILTER (WHERE f.state = 'completed')::bigint AS completed,
       count(f.state) FILTER (WHERE f.state = 'failed')::bigint AS failed,
       count(f.state) FILTER (WHERE f.state = 'cancelled')::bigint AS cancelled
  FROM buckets AS b LEFT JOIN finished AS f ON f.minute = b.minute
 GROUP BY b.minute
 ORDER BY b.minute;

-- name: job_kinds :many
-- The kinds seen in unfinished jobs and recent schedules (filter choices).
SELECT kind FROM awa.jobs_hot
UNION SELECT kind FROM awa.scheduled_jobs
UNION SELECT kind FROM awa.cron_jobs
ORDER BY kind;

-- name: runtime_instance_list :many
-- Every worker process that published a snapshot; live when seen within
-- %(stale_after)s seconds (the snapshot interval is 10 s by default).
SELECT instance_id, hostname, pid, version, started_at, last_seen_at, leader, shutting_down,
       snapshot, last_seen_at > now() - make_interval(secs => %(stale_after)s::float8) AS live
  FROM awa.runtime_instances
 ORDER BY started_at, instance_id;

-- name: database_read_only :one
-- Whether this session may write: true on a hot standby or when the role or
-- database defaults to read-only transactions.
SELECT current_setting('transaction_read_only') = 'on'
       OR current_setting('default_transaction_read_only') = 'on' AS read_only;
