-- Safe retries (issue 15): a send's Idempotency-Key and its answer are kept on the notification they created,
-- not in a row of their own. Measured with pgbench (BENCHMARKS.md): a second row with its own primary key and an
-- ON CONFLICT speculative insert cost a quarter to a third of the send's statement; three columns on the row the
-- send writes anyway and one partial unique index cost next to nothing. The index is what makes one key create at
-- most one notification: a second insert of the key fails on it and stores nothing. `idempotency_keys` keeps the
-- answers that create no notification (a simulated recipient, a bulk job). The hourly purge clears the columns
-- once the key is past its 24 hours, so the index holds only a day of keys.
ALTER TABLE notifications
    ADD COLUMN idempotency_key text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    ADD COLUMN idempotency_fingerprint bytea,
    ADD COLUMN idempotency_response text,
    ADD CONSTRAINT notifications_idempotency_complete CHECK (
        (idempotency_key IS NULL) = (idempotency_fingerprint IS NULL)
        AND (idempotency_key IS NULL) = (idempotency_response IS NULL));

CREATE UNIQUE INDEX ix_notifications_idempotency_key ON notifications (service_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
