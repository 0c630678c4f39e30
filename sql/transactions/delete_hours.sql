-- Clear the hours about to be rebuilt; runs in the same transaction as insert_hours.sql.
DELETE FROM txn_hourly_agg
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
