-- 0003 callbacks and waiting for outcomes.

-- Waiters (client.wait_for) listen on awa:finished: one NOTIFY per statement
-- that finishes jobs, carrying their ids (or nothing when the list would be
-- too long for a payload: then every waiter looks).
CREATE FUNCTION awa.notify_finished() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ids text;
BEGIN
    SELECT string_agg(id::text, ',') INTO ids FROM (SELECT id FROM new_rows LIMIT 500) AS f;
    IF ids IS NOT NULL THEN
        IF (SELECT count(*) FROM new_rows) > 500 THEN
            ids := '';
        END IF;
        PERFORM pg_notify('awa:finished', ids);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER notify_finished AFTER INSERT ON awa.jobs_terminal
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awa.notify_finished();
