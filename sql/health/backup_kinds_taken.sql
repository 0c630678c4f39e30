-- The kinds of backup ever catalogued (verified or not, kept or not).
SELECT DISTINCT kind FROM ops.backups
