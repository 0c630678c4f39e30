-- A kind seen for the first time gets its control row with the config's defaults; an operator's
-- row is never changed.
INSERT INTO analytics_merge_control (kind, enabled, batch_rows, note)
SELECT
    k.kind,
    %(enabled)s,
    %(batch_rows)s,
    'added by analytics_ingest_merge with the config defaults'
FROM unnest(%(kinds)s::text[]) AS k (kind)
ON CONFLICT (kind) DO NOTHING
