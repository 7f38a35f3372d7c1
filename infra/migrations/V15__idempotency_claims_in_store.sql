-- Safe retries (issue 15): a request in flight now claims its Idempotency-Key in the claim store beside the rate
-- limiter (Redis when REDIS_URL is set, in-process otherwise), in one round trip, instead of a second Postgres
-- statement per send. What makes one key create at most one notification is `idempotency_keys`' primary key,
-- written in the same statement as the notification; see notify_db::idempotency.
DROP TABLE idempotency_claims;
