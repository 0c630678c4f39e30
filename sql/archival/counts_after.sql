-- After archiving: rows older than %(cutoff)s left in daily_analytics (must be 0) and in its archive.
-- (No date range here: after a big move, min/max would walk every dead index entry again.)
SELECT
    (
        SELECT count(*) FROM daily_analytics
        WHERE date < %(cutoff)s::date
    ) AS in_source,
    (
        SELECT count(*) FROM daily_analytics_archive
        WHERE date < %(cutoff)s::date
    ) AS in_archive
