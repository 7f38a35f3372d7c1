-- Safe retries (issue 15): the Idempotency-Key a service sent with a POST that creates (a notification or a bulk
-- job), remembered for 24 hours with the response it got, so a retry is answered that response again.
--
-- Two tables, so that a send with a key costs one durable commit, as a send without one does:
-- * `idempotency_claims` (UNLOGGED): the request in flight holding a key, with a lease. A transaction that writes
--   only unlogged tables writes no WAL, so Postgres does not wait for a flush to commit it: the claim is cheap.
--   Lost in a crash, which is what it should be: the requests it marked died with the server.
-- * `idempotency_keys`: the first response, written in the same statement (or transaction) as the notification or
--   job it describes, and only if the claim was still that request's. See notify_db::idempotency.
CREATE UNLOGGED TABLE idempotency_claims (
    service_id uuid NOT NULL,
    idempotency_key text NOT NULL,
    -- SHA-256 of the operation and the canonical JSON body: the same key with another request is refused.
    fingerprint bytea NOT NULL,
    -- The request holding the key; only it may complete it.
    claim_id uuid NOT NULL,
    -- Until when the claim holds. A request that died leaves a claim another may take after this.
    locked_until timestamptz NOT NULL,
    PRIMARY KEY (service_id, idempotency_key)
);

CREATE TABLE idempotency_keys (
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint bytea NOT NULL,
    created_at timestamptz NOT NULL,
    -- The first response: replayed byte for byte.
    status_code smallint NOT NULL,
    response_body text NOT NULL,
    -- The notification or job the first request created.
    resource_id uuid,
    PRIMARY KEY (service_id, idempotency_key)
);

-- delete-expired-idempotency-keys takes the oldest first in bounded batches.
CREATE INDEX ix_idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE INDEX ix_idempotency_claims_locked_until ON idempotency_claims (locked_until);
