-- When each location's custom field definitions were last read from GHL (services/customfields
-- /sync.py), and three pure helpers the read API filters custom values with. GHL sends every
-- custom value as it was typed (numbers as strings or numbers, dates as ISO dates or epoch
-- milliseconds): the helpers read them as services/customfields/types.py does, and answer NULL
-- (never an error) for a value that does not fit, so one bad value cannot fail a list.

CREATE TABLE custom_field_syncs (
    location_id  text        PRIMARY KEY,
    attempted_at timestamptz NOT NULL,
    synced_at    timestamptz,
    fields       integer     NOT NULL DEFAULT 0,
    reason       text        NOT NULL,
    error        text
);

CREATE FUNCTION ghl_cf_number(v jsonb) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n numeric;
BEGIN
    IF jsonb_typeof(v) = 'number' THEN
        n := (v #>> '{}')::numeric;
    ELSIF jsonb_typeof(v) = 'string' THEN
        n := replace(btrim(v #>> '{}'), ',', '')::numeric;
    ELSE
        RETURN NULL;
    END IF;
    IF n = 'NaN'::numeric OR n IN ('Infinity'::numeric, '-Infinity'::numeric) THEN
        RETURN NULL;
    END IF;
    RETURN n;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

CREATE FUNCTION ghl_cf_date(v jsonb) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    t text := btrim(v #>> '{}');
BEGIN
    IF jsonb_typeof(v) = 'number' OR (jsonb_typeof(v) = 'string' AND t ~ '^[0-9]+$') THEN
        RETURN (timestamp '1970-01-01' + (t::numeric / 1000) * interval '1 second')::date;
    END IF;
    IF jsonb_typeof(v) = 'string' AND t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN
        RETURN left(t, 10)::date;
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- Whether a value holds the option: one of an array's strings, or the string itself.
CREATE FUNCTION ghl_cf_has(v jsonb, option text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(v)
        WHEN 'array' THEN v ? option
        WHEN 'string' THEN v #>> '{}' = option
        ELSE false
    END
$$;
