-- Safe retries (issue 15): the Idempotency-Key a service sent with a POST that creates (a notification or a bulk
-- job), remembered for 24 hours with the response it got, so a retry is answered that response again.
--
-- A row is first claimed, in its own short statement, `in flight` (status_code NULL) with a lease
-- (`locked_until`) held by one request (`claim_id`); the notification or job is then inserted in the same
-- statement or transaction that completes the row (status_code, response_body, resource_id) for that claim only.
-- A request that fails is not remembered: its claim is deleted. See notify_db::idempotency.
CREATE TABLE idempotency_keys (
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of the operation and the canonical JSON body: the same key with another request is refused.
    fingerprint bytea NOT NULL,
    -- The request holding the row while it is in flight; only that request may complete it.
    claim_id uuid NOT NULL,
    -- While in flight: until when the claim holds. A request that died leaves a row another may take after this.
    locked_until timestamptz,
    created_at timestamptz NOT NULL,
    -- The first response, once there is one: replayed byte for byte.
    status_code smallint,
    response_body text,
    -- The notification or job the first request created.
    resource_id uuid,
    PRIMARY KEY (service_id, idempotency_key)
);

-- delete-expired-idempotency-keys takes the oldest first in bounded batches.
CREATE INDEX ix_idempotency_keys_created_at ON idempotency_keys (created_at);
