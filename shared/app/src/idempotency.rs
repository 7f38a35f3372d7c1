//! Safe retries: a POST that creates, sent with an `Idempotency-Key`, is answered once and replayed after
//! (draft-ietf-httpapi-idempotency-key-header). The protocol that makes one key create at most one notification,
//! and why it holds under RDS Proxy, is described in `notify_db::idempotency`; this is the use case around it:
//! the claim in the [`ClaimStore`] (one Redis round trip), the answers a repeat gets, the release of a refusal.

mod store;

use uuid::Uuid;

use crate::AppState;
use crate::notifications::requests::JsonBody;
use notify_core::errors::V2Error;
use notify_core::idempotency::{self, IdempotencyKey, LEASE};
use notify_db::{AnsweredKey, IdempotentRequest};
pub use store::{Claim, ClaimResult, ClaimStore};

/// What a POST that creates answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Made by this request: 201 with this body (serialised once: it is also what a replay answers).
    Created(String),
    /// The first response again, as it was sent.
    Replayed { status: u16, body: String },
}

/// A request with a key that goes on to the pipeline.
pub(crate) struct Keyed {
    pub(crate) request: IdempotentRequest,
    /// Its claim in the store; `None` when the store could not be reached (the unique key index still keeps the key
    /// to one notification).
    claim: Option<Claim>,
}

/// How a request with a key goes on.
pub(crate) enum Begun {
    /// Run it, then [`settle`] it.
    Go(Keyed),
    Replay {
        status: u16,
        body: String,
    },
}

/// A few tries cover the rare races (two retries taking over the same dead claim); what is still contended after
/// them is, for the client, a request in flight.
const CLAIM_TRIES: usize = 3;

/// Claims `key` for this request, or finds what the key already has: the first response (replayed), another
/// request's (422), one still in flight (409). Only a repeat reads Postgres.
pub(crate) async fn begin(
    state: &AppState,
    service_id: Uuid,
    key: &IdempotencyKey,
    operation: &str,
    body: &JsonBody<'_>,
) -> Result<Begun, V2Error> {
    let request = IdempotentRequest {
        service_id,
        key: key.as_str().to_string(),
        fingerprint: idempotency::fingerprint(operation, body.raw(), body.value()),
    };
    let lease = chrono::TimeDelta::from_std(LEASE).unwrap_or_default();
    for _ in 0..CLAIM_TRIES {
        let now = state.now();
        let ours = Claim {
            fingerprint: request.fingerprint,
            claim_id: Uuid::new_v4(),
            lease_until: now + lease,
        };
        let held = match state
            .claims
            .claim(service_id, &request.key, &ours, now)
            .await
        {
            ClaimResult::Claimed => return Ok(go(request, Some(ours))),
            ClaimResult::Held(held) => held,
            // Without the store a repeat of an answered request is still answered without running it again; a
            // concurrent one runs and is answered the first response when it comes to store its own.
            ClaimResult::Unavailable => {
                return match stored_answer(state, &request).await? {
                    Some(answer) => replay_or_reused(&request, answer),
                    None => Ok(go(request, None)),
                };
            }
        };
        let in_lease = held.lease_until > now;
        if in_lease && held.fingerprint != request.fingerprint {
            return Err(idempotency::reused());
        }
        if let Some(answer) = stored_answer(state, &request).await? {
            return replay_or_reused(&request, answer);
        }
        if in_lease {
            return Err(idempotency::outstanding());
        }
        // Not answered and its lease over: its request died (or was refused and could not release). Ours, unless
        // another retry took it first.
        match state
            .claims
            .take_over(service_id, &request.key, &held, &ours, now)
            .await
        {
            Some(true) => return Ok(go(request, Some(ours))),
            Some(false) => continue,
            None => return Ok(go(request, None)),
        }
    }
    Err(idempotency::outstanding())
}

fn go(request: IdempotentRequest, claim: Option<Claim>) -> Begun {
    Begun::Go(Keyed { request, claim })
}

async fn stored_answer(
    state: &AppState,
    request: &IdempotentRequest,
) -> Result<Option<AnsweredKey>, V2Error> {
    Ok(state
        .db
        .answered_idempotency_key(request.service_id, &request.key, state.now())
        .await?)
}

fn replay_or_reused(request: &IdempotentRequest, answer: AnsweredKey) -> Result<Begun, V2Error> {
    if answer.fingerprint != request.fingerprint {
        return Err(idempotency::reused());
    }
    notify_core::metrics::count("IdempotentReplays", 1, &[]);
    Ok(Begun::Replay {
        status: answer.status_code as u16,
        body: answer.response_body,
    })
}

/// A request that was refused is not remembered: the client may send the key again with a corrected request.
async fn release(state: &AppState, keyed: &Keyed) {
    if let Some(claim) = &keyed.claim {
        state
            .claims
            .release(keyed.request.service_id, &keyed.request.key, claim)
            .await;
    }
}

/// Runs a request's outcome through: a body it created was stored with the key's response; `Ok(None)` is a
/// request that found the key answered when it came to store (nothing stored), so it is answered from the
/// stored row; a refusal releases the claim.
pub(crate) async fn settle(
    state: &AppState,
    keyed: &Keyed,
    outcome: Result<Option<String>, V2Error>,
) -> Result<Answer, V2Error> {
    let refused = match outcome {
        Ok(Some(body)) => return Ok(Answer::Created(body)),
        Ok(None) => {
            tracing::info!(service_id = %keyed.request.service_id, "idempotency key answered by another request; nothing stored");
            match stored_answer(state, &keyed.request).await {
                Ok(Some(answer)) if answer.fingerprint == keyed.request.fingerprint => {
                    notify_core::metrics::count("IdempotentReplays", 1, &[]);
                    return Ok(Answer::Replayed {
                        status: answer.status_code as u16,
                        body: answer.response_body,
                    });
                }
                // Our claim would name this body as the key's request; the stored answer is another's: released,
                // so that a repeat of that one is not told 422 by the store.
                Ok(Some(_)) => idempotency::reused(),
                // Answered, then forgotten in between: the next retry finds out.
                Ok(None) => idempotency::outstanding(),
                Err(e) => e,
            }
        }
        Err(e) => e,
    };
    release(state, keyed).await;
    Err(refused)
}
