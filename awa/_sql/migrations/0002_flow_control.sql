-- 0002 flow control: cron wake-ups, fleet-wide rate limits, per-key
-- concurrency and queue depth limits (backpressure).

------------------------------------------------------------------------------
-- Cron: the leader sleeps until the next fire; a change to any schedule
-- (declared, paused, resumed, removed) wakes it.
------------------------------------------------------------------------------

CREATE FUNCTION awa.notify_cron_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('awa:cron', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER notify_cron_changed AFTER INSERT OR UPDATE OF cron_expr, timezone, paused_at OR DELETE
    ON awa.cron_jobs FOR EACH STATEMENT EXECUTE FUNCTION awa.notify_cron_changed();

------------------------------------------------------------------------------
-- Fleet-wide token buckets, one per queue that opted in. Claimers of every
-- process take tokens here (row-locked), so the limit holds across the fleet.
------------------------------------------------------------------------------

CREATE TABLE awa.rate_limits (
    queue       text        PRIMARY KEY CONSTRAINT queue_length CHECK (length(queue) BETWEEN 1 AND 200),
    tokens      float8      NOT NULL,
    refilled_at timestamptz NOT NULL
);

------------------------------------------------------------------------------
-- Per-key concurrency (jobs' concurrency_key / concurrency_limit columns):
-- at most concurrency_limit running jobs share a key, across every worker.
-- concurrency_keys.running counts them; triggers keep it exact on every
-- transition into and out of running, and the claim admits keyed jobs only
-- while holding the key row's lock (see docs/adr/0005-per-key-concurrency.md).
------------------------------------------------------------------------------

CREATE TABLE awa.concurrency_keys (
    key     text    PRIMARY KEY,
    running integer NOT NULL DEFAULT 0 CONSTRAINT running_not_negative CHECK (running >= 0)
);

CREATE FUNCTION awa.count_keyed_running() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 'running' AND OLD.concurrency_key IS NOT NULL
       AND (TG_OP = 'DELETE' OR NEW.state <> 'running' OR NEW.concurrency_key IS DISTINCT FROM OLD.concurrency_key) THEN
        UPDATE awa.concurrency_keys SET running = running - 1 WHERE key = OLD.concurrency_key;
        -- A slot of this key is free: jobs waiting on it (skipped by claims
        -- while the key was full) may run now, in any worker process.
        PERFORM pg_notify(awa.queue_channel(OLD.queue), '');
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.state = 'running' AND NEW.concurrency_key IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.state <> 'running' OR NEW.concurrency_key IS DISTINCT FROM OLD.concurrency_key) THEN
        INSERT INTO awa.concurrency_keys AS k (key, running) VALUES (NEW.concurrency_key, 1)
        ON CONFLICT (key) DO UPDATE SET running = k.running + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER count_keyed_running_update AFTER UPDATE OF state, concurrency_key ON awa.jobs_hot
    FOR EACH ROW WHEN ((OLD.concurrency_key IS NOT NULL OR NEW.concurrency_key IS NOT NULL)
                       AND (OLD.state = 'running' OR NEW.state = 'running'))
    EXECUTE FUNCTION awa.count_keyed_running();
CREATE TRIGGER count_keyed_running_delete AFTER DELETE ON awa.jobs_hot
    FOR EACH ROW WHEN (OLD.concurrency_key IS NOT NULL AND OLD.state = 'running')
    EXECUTE FUNCTION awa.count_keyed_running();

CREATE INDEX jobs_hot_concurrency_key ON awa.jobs_hot (concurrency_key) WHERE concurrency_key IS NOT NULL;
CREATE INDEX scheduled_jobs_concurrency_key ON awa.scheduled_jobs (concurrency_key)
    WHERE concurrency_key IS NOT NULL;

------------------------------------------------------------------------------
-- Backpressure: a queue may set max_depth (available + scheduled + retryable
-- jobs). The leader refreshes depth_estimate; inserts past the limit are
-- refused ('reject') or only flagged ('warn').
------------------------------------------------------------------------------

ALTER TABLE awa.queue_meta
    ADD COLUMN max_depth bigint CONSTRAINT max_depth_positive CHECK (max_depth > 0),
    ADD COLUMN depth_policy text NOT NULL DEFAULT 'reject' CONSTRAINT depth_policy_values CHECK (depth_policy IN ('reject', 'warn')),
    ADD COLUMN depth_estimate bigint,
    ADD COLUMN depth_measured_at timestamptz;
