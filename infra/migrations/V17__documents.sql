-- Files sent by email (Notify's document download). The file itself is in the file store, sealed with AES-256-GCM
-- under a key made for that document and never stored: it travels only in the recipient's link. What is here
-- cannot open the file or name the recipient: `key_check` tells the link's key from a wrong one, and
-- `confirm_email_hash` (set when the sender asked for the address to be confirmed) is an HMAC of the normalised
-- address under that same key, so even a guessable address can be checked only by someone holding the link.
CREATE TABLE documents (
    id uuid PRIMARY KEY,
    -- No foreign key: a purged functional-test service leaves its documents to expire with the others.
    service_id uuid NOT NULL,
    -- The sender's `filename`, or NULL: the page then calls the file `{id}.{extension}`.
    filename text,
    mime_type text NOT NULL,
    -- Bytes of the file as sent (before sealing).
    size_bytes int4 NOT NULL CHECK (size_bytes > 0),
    key_check bytea NOT NULL,
    confirm_email_hash bytea,
    -- created_at + the retention period (default 26 weeks, at most 78); the page says the file has gone after it.
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);

-- The purge (delete-expired-documents): the oldest expiries first, in bounded batches.
CREATE INDEX documents_expires_at ON documents (expires_at);
CREATE INDEX documents_by_service ON documents (service_id);
