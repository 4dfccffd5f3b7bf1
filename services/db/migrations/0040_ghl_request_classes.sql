-- The day's requests per location by request class (services/ghl/_ratelimit.py,
-- `RequestClass`), and a second pacing clock for the background priorities (poll, backfill).
--
-- `ghl_rate_book_v2` books like `ghl_rate_book` (0011) and, in the same statement, adds the
-- slots it granted to `ghl_request_counts`: the accounting costs no extra round trip or commit.
-- Background bookings (p_share < 1) are spaced `spacing / p_share` apart on `tat_bg` and never
-- before the main `tat`; every booking moves the main `tat` past its last slot, so slots of
-- all priorities stay at least one spacing apart (the window guarantee of 0011 holds).

ALTER TABLE ghl_rate_limits ADD COLUMN tat_bg double precision NOT NULL DEFAULT 0;

CREATE TABLE ghl_request_counts (
    location_id   text    NOT NULL,
    day           date    NOT NULL,
    request_class text    NOT NULL,
    requests      bigint  NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (location_id, day, request_class)
);

CREATE FUNCTION ghl_rate_book_v2(
    p_location text, p_class text, p_count integer, p_horizon double precision,
    p_max integer, p_interval double precision, p_daily integer, p_margin double precision,
    p_share double precision
) RETURNS TABLE (
    granted integer, first_seq bigint, first_at double precision,
    delay double precision, spacing double precision, retry_in double precision
) LANGUAGE plpgsql AS $$
DECLARE
    r         ghl_rate_limits%ROWTYPE;
    v_now     double precision := extract(epoch FROM clock_timestamp());
    v_day     integer := floor(extract(epoch FROM clock_timestamp()) / 86400)::integer;
    v_bg      boolean := p_share < 1;
    v_others  integer;
    v_max     integer;
    v_spacing double precision;
    v_step    double precision;
    v_start   double precision;
    v_wait    double precision;
    v_left    integer;
    v_k       integer;
    v_last    double precision;
BEGIN
    INSERT INTO ghl_rate_limits (location_id, max_requests, interval_s, daily_limit)
    VALUES (p_location, p_max, p_interval, p_daily)
    ON CONFLICT (location_id) DO NOTHING;
    SELECT * INTO r FROM ghl_rate_limits WHERE location_id = p_location FOR UPDATE;
    IF r.day <> v_day THEN
        r.day_count := 0;
    END IF;
    v_max := least(r.max_requests, p_max);
    v_others := CASE WHEN v_now < r.others_until THEN r.others ELSE 0 END;
    v_spacing := greatest(r.interval_s, p_interval) * (1 + p_margin)
                 / greatest(v_max - 1 - v_others, 1);
    v_step := v_spacing / CASE WHEN v_bg THEN greatest(p_share, 0.01) ELSE 1 END;
    v_start := CASE WHEN v_bg THEN greatest(r.tat, r.tat_bg, v_now) ELSE greatest(r.tat, v_now) END;
    v_wait := v_start - v_now;
    IF v_wait > p_horizon THEN
        RETURN QUERY SELECT 0, 0::bigint, 0::float8, 0::float8, v_step, v_wait - p_horizon;
        RETURN;
    END IF;
    v_left := least(r.daily_limit, p_daily) - r.day_count;
    IF v_left <= 0 THEN
        RETURN QUERY SELECT 0, 0::bigint, 0::float8, 0::float8, v_step,
                            (v_day + 1) * 86400.0 - v_now;
        RETURN;
    END IF;
    v_k := least(p_count, floor((p_horizon - v_wait) / v_step)::integer + 1, v_left);
    v_last := v_start + (v_k - 1) * v_step;
    UPDATE ghl_rate_limits SET
        tat = greatest(r.tat, v_last + v_spacing),
        tat_bg = CASE WHEN v_bg THEN v_last + v_step ELSE r.tat_bg END,
        seq = r.seq + v_k,
        day = v_day,
        day_count = r.day_count + v_k,
        recent = ARRAY(
            SELECT x FROM unnest(
                r.recent || ARRAY(SELECT v_start + i * v_step FROM generate_series(0, v_k - 1) i)
            ) AS x
            ORDER BY x DESC LIMIT 2 * v_max
        ),
        updated_at = now()
    WHERE location_id = p_location;
    INSERT INTO ghl_request_counts AS c (location_id, day, request_class, requests)
    VALUES (p_location, (to_timestamp(v_now) AT TIME ZONE 'UTC')::date, p_class, v_k)
    ON CONFLICT (location_id, day, request_class)
    DO UPDATE SET requests = c.requests + EXCLUDED.requests, updated_at = now();
    RETURN QUERY SELECT v_k, r.seq + 1, v_start, v_wait, v_step, 0::float8;
END
$$;
