-- 0001 initial: the awa schema.
--
-- A job is one row in exactly one of three places:
--   awa.jobs_hot        runnable and in-flight work (available, running, waiting_external)
--   awa.scheduled_jobs  deferred work (scheduled, retryable), promoted when due
--   awa.jobs_terminal   finished work (completed, failed, cancelled), partitioned by
--                       state class and hour of finalized_at so retention drops partitions
-- Moving between them is DELETE ... RETURNING feeding an INSERT in one statement.

CREATE SCHEMA IF NOT EXISTS awa;

-- Enum order is the bit order of unique_states masks: never reorder.
CREATE TYPE awa.job_state AS ENUM (
    'scheduled',
    'available',
    'running',
    'completed',
    'retryable',
    'failed',
    'cancelled',
    'waiting_external'
);

CREATE SEQUENCE awa.jobs_id_seq AS bigint;

CREATE TABLE awa.jobs_hot (
    id                   bigint       NOT NULL DEFAULT nextval('awa.jobs_id_seq'),
    kind                 text         NOT NULL CONSTRAINT kind_length CHECK (length(kind) BETWEEN 1 AND 200),
    queue                text         NOT NULL DEFAULT 'default' CONSTRAINT queue_length CHECK (length(queue) BETWEEN 1 AND 200),
    args                 jsonb        NOT NULL DEFAULT '{}' CONSTRAINT args_object CHECK (jsonb_typeof(args) = 'object'),
    state                awa.job_state NOT NULL DEFAULT 'available',
    priority             smallint     NOT NULL DEFAULT 2 CONSTRAINT priority_range CHECK (priority BETWEEN 1 AND 4),
    attempt              smallint     NOT NULL DEFAULT 0 CONSTRAINT attempt_range CHECK (attempt >= 0),
    max_attempts         smallint     NOT NULL DEFAULT 25 CONSTRAINT max_attempts_range CHECK (max_attempts BETWEEN 1 AND 1000),
    run_at               timestamptz  NOT NULL DEFAULT now(),
    heartbeat_at         timestamptz,
    deadline_at          timestamptz,
    attempted_at         timestamptz,
    finalized_at         timestamptz,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    errors               jsonb        NOT NULL DEFAULT '[]' CONSTRAINT errors_array CHECK (jsonb_typeof(errors) = 'array'),
    metadata             jsonb        NOT NULL DEFAULT '{}' CONSTRAINT metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    tags                 text[]       NOT NULL DEFAULT '{}' CONSTRAINT tags_count CHECK (cardinality(tags) <= 20),
    unique_key           bytea        CONSTRAINT unique_key_length CHECK (octet_length(unique_key) = 16),
    unique_states        bit(8),
    callback_id          uuid,
    callback_timeout_at  timestamptz,
    callback_filter      text,
    callback_on_complete text,
    callback_on_fail     text,
    callback_transform   text,
    run_lease            bigint       NOT NULL DEFAULT 0,
    progress             jsonb,
    concurrency_key      text         CONSTRAINT concurrency_key_length CHECK (length(concurrency_key) BETWEEN 1 AND 200),
    concurrency_limit    smallint     CONSTRAINT concurrency_limit_range CHECK (concurrency_limit BETWEEN 1 AND 10000)
);

