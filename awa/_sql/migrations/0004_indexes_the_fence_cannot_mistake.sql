-- 0004 partial indexes that a fenced write can't mistake for a lookup.
--
-- The heartbeat, deadline and callback-timeout indexes were partial on the
-- job's state (WHERE state = 'running' ...). Every fenced write says
-- state = 'running' too, so when the statistics were taken while few jobs
-- ran (an estimate of one row), the planner scanned the whole partial index
-- instead of probing the primary key: a cost that grew with the number of
-- running jobs, for every heartbeat, completion and progress write (40 ms
-- per batch of 10 with 10,000 jobs running, against 1 ms). Their predicates
-- now name only the column they index, which is set only in those states;
-- the sweeps that use them (rescue, callback timeouts) still imply them.
DROP INDEX awa.jobs_hot_heartbeat;
CREATE INDEX jobs_hot_heartbeat ON awa.jobs_hot (heartbeat_at) WHERE heartbeat_at IS NOT NULL;

DROP INDEX awa.jobs_hot_deadline;
CREATE INDEX jobs_hot_deadline ON awa.jobs_hot (deadline_at) WHERE deadline_at IS NOT NULL;

DROP INDEX awa.jobs_hot_callback_timeout;
CREATE INDEX jobs_hot_callback_timeout ON awa.jobs_hot (callback_timeout_at)
    WHERE callback_timeout_at IS NOT NULL;
