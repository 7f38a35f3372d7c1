-- Bulk sending (issue 14): CSV jobs, GC Notify's public bulk endpoint, and scheduled single sends.

-- What the upload's metadata said, kept with the job: the sender chosen for every row, the API key of a job
-- created through POST /v2/notifications/bulk (its rows are that key's sends; admin jobs have none), and where the
-- CSV lives in the file store (`service-{service_id}-notify/{upload_id}.csv`).
ALTER TABLE jobs
    ADD COLUMN sender_id uuid,
    ADD COLUMN api_key_id uuid REFERENCES api_keys (id),
    ADD COLUMN upload_key text,
    -- Rows the worker has persisted so far (a checkpoint, not a count the API trusts): a run that timed out
    -- resumes from here, and ON CONFLICT (job_id, job_row_number) makes a re-done batch a no-op.
    ADD COLUMN rows_processed integer NOT NULL DEFAULT 0,
    -- When a worker last took the job: check-job-status finds jobs stuck `in progress` by this.
    ADD COLUMN processing_heartbeat timestamptz;

-- run-scheduled-jobs reads due scheduled jobs every minute; check-job-status reads jobs in flight.
CREATE INDEX ix_jobs_scheduled ON jobs (scheduled_for) WHERE job_status = 'scheduled';
CREATE INDEX ix_jobs_in_flight ON jobs (job_status, processing_started)
    WHERE job_status IN ('pending', 'in progress', 'finished');

-- A single send with `scheduled_for` (GC Notify's table): the notification is stored `created` and not queued
-- until its time; the release job queues it within a minute of that time and clears `pending`.
CREATE TABLE scheduled_notifications (
    notification_id uuid PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    scheduled_for timestamptz NOT NULL,
    pending boolean NOT NULL DEFAULT true
);
CREATE INDEX ix_scheduled_notifications_due ON scheduled_notifications (scheduled_for) WHERE pending;
