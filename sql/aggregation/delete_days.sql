-- Clear the days about to be rewritten; runs in the same transaction as aggregate_days.sql.
DELETE FROM daily_analytics
WHERE date BETWEEN %(start_day)s::date AND %(end_day)s::date