-- Same columns and shared checks; state checks differ per table.
CREATE TABLE awa.scheduled_jobs (LIKE awa.jobs_hot INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE awa.jobs_terminal (LIKE awa.jobs_hot INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (state);

ALTER TABLE awa.jobs_hot ADD PRIMARY KEY (id),
    ADD CONSTRAINT hot_state CHECK (state IN ('available', 'running', 'waiting_external'));
ALTER TABLE awa.jobs_hot SET (fillfactor = 80);
ALTER TABLE awa.scheduled_jobs ADD PRIMARY KEY (id),
    ALTER COLUMN state SET DEFAULT 'scheduled',
    ADD CONSTRAINT scheduled_state CHECK (state IN ('scheduled', 'retryable'));
ALTER TABLE awa.jobs_terminal ALTER COLUMN finalized_at SET NOT NULL,
    ALTER COLUMN state DROP DEFAULT;

CREATE TABLE awa.jobs_completed PARTITION OF awa.jobs_terminal
    FOR VALUES IN ('completed') PARTITION BY RANGE (finalized_at);
CREATE TABLE awa.jobs_failed PARTITION OF awa.jobs_terminal
    FOR VALUES IN ('failed', 'cancelled') PARTITION BY RANGE (finalized_at);
-- Rows whose hour has no partition yet (maintenance not running) land here and
-- are moved into their partition when it is created.
CREATE TABLE awa.jobs_completed_default PARTITION OF awa.jobs_completed DEFAULT;
CREATE TABLE awa.jobs_failed_default PARTITION OF awa.jobs_failed DEFAULT;

-- Claim: (queue, priority, run_at, id) in claim order, available rows only.
CREATE INDEX jobs_hot_claim ON awa.jobs_hot (queue, priority, run_at, id) WHERE state = 'available';
CREATE INDEX jobs_hot_heartbeat ON awa.jobs_hot (heartbeat_at) WHERE state = 'running';
CREATE INDEX jobs_hot_deadline ON awa.jobs_hot (deadline_at) WHERE state = 'running' AND deadline_at IS NOT NULL;
CREATE UNIQUE INDEX jobs_hot_callback_id ON awa.jobs_hot (callback_id) WHERE callback_id IS NOT NULL;
CREATE INDEX jobs_hot_callback_timeout ON awa.jobs_hot (callback_timeout_at)
    WHERE state = 'waiting_external' AND callback_timeout_at IS NOT NULL;

CREATE INDEX scheduled_jobs_due ON awa.scheduled_jobs (run_at, id);
CREATE INDEX scheduled_jobs_queue ON awa.scheduled_jobs (queue, id);

CREATE INDEX jobs_terminal_id ON awa.jobs_terminal (id);
CREATE INDEX jobs_terminal_queue ON awa.jobs_terminal (queue, id);
CREATE INDEX jobs_terminal_unique_key ON awa.jobs_terminal (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_failed_kind ON awa.jobs_failed (kind, id);

-- The one place to read a job without knowing where it lives.
CREATE VIEW awa.jobs AS
    SELECT * FROM awa.jobs_hot
    UNION ALL
    SELECT * FROM awa.scheduled_jobs
    UNION ALL
    SELECT * FROM awa.jobs_terminal;

------------------------------------------------------------------------------
-- Uniqueness: a job with a unique_key holds a row here while its state is in
-- its unique_states mask. The primary key makes a second holder impossible.
------------------------------------------------------------------------------

CREATE TABLE awa.job_unique_claims (
    unique_key bytea  NOT NULL,
    job_id     bigint NOT NULL,
    CONSTRAINT job_unique_claims_pkey PRIMARY KEY (unique_key)
);
CREATE INDEX job_unique_claims_job ON awa.job_unique_claims (job_id);

-- Bit N (leftmost = 0) of the mask is the state at enum position N.
CREATE FUNCTION awa.state_in_mask(mask bit(8), s awa.job_state) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN mask IS NOT NULL
        AND get_bit(mask, array_position(enum_range(NULL::awa.job_state), s) - 1) = 1;

CREATE FUNCTION awa.claim_unique_key(p_key bytea, p_job_id bigint) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    holder bigint;
BEGIN
    -- Loop: a conflicting claim may vanish between the insert and the look-up.
    FOR i IN 1..5 LOOP
        INSERT INTO awa.job_unique_claims (unique_key, job_id) VALUES (p_key, p_job_id)
            ON CONFLICT (unique_key) DO NOTHING;
        IF FOUND THEN
            RETURN;
        END IF;
        SELECT job_id INTO holder FROM awa.job_unique_claims WHERE unique_key = p_key;
        IF holder = p_job_id THEN
            RETURN;
        ELSIF holder IS NOT NULL THEN
            RAISE EXCEPTION 'unique key already held by job %', holder
                USING ERRCODE = 'unique_violation',
                      CONSTRAINT = 'job_unique_claims_pkey',
                      DETAIL = format('existing_job_id=%s', holder);
        END IF;
    END LOOP;
    RAISE EXCEPTION 'unique key claim did not settle for job %', p_job_id
        USING ERRCODE = 'serialization_failure';
END;
$$;

CREATE FUNCTION awa.sync_unique_claims() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- A move between tables is a DELETE then an INSERT of the same job in one
    -- statement; row triggers fire in that order, so the claim is released and
    -- taken again without a window for anyone else (the delete is uncommitted).
    IF TG_OP = 'DELETE' THEN
        DELETE FROM awa.job_unique_claims WHERE unique_key = OLD.unique_key AND job_id = OLD.id;
    ELSIF TG_OP = 'INSERT' THEN
        IF awa.state_in_mask(NEW.unique_states, NEW.state) THEN
            PERFORM awa.claim_unique_key(NEW.unique_key, NEW.id);
        END IF;
    ELSE
        IF OLD.unique_key IS NOT NULL
           AND (NEW.unique_key IS DISTINCT FROM OLD.unique_key
                OR NOT awa.state_in_mask(NEW.unique_states, NEW.state)) THEN
            DELETE FROM awa.job_unique_claims WHERE unique_key = OLD.unique_key AND job_id = OLD.id;
        END IF;
        IF NEW.unique_key IS NOT NULL AND awa.state_in_mask(NEW.unique_states, NEW.state) THEN
            PERFORM awa.claim_unique_key(NEW.unique_key, NEW.id);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER unique_claims_insert AFTER INSERT ON awa.jobs_hot
    FOR EACH ROW WHEN (NEW.unique_key IS NOT NULL) EXECUTE FUNCTION awa.sync_unique_claims();
CREATE TRIGGER unique_claims_delete AFTER DELETE ON awa.jobs_hot
    FOR EACH ROW WHEN (OLD.unique_key IS NOT NULL) EXECUTE FUNCTION awa.sync_unique_claims();
CREATE TRIGGER unique_claims_update AFTER UPDATE OF state, unique_key, unique_states ON awa.jobs_hot
    FOR EACH ROW WHEN ((OLD.unique_key IS NOT NULL OR NEW.unique_key IS NOT NULL)
                       AND (OLD.state, OLD.unique_key, OLD.unique_states)
                           IS DISTINCT FROM (NEW.state, NEW.unique_key, NEW.unique_states))
    EXECUTE FUNCTION awa.sync_unique_claims();

CREATE TRIGGER unique_claims_insert AFTER INSERT ON awa.scheduled_jobs
    FOR EACH ROW WHEN (NEW.unique_key IS NOT NULL) EXECUTE FUNCTION awa.sync_unique_claims();
CREATE TRIGGER unique_claims_delete AFTER DELETE ON awa.scheduled_jobs
    FOR EACH ROW WHEN (OLD.unique_key IS NOT NULL) EXECUTE FUNCTION awa.sync_unique_claims();
CREATE TRIGGER unique_claims_update AFTER UPDATE OF state, unique_key, unique_states ON awa.scheduled_jobs
    FOR EACH ROW WHEN ((OLD.unique_key IS NOT NULL OR NEW.unique_key IS NOT NULL)
                       AND (OLD.state, OLD.unique_key, OLD.unique_states)
                           IS DISTINCT FROM (NEW.state, NEW.unique_key, NEW.unique_states))
    EXECUTE FUNCTION awa.sync_unique_claims();

CREATE TRIGGER unique_claims_insert AFTER INSERT ON awa.jobs_terminal
    FOR EACH ROW WHEN (NEW.unique_key IS NOT NULL) EXECUTE FUNCTION awa.sync_unique_claims();
CREATE TRIGGER unique_claims_delete AFTER DELETE ON awa.jobs_terminal
    FOR EACH ROW WHEN (OLD.unique_key IS NOT NULL) EXECUTE FUNCTION awa.sync_unique_claims();
CREATE TRIGGER unique_claims_update AFTER UPDATE OF state, unique_key, unique_states ON awa.jobs_terminal
    FOR EACH ROW WHEN ((OLD.unique_key IS NOT NULL OR NEW.unique_key IS NOT NULL)
                       AND (OLD.state, OLD.unique_key, OLD.unique_states)
                           IS DISTINCT FROM (NEW.state, NEW.unique_key, NEW.unique_states))
    EXECUTE FUNCTION awa.sync_unique_claims();

------------------------------------------------------------------------------
-- Wake-ups: NOTIFY "awa:<queue>" once per statement and queue that made work
-- available. Channel names are at most 63 bytes, so long queue names use a hash.
------------------------------------------------------------------------------

CREATE FUNCTION awa.queue_channel(p_queue text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN octet_length(p_queue) <= 59 THEN 'awa:' || p_queue
                ELSE 'awa:#' || md5(p_queue) END;

CREATE FUNCTION awa.notify_available() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(awa.queue_channel(q.queue), '')
       FROM (SELECT DISTINCT queue FROM new_rows WHERE state = 'available') AS q;
    RETURN NULL;
END;
$$;

CREATE TRIGGER notify_available AFTER INSERT ON awa.jobs_hot
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awa.notify_available();

-- The leader's promoter sleeps until the next due job; new deferred work
-- (scheduled inserts, retries, snoozes) wakes it in case it is due sooner.
CREATE FUNCTION awa.notify_deferred() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows) THEN
        PERFORM pg_notify('awa:deferred', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER notify_deferred AFTER INSERT ON awa.scheduled_jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awa.notify_deferred();

------------------------------------------------------------------------------
-- Retry backoff: 2^attempt seconds plus up to 25% jitter, capped at 24 hours.
-- attempt is the number of the attempt that just failed (1 for the first).
------------------------------------------------------------------------------

CREATE FUNCTION awa.backoff_duration(p_attempt integer, p_max_attempts integer) RETURNS interval
    LANGUAGE sql VOLATILE
    RETURN LEAST(
        make_interval(secs => power(2, LEAST(GREATEST(p_attempt, 0), 20)) * (1 + random() * 0.25)),
        interval '24 hours');

------------------------------------------------------------------------------
-- Terminal partitions: one per hour per state class, created ahead by
-- maintenance (and here), dropped whole when past retention.
------------------------------------------------------------------------------

CREATE FUNCTION awa.terminal_partition_name(p_parent text, p_from timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN p_parent || '_' || to_char(p_from AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24');

CREATE FUNCTION awa.create_terminal_partition(p_parent text, p_from timestamptz, p_to timestamptz)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    part text := awa.terminal_partition_name(p_parent, p_from);
BEGIN
    IF to_regclass(format('awa.%I', part)) IS NOT NULL THEN
        RETURN 0;
    END IF;
    EXECUTE format('CREATE TABLE awa.%I (LIKE awa.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   part, p_parent);
    -- Rows that waited in the default partition for this hour move in first, or
    -- ATTACH would refuse; their unique claims are taken again afterwards.
    EXECUTE format('WITH moved AS (DELETE FROM awa.%I WHERE finalized_at >= $1 AND finalized_at < $2 RETURNING *)'
                   ' INSERT INTO awa.%I SELECT * FROM moved', p_parent || '_default', part)
        USING p_from, p_to;
    EXECUTE format('ALTER TABLE awa.%I ATTACH PARTITION awa.%I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, part, p_from, p_to);
    EXECUTE format('INSERT INTO awa.job_unique_claims (unique_key, job_id)'
                   ' SELECT unique_key, id FROM awa.%I'
                   ' WHERE unique_key IS NOT NULL AND awa.state_in_mask(unique_states, state)'
                   ' ON CONFLICT (unique_key) DO NOTHING', part);
    RETURN 1;
END;
$$;

CREATE FUNCTION awa.ensure_terminal_partitions(p_ahead interval DEFAULT interval '3 hours')
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    first_hour timestamptz := date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hour_start timestamptz;
    parent text;
    created integer := 0;
BEGIN
    FOREACH parent IN ARRAY ARRAY['jobs_completed', 'jobs_failed'] LOOP
        hour_start := first_hour;
        WHILE hour_start <= now() + p_ahead LOOP
            created := created + awa.create_terminal_partition(parent, hour_start, hour_start + interval '1 hour');
            hour_start := hour_start + interval '1 hour';
        END LOOP;
    END LOOP;
    RETURN created;
END;
$$;

-- Drop the partitions of p_parent whose whole hour ended before p_before,
-- releasing the unique keys their jobs held. Returns the number of rows dropped.
CREATE FUNCTION awa.drop_terminal_partitions(p_parent text, p_before timestamptz)
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    part record;
    dropped bigint := 0;
    n bigint;
BEGIN
    FOR part IN
        SELECT c.relname,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = format('awa.%I', p_parent)::regclass
           AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
    LOOP
        CONTINUE WHEN part.upper_bound IS NULL OR part.upper_bound > p_before;
        EXECUTE format('DELETE FROM awa.job_unique_claims c USING awa.%I p'
                       ' WHERE p.unique_key IS NOT NULL AND c.unique_key = p.unique_key AND c.job_id = p.id',
                       part.relname);
        EXECUTE format('SELECT count(*) FROM awa.%I', part.relname) INTO n;
        EXECUTE format('DROP TABLE awa.%I', part.relname);
        dropped := dropped + n;
    END LOOP;
    RETURN dropped;
END;
$$;

SELECT awa.ensure_terminal_partitions();

------------------------------------------------------------------------------
-- Queues, cron, runtimes, schema version.
------------------------------------------------------------------------------

CREATE TABLE awa.queue_meta (
    queue      text        PRIMARY KEY CONSTRAINT queue_length CHECK (length(queue) BETWEEN 1 AND 200),
    paused     boolean     NOT NULL DEFAULT false,
    paused_at  timestamptz,
    paused_by  text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE awa.cron_jobs (
    name               text        PRIMARY KEY CONSTRAINT name_length CHECK (length(name) BETWEEN 1 AND 200),
    cron_expr          text        NOT NULL,
    timezone           text        NOT NULL DEFAULT 'UTC',
    kind               text        NOT NULL,
    queue              text        NOT NULL DEFAULT 'default',
    args               jsonb       NOT NULL DEFAULT '{}',
    priority           smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    max_attempts       smallint    NOT NULL DEFAULT 25 CHECK (max_attempts BETWEEN 1 AND 1000),
    tags               text[]      NOT NULL DEFAULT '{}',
    metadata           jsonb       NOT NULL DEFAULT '{}',
    missed_fire_policy text        NOT NULL DEFAULT 'coalesce' CHECK (missed_fire_policy IN ('coalesce', 'catch_up')),
    last_enqueued_at   timestamptz,
    paused_at          timestamptz,
    paused_by          text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE awa.runtime_instances (
    instance_id  uuid        PRIMARY KEY,
    hostname     text        NOT NULL,
    pid          integer     NOT NULL,
    version      text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    leader       boolean     NOT NULL DEFAULT false,
    shutting_down boolean    NOT NULL DEFAULT false,
    snapshot     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX runtime_instances_seen ON awa.runtime_instances (last_seen_at DESC);

CREATE TABLE awa.schema_version (
    version     integer     PRIMARY KEY,
    description text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
