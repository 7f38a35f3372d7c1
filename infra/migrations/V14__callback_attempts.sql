-- The callback log: one row per attempt at a service callback, written by the status consumer from the callback
-- worker's `callback_attempts` messages (the worker has no database). No body and no bearer token: the URL is
-- kept without its query or credentials. Rows go after 7 days (delete-notifications-older-than-retention).
CREATE TABLE callback_attempts (
    id bigserial PRIMARY KEY,
    service_id uuid NOT NULL,
    callback_type text NOT NULL,
    -- The notification, complaint or inbound text the callback is about.
    subject_id uuid NOT NULL,
    url text NOT NULL,
    attempted_at timestamptz NOT NULL,
    -- The receiver's final HTTP status; NULL when it never answered (timeout, refused address, unreachable).
    status_code int4,
    error text,
    duration_ms int4 NOT NULL,
    -- The queue's receive count: 1 for the first attempt.
    attempt int4 NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('delivered', 'will-retry', 'dropped', 'dead-lettered')),
    -- Failed: anything but a 2xx or 3xx answer. Stored so the admin list's filter is served by the index.
    failed boolean NOT NULL GENERATED ALWAYS AS (status_code IS NULL OR status_code NOT BETWEEN 200 AND 399) STORED
);

-- GET /service/{id}/callbacks: a service's attempts newest first, optionally only the failed ones.
CREATE INDEX callback_attempts_by_service ON callback_attempts (service_id, attempted_at DESC, id DESC);
CREATE INDEX callback_attempts_failed_by_service ON callback_attempts (service_id, attempted_at DESC, id DESC)
    WHERE failed;
-- `notify callbacks replay --status failed`: the latest attempt of each notification's callback.
CREATE INDEX callback_attempts_by_subject ON callback_attempts (subject_id, attempted_at DESC, id DESC);
-- The retention purge.
CREATE INDEX callback_attempts_attempted_at ON callback_attempts (attempted_at);
