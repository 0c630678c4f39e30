-- Users whose tasks changed (created, completed, edited) between %(since)s and %(as_of)s, most
-- active first. %(top_users)s limits the list to the N most active; NULL means all of them.
SELECT a.user_id
FROM (
    SELECT
        user_id,
        count(*) AS activity
    FROM tasks
    WHERE
        NOT deleted
        AND updated_at >= %(since)s::timestamptz
        AND updated_at < %(as_of)s::timestamptz
    GROUP BY user_id
) AS a
ORDER BY a.activity DESC, a.user_id ASC
LIMIT %(top_users)s
