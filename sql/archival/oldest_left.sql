-- The oldest day still older than %(cutoff)s in daily_analytics (NULL: none left).
SELECT min(date) FROM daily_analytics
WHERE date < %(cutoff)s::date
