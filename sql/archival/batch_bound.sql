-- The last key of the next batch: the %(batch_rows)s-th row after (%(after_date)s, %(after_user)s)
-- in primary-key order among rows older than %(cutoff)s. No row: fewer than that many remain.
SELECT
    date,
    user_id
FROM daily_analytics
WHERE
    date < %(cutoff)s::date
    AND (date, user_id) > (%(after_date)s::date, %(after_user)s::bigint)
ORDER BY date, user_id
LIMIT 1 OFFSET %(batch_rows)s::integer - 1
