-- Outbox ordering: positions are handed out when the emitting transaction commits, in commit order.
--
-- emit() inserts the event with position NULL. A deferred constraint trigger fires for each event at
-- COMMIT (after the transaction's other work, just before it becomes visible); it takes a
-- transaction-level advisory lock ("payorevt") and sets the position from a sequence. The lock is released
-- only after the transaction is visible to others, so the next committer takes a higher position and
-- becomes visible later: every snapshot sees a prefix of the positions. A reader that has seen position N
-- never later finds a new event below N, so "events after N" never skips one. Writers are serialised only
-- for the few microseconds of their commit (plus its WAL flush), not from emit() to the commit, and the
-- lock holder takes no other lock afterwards, so it cannot deadlock.
CREATE SEQUENCE IF NOT EXISTS events_outbox_position_seq;

CREATE OR REPLACE FUNCTION events_outbox_sequence() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(8097887124556445300);  -- 0x7061796F72657674, "payorevt"
    PERFORM set_config('payor.outbox_sequencing', 'on', true);
    UPDATE events_outboxevent SET position = nextval('events_outbox_position_seq')
    WHERE id = NEW.id AND position IS NULL;
    PERFORM set_config('payor.outbox_sequencing', 'off', true);
    RETURN NULL;
END;
$fn$;

DROP TRIGGER IF EXISTS events_outbox_sequence ON events_outboxevent;
CREATE CONSTRAINT TRIGGER events_outbox_sequence
    AFTER INSERT ON events_outboxevent
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION events_outbox_sequence();

-- Events are append-only. The one write allowed is the sequencing above: inside the emitting transaction,
-- position NULL -> a value, nothing else changing. TRUNCATE is not blocked (the test framework empties
-- tables with it).
CREATE OR REPLACE FUNCTION events_outbox_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('payor.outbox_sequencing', true) = 'on'
       AND OLD.position IS NULL AND NEW.position IS NOT NULL
       AND OLD.xact_id = pg_current_xact_id()::text::bigint
       AND (NEW.id, NEW.topic, NEW.aggregate_type, NEW.aggregate_id, NEW.project_id, NEW.payload,
            NEW.occurred_at, NEW.xact_id)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.topic, OLD.aggregate_type, OLD.aggregate_id, OLD.project_id, OLD.payload,
            OLD.occurred_at, OLD.xact_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'PY002',
        MESSAGE = 'outbox events are append-only: ' || lower(TG_OP) || ' refused';
END;
$fn$;

DROP TRIGGER IF EXISTS events_outbox_append_only ON events_outboxevent;
CREATE TRIGGER events_outbox_append_only
    BEFORE UPDATE OR DELETE ON events_outboxevent
    FOR EACH ROW EXECUTE FUNCTION events_outbox_append_only();
