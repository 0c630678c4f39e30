-- How an export ended: succeeded (rows, bytes, where) or failed (why).
UPDATE ops.incident_exports
SET
    status = %(status)s,
    finished_at = clock_timestamp(),
    exported_rows = %(exported_rows)s,
    exported_bytes = %(exported_bytes)s,
    truncated = %(truncated)s,
    location = %(location)s,
    error = %(error)s
WHERE id = %(export_id)s
