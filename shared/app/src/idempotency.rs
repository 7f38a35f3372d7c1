//! Safe retries: a POST that creates, sent with an `Idempotency-Key`, is answered once and replayed after
//! (draft-ietf-httpapi-idempotency-key-header). The protocol that makes one key create at most one notification,
//! and why it holds under RDS Proxy, is described in `notify_db::idempotency`; this is the use case around it.

use serde_json::Value;
use uuid::Uuid;

use crate::AppState;
use notify_core::errors::V2Error;
use notify_core::idempotency::{self, IdempotencyKey, LEASE, RETENTION};
use notify_db::{ClaimOutcome, HeldKey, IdempotencyClaim};

/// What a POST that creates answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Made by this request: 201 with this body.
    Created(Value),
    /// The first request's response again, as it was sent.
    Replayed { status: u16, body: String },
}

/// How a request with a key goes on.
pub(crate) enum Begun {
    /// This request holds the key: run it, then complete or release the claim.
    Claimed(IdempotencyClaim),
    Replay {
        status: u16,
        body: String,
    },
}

/// A few tries cover the rare races (the row released or its lease ending between our two statements); what is
/// still contended after them is, for the client, a request in flight.
const CLAIM_TRIES: usize = 3;

/// Claims `key` for this request, or finds what the key already has: the first response (replayed), another
/// request's (422), one still in flight (409).
pub(crate) async fn begin(
    state: &AppState,
    service_id: Uuid,
    key: &IdempotencyKey,
    operation: &str,
    body: &[u8],
) -> Result<Begun, V2Error> {
    let claim = IdempotencyClaim {
        service_id,
        key: key.as_str().to_string(),
        fingerprint: idempotency::fingerprint(operation, body),
        claim_id: Uuid::new_v4(),
    };
    for _ in 0..CLAIM_TRIES {
        let now = state.now();
        let held = match state
            .db
            .claim_idempotency_key(&claim, now, LEASE, RETENTION)
            .await?
        {
            ClaimOutcome::Claimed => return Ok(Begun::Claimed(claim)),
            ClaimOutcome::Vanished => continue,
            ClaimOutcome::Held(held) => held,
        };
        match held {
            HeldKey::Answered { fingerprint, .. } | HeldKey::InFlight { fingerprint, .. }
                if fingerprint != claim.fingerprint =>
            {
                return Err(idempotency::reused());
            }
            HeldKey::Answered {
                status_code,
                response_body,
                ..
            } => {
                notify_core::metrics::count("IdempotentReplays", 1, &[]);
                return Ok(Begun::Replay {
                    status: status_code as u16,
                    body: response_body,
                });
            }
            // Its lease ended between our two statements: take it over.
            HeldKey::InFlight { locked_until, .. } if locked_until <= now => continue,
            HeldKey::InFlight { .. } => return Err(idempotency::outstanding()),
        }
    }
    Err(idempotency::outstanding())
}

/// A request that was refused is not remembered: the client may send the key again with a corrected request.
/// If the delete fails too, the lease runs out and the next request with the key takes the row over.
pub(crate) async fn release(state: &AppState, claim: &IdempotencyClaim) {
    if let Err(e) = state.db.release_idempotency_key(claim).await {
        tracing::warn!(service_id = %claim.service_id, error = %e, "idempotency key not released; its lease will end");
    }
}

/// Runs a claimed request's outcome through: a refusal releases the claim; a created body is already remembered
/// (it was written with what it created).
pub(crate) async fn settle(
    state: &AppState,
    claim: &IdempotencyClaim,
    outcome: Result<Value, V2Error>,
) -> Result<Answer, V2Error> {
    match outcome {
        Ok(body) => Ok(Answer::Created(body)),
        Err(e) => {
            release(state, claim).await;
            Err(e)
        }
    }
}

/// What a claimed request found when it came to store what it made: its claim gone (its lease ran out and a
/// retry took the key over) or the key answered meanwhile, so it stored nothing; the next retry is answered.
pub(crate) fn claim_lost(claim: &IdempotencyClaim) -> V2Error {
    tracing::warn!(service_id = %claim.service_id, "idempotency claim taken over before completion; nothing stored");
    idempotency::outstanding()
}
