-- One request ledger per GHL location, shared by every process of a deployment (see
-- services/ghl/_ratelimit.py). Requests are paced, not burst: `tat` is the epoch second of the
-- location's next free slot, slots are `interval_s * (1 + margin) / (max_requests - 1 - others)`
-- apart, so any window of `interval_s` holds at most `max_requests`, however GHL aligns it.
-- `recent` keeps the latest slot times so GHL's X-RateLimit-Remaining can be compared with our
-- own use; the gap (`others`, someone else's use) slows our pacing until `others_until`.
-- Every change happens under the row lock taken by the functions below.

CREATE TABLE ghl_rate_limits (
    location_id   text             PRIMARY KEY,
    tat           double precision NOT NULL DEFAULT 0,
    seq           bigint           NOT NULL DEFAULT 0,
    day           integer          NOT NULL DEFAULT 0,
    day_count     integer          NOT NULL DEFAULT 0,
    max_requests  integer          NOT NULL,
    interval_s    double precision NOT NULL,
    daily_limit   integer          NOT NULL,
    others        integer          NOT NULL DEFAULT 0,
    others_until  double precision NOT NULL DEFAULT 0,
    recent        double precision[] NOT NULL DEFAULT '{}',
    updated_at    timestamptz      NOT NULL DEFAULT now()
);

-- Book up to p_count consecutive slots no further than p_horizon seconds ahead.
-- granted = 0 means none could be booked; retry_in says when to ask again.
CREATE FUNCTION ghl_rate_book(
    p_location text, p_count integer, p_horizon double precision,
    p_max integer, p_interval double precision, p_daily integer, p_margin double precision
) RETURNS TABLE (
    granted integer, first_seq bigint, first_at double precision,
    delay double precision, spacing double precision, retry_in double precision
) LANGUAGE plpgsql AS $$
DECLARE
    r         ghl_rate_limits%ROWTYPE;
    v_now     double precision := extract(epoch FROM clock_timestamp());
    v_day     integer := floor(extract(epoch FROM clock_timestamp()) / 86400)::integer;
    v_others  integer;
    v_max     integer;
    v_spacing double precision;
    v_start   double precision;
    v_wait    double precision;
    v_left    integer;
    v_k       integer;
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
    v_start := greatest(r.tat, v_now);
    v_wait := v_start - v_now;
    IF v_wait > p_horizon THEN
        RETURN QUERY SELECT 0, 0::bigint, 0::float8, 0::float8, v_spacing, v_wait - p_horizon;
        RETURN;
    END IF;
    v_left := least(r.daily_limit, p_daily) - r.day_count;
    IF v_left <= 0 THEN
        RETURN QUERY SELECT 0, 0::bigint, 0::float8, 0::float8, v_spacing,
                            (v_day + 1) * 86400.0 - v_now;
        RETURN;
    END IF;
    v_k := least(p_count, floor((p_horizon - v_wait) / v_spacing)::integer + 1, v_left);
    UPDATE ghl_rate_limits SET
        tat = v_start + v_k * v_spacing,
        seq = r.seq + v_k,
        day = v_day,
        day_count = r.day_count + v_k,
        recent = ARRAY(
            SELECT x FROM unnest(
                r.recent || ARRAY(SELECT v_start + i * v_spacing FROM generate_series(0, v_k - 1) i)
            ) AS x
            ORDER BY x DESC LIMIT 2 * v_max
        ),
        updated_at = now()
    WHERE location_id = p_location;
    RETURN QUERY SELECT v_k, r.seq + 1, v_start, v_wait, v_spacing, 0::float8;
END
$$;

-- Correct the ledger from GHL's X-RateLimit-* headers on the answer to the slot at p_slot_at.
-- Only ever tightens: a lower max, a longer interval, a lower daily remainder, others' use.
CREATE FUNCTION ghl_rate_observe(
    p_location text, p_slot_at double precision, p_max integer, p_remaining integer,
    p_interval double precision, p_daily_limit integer, p_daily_remaining integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r        ghl_rate_limits%ROWTYPE;
    v_now    double precision := extract(epoch FROM clock_timestamp());
    v_ours   integer;
    v_others integer;
BEGIN
    SELECT * INTO r FROM ghl_rate_limits WHERE location_id = p_location FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_max IS NOT NULL AND p_max > 1 AND p_max < r.max_requests THEN
        r.max_requests := p_max;
    END IF;
    IF p_interval IS NOT NULL AND p_interval > r.interval_s THEN
        r.interval_s := p_interval;
    END IF;
    IF p_daily_limit IS NOT NULL AND p_daily_limit < r.daily_limit THEN
        r.daily_limit := p_daily_limit;
    END IF;
    IF p_daily_remaining IS NOT NULL THEN
        r.day_count := greatest(r.day_count, r.daily_limit - p_daily_remaining);
    END IF;
    IF p_remaining IS NOT NULL THEN
        SELECT count(*) INTO v_ours FROM unnest(r.recent) AS x
        WHERE x > p_slot_at - r.interval_s AND x <= p_slot_at + 1e-6;
        v_others := coalesce(p_max, r.max_requests) - p_remaining - v_ours;
        IF v_others > 0 THEN
            r.others := greatest(v_others, CASE WHEN v_now < r.others_until THEN r.others ELSE 0 END);
            r.others_until := v_now + r.interval_s;
        END IF;
    END IF;
    UPDATE ghl_rate_limits SET
        max_requests = r.max_requests, interval_s = r.interval_s, daily_limit = r.daily_limit,
        day_count = r.day_count, others = r.others, others_until = r.others_until,
        updated_at = now()
    WHERE location_id = p_location;
END
$$;
