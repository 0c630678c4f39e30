-- Rows older than %(cutoff)s in daily_analytics and in its archive, and the source's date range.
SELECT
    (
        SELECT count(*) FROM daily_analytics
        WHERE date < %(cutoff)s::date
    ) AS in_source,
    (
        SELECT count(*) FROM daily_analytics_archive
        WHERE date < %(cutoff)s::date
    ) AS in_archive,
    (
        SELECT min(date) FROM daily_analytics
        WHERE date < %(cutoff)s::date
    ) AS oldest,
    (
        SELECT max(date) FROM daily_analytics
        WHERE date < %(cutoff)s::date
    ) AS newest
