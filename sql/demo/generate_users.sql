-- Demo users 1..%(users)s, deterministic for a given %(seed)s (hash-based, not random(): the same
-- rows whatever the plan or number of parallel workers).
INSERT INTO users (id, email, created_at)
SELECT
    u,
    'user' || u || '@example.com',
    (%(first_day)s::date::timestamp AT TIME ZONE 'UTC')
    - make_interval(secs => mod(hashint8extended(u, %(seed)s) & 2147483647, 365 * 86400))
FROM generate_series(1, %(users)s::bigint) AS u
