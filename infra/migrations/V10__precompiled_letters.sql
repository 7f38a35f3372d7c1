-- Precompiled letters (issue 13): the file as uploaded lives in the file store under `upload_key` (the bucket
-- GuardDuty watches, in AWS); this row is what the scanner made of it, what an operator sees, and how often
-- scanning failed (5 failed scans → technical-failure). The file the printer gets, once checked, is a
-- `letter_files` row like a templated letter's; a failed check is a `letter_validation_results` row.
CREATE TABLE precompiled_letters (
    notification_id uuid PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    upload_key text NOT NULL,
    -- Scans that ended in an error (scanner down, GuardDuty's UNSUPPORTED / ACCESS_DENIED / FAILED).
    scan_attempts integer NOT NULL DEFAULT 0,
    last_scan_error text,
    last_scan_at timestamptz,
    -- The verdict, once there is one.
    scanner text,
    scan_result text CHECK (scan_result IN ('clean', 'infected')),
    signature text,
    scanned_at timestamptz,
    -- When the print checks ran (whatever they found).
    checked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The re-scan job reads letters still pending a scan by age.
CREATE INDEX ix_notifications_letters_pending_virus_check ON notifications (created_at)
    WHERE notification_type = 'letter' AND notification_status = 'pending-virus-check';
