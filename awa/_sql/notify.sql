-- LISTEN/NOTIFY. {channel} is composed in as a quoted identifier.

-- name: listen :exec
LISTEN {channel};

-- name: unlisten :exec
UNLISTEN {channel};

-- name: notify :exec
SELECT pg_notify(%(channel)s, %(payload)s);
