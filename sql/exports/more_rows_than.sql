-- Whether the window holds more events than an export's max_rows (its CSV was cut at max_rows).
-- Which rows the LIMIT keeps does not matter: they are only counted.
SELECT count(*) > %(max_rows)s AS truncated
FROM (
    SELECT 1 AS one
    FROM usage_events
    WHERE
        org_id = %(org_id)s
        AND (%(model_id)s::text IS NULL OR model_id = %(model_id)s::text)
        AND occurred_at >= %(start)s::timestamptz
        AND occurred_at < %(end)s::timestamptz
    LIMIT %(max_rows)s + 1  -- noqa: AM09
) AS window_rows
