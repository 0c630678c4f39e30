-- %(tasks_per_day)s tasks on each of the %(days)s UTC days ending %(last_day)s, generated
-- server-side in one statement. r1..r7 are independent uniform draws in [0, 1) from a hash of the
-- row number and the seed. Users are skewed (r2 squared) so a few are far more active.
INSERT INTO tasks (id, user_id, title, status, priority, created_at, completed_at, due_at, deleted, updated_at)
SELECT
    c.i + 1,
    1 + floor(%(users)s * c.r2 * c.r2)::bigint,
    'task ' || (c.i + 1),
    c.status,
    c.priority,
    c.created_at,
    c.completed_at,
    c.due_at,
    c.deleted,
    coalesce(c.completed_at, c.created_at)
FROM (
    SELECT
        t.*,
        CASE
            WHEN t.status = 'done'
                THEN least(
                    t.created_at + t.r5 * interval '72 hours',
                    (%(last_day)s::date + 1)::timestamp AT TIME ZONE 'UTC' - interval '1 microsecond'
                )
        END AS completed_at,
        CASE WHEN t.r6 < 0.8 THEN t.created_at + (1 + floor(t.r6 * 17.5)) * interval '1 day' END AS due_at
    FROM (
        SELECT
            r.i,
            r.r2,
            r.r5,
            r.r6,
            r.r7 < 0.03 AS deleted,
            (%(last_day)s::date - %(days)s + 1 + (r.i / %(tasks_per_day)s)::integer)::timestamp AT TIME ZONE 'UTC'
            + r.r1 * interval '86399.999 seconds' AS created_at,
            CASE
                WHEN r.r3 < 0.3 THEN 'low' WHEN r.r3 < 0.7 THEN 'medium' WHEN r.r3 < 0.9 THEN 'high' ELSE 'urgent'
            END AS priority,
            CASE
                WHEN r.r4 < 0.55 THEN 'done'
                WHEN r.r4 < 0.60 THEN 'cancelled'
                WHEN r.r4 < 0.75 THEN 'in_progress'
                ELSE 'todo'
            END AS status
        FROM (
            SELECT
                s.i,
                (hashint8extended(s.i, %(seed)s * 16 + 1) & 2147483647) / 2147483648.0 AS r1,
                (hashint8extended(s.i, %(seed)s * 16 + 2) & 2147483647) / 2147483648.0 AS r2,
                (hashint8extended(s.i, %(seed)s * 16 + 3) & 2147483647) / 2147483648.0 AS r3,
                (hashint8extended(s.i, %(seed)s * 16 + 4) & 2147483647) / 2147483648.0 AS r4,
                (hashint8extended(s.i, %(seed)s * 16 + 5) & 2147483647) / 2147483648.0 AS r5,
                (hashint8extended(s.i, %(seed)s * 16 + 6) & 2147483647) / 2147483648.0 AS r6,
                (hashint8extended(s.i, %(seed)s * 16 + 7) & 2147483647) / 2147483648.0 AS r7
            FROM generate_series(0::bigint, %(days)s::bigint * %(tasks_per_day)s - 1) AS s (i)
        ) AS r
    ) AS t
) AS c
