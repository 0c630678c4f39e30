-- Two runs writing the same day wait for each other instead of both deleting and then colliding on
-- the primary key. One transaction-scoped advisory lock per day, taken in date order so two
-- overlapping ranges cannot deadlock. 4201 namespaces the suite's aggregation locks.
SELECT pg_advisory_xact_lock(4201, (d::date - date '2000-01-01'))
FROM generate_series(%(start_day)s::date, %(end_day)s::date, interval '1 day') AS d
ORDER BY d
