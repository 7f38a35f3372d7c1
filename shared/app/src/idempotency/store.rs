//! The claim store: which request holds an Idempotency-Key while it runs. Beside the rate limiter and like it, in
//! Redis when `REDIS_URL` is set (so every Lambda sees the same claims), in-process otherwise. A claim is one
//! round trip (a script: set the key unless it is there, else answer what is there), not a Postgres statement.
//!
//! The store only decides who runs a request and who is told 409 or 422 at once; what makes a key create at
//! most one notification is the notifications' unique key index (`notify_db::idempotency`). So losing a claim is
//! safe (Redis restarted, an entry evicted, another Lambda's in-process store), and a store that cannot be
//! reached is answered [`Unavailable`](ClaimResult::Unavailable) for the caller to go on without one.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use notify_core::idempotency::RETENTION;

/// A request's hold on a key, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// SHA-256 of the operation and canonical body.
    pub fingerprint: [u8; 32],
    /// The holding request's own id: only it may release the claim.
    pub claim_id: Uuid,
    /// Until when it holds the key against a repeat of the same request. The entry itself stays for
    /// [`RETENTION`]: after the lease a repeat finds the response in Postgres, or takes over from a request that
    /// died.
    pub lease_until: DateTime<Utc>,
}

/// What claiming a key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimResult {
    /// The key is ours.
    Claimed,
    /// Another request's claim, as it is now.
    Held(Claim),
    /// The store could not be reached (logged): go on without a claim.
    Unavailable,
}

impl Claim {
    /// `{fingerprint hex} {claim id} {lease end, Unix ms}`.
    fn encode(&self) -> String {
        let mut value = String::with_capacity(64 + 1 + 36 + 1 + 13);
        for b in self.fingerprint {
            value.push_str(&format!("{b:02x}"));
        }
        value.push(' ');
        value.push_str(&self.claim_id.to_string());
        value.push(' ');
        value.push_str(&self.lease_until.timestamp_millis().to_string());
        value
    }

    fn decode(value: &str) -> Option<Claim> {
        let mut parts = value.split(' ');
        let (hex, id, lease) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut fingerprint = [0u8; 32];
        for (i, b) in fingerprint.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Claim {
            fingerprint,
            claim_id: id.parse().ok()?,
            lease_until: Utc.timestamp_millis_opt(lease.parse().ok()?).single()?,
        })
    }
}

/// `KEYS[1]` = the key, `ARGV[1]` = our claim, `ARGV[2]` = its time to live (ms): set it unless the key is held,
/// and answer the holder's claim (nil when it is now ours).
const CLAIM: &str = r"
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";

/// `ARGV[1]` = the claim read, `ARGV[2]` = ours, `ARGV[3]` = its time to live (ms): ours only if the key still
/// holds the one read (another retry may have taken it over first).
const TAKE_OVER: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

/// `ARGV[1]` = our claim: deleted only if the key still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The longest a claim waits for Redis before the request goes on without one: a claim is on the send path.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// After Redis could not be reached, how long requests go on without trying it, rather than each waiting.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// Claims held in-process: enough for a burst of a day's keys; an evicted one is a lost claim (safe, see above).
const IN_PROCESS_CAPACITY: usize = 100_000;

#[derive(Clone)]
struct Entry {
    claim: Claim,
    expires_at: DateTime<Utc>,
}

pub struct ClaimStore(Store);

enum Store {
    InProcess(quick_cache::sync::Cache<String, Entry>),
    Redis(Box<RedisClaims>),
}

struct RedisClaims {
    client: redis::Client,
    /// The connection, dropped when it fails so the next request reconnects, and when the last attempt failed.
    connection: tokio::sync::Mutex<(Option<MultiplexedConnection>, Option<Instant>)>,
    claim: redis::Script,
    take_over: redis::Script,
    release: redis::Script,
}

fn store_key(service_id: Uuid, key: &str) -> String {
    format!("idempotency:{service_id}:{key}")
}

fn ttl_ms() -> i64 {
    RETENTION.num_milliseconds()
}

impl ClaimStore {
    pub fn in_process() -> Self {
        ClaimStore(Store::InProcess(quick_cache::sync::Cache::new(
            IN_PROCESS_CAPACITY,
        )))
    }

    pub fn redis(url: &str) -> Result<Self, redis::RedisError> {
        Ok(ClaimStore(Store::Redis(Box::new(RedisClaims {
            client: redis::Client::open(url)?,
            connection: tokio::sync::Mutex::new((None, None)),
            claim: redis::Script::new(CLAIM),
            take_over: redis::Script::new(TAKE_OVER),
            release: redis::Script::new(RELEASE),
        }))))
    }

    /// Claims `key` for `ours` unless another claim holds it (one that expired after [`RETENTION`] does not).
    pub async fn claim(
        &self,
        service_id: Uuid,
        key: &str,
        ours: &Claim,
        now: DateTime<Utc>,
    ) -> ClaimResult {
        let name = store_key(service_id, key);
        match &self.0 {
            Store::InProcess(cache) => {
                use quick_cache::sync::{EntryAction, EntryResult};
                let fresh = Entry {
                    claim: ours.clone(),
                    expires_at: now + RETENTION,
                };
                loop {
                    let found = cache.entry(&name, None, |_, entry| {
                        if entry.expires_at <= now {
                            *entry = fresh.clone();
                            EntryAction::Retain(None)
                        } else {
                            EntryAction::Retain(Some(entry.claim.clone()))
                        }
                    });
                    match found {
                        EntryResult::Retained(Some(held)) => return ClaimResult::Held(held),
                        EntryResult::Retained(None) => return ClaimResult::Claimed,
                        EntryResult::Vacant(guard) => {
                            if guard.insert(fresh.clone()).is_ok() {
                                return ClaimResult::Claimed;
                            }
                        }
                        // Neither happens without a timeout or another action: read again.
                        EntryResult::Removed(..)
                        | EntryResult::Replaced(..)
                        | EntryResult::Timeout => {}
                    }
                }
            }
            Store::Redis(redis) => {
                let mut call = redis.claim.key(name);
                call.arg(ours.encode()).arg(ttl_ms());
                match redis.run::<Option<String>>(&call, "claim").await {
                    None => ClaimResult::Unavailable,
                    Some(None) => ClaimResult::Claimed,
                    Some(Some(value)) => match Claim::decode(&value) {
                        Some(held) => ClaimResult::Held(held),
                        None => {
                            tracing::warn!(%service_id, "unreadable idempotency claim in Redis: going on without one");
                            ClaimResult::Unavailable
                        }
                    },
                }
            }
        }
    }

    /// Replaces `held` (a claim whose lease is over: its request died) with `ours`; false if the key no longer
    /// holds `held` (another retry took it first, or it expired), `None` if the store could not be reached.
    pub async fn take_over(
        &self,
        service_id: Uuid,
        key: &str,
        held: &Claim,
        ours: &Claim,
        now: DateTime<Utc>,
    ) -> Option<bool> {
        let name = store_key(service_id, key);
        match &self.0 {
            Store::InProcess(cache) => {
                let found = cache.entry(&name, None, |_, entry| {
                    let taken = entry.claim == *held && entry.expires_at > now;
                    if taken {
                        *entry = Entry {
                            claim: ours.clone(),
                            expires_at: now + RETENTION,
                        };
                    }
                    quick_cache::sync::EntryAction::Retain(taken)
                });
                Some(matches!(
                    found,
                    quick_cache::sync::EntryResult::Retained(true)
                ))
            }
            Store::Redis(redis) => {
                let mut call = redis.take_over.key(name);
                call.arg(held.encode()).arg(ours.encode()).arg(ttl_ms());
                redis
                    .run::<i64>(&call, "take over")
                    .await
                    .map(|taken| taken == 1)
            }
        }
    }

    /// Deletes `ours` (a refused request is not remembered), only if the key still holds it. A failure is
    /// logged: the claim's lease then runs out, and the next retry takes the key over.
    pub async fn release(&self, service_id: Uuid, key: &str, ours: &Claim) {
        let name = store_key(service_id, key);
        match &self.0 {
            Store::InProcess(cache) => {
                cache.remove_if(&name, |entry| entry.claim == *ours);
            }
            Store::Redis(redis) => {
                let mut call = redis.release.key(name);
                call.arg(ours.encode());
                let _ = redis.run::<i64>(&call, "release").await;
            }
        }
    }

    /// The claim on `key` now, if any; `None` as well when the store cannot say.
    pub async fn held(&self, service_id: Uuid, key: &str, now: DateTime<Utc>) -> Option<Claim> {
        let name = store_key(service_id, key);
        match &self.0 {
            Store::InProcess(cache) => cache
                .peek(&name)
                .filter(|entry| entry.expires_at > now)
                .map(|entry| entry.claim),
            Store::Redis(redis) => {
                let mut get = redis::cmd("GET");
                get.arg(name);
                let mut conn = redis.connection().await?;
                let value: Option<String> = get.query_async(&mut conn).await.ok()?;
                value.as_deref().and_then(Claim::decode)
            }
        }
    }
}

impl RedisClaims {
    /// The shared connection, made when there is none; `None` while Redis was unreachable a moment ago.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut slot = self.connection.lock().await;
        if let Some(conn) = &slot.0 {
            return Some(conn.clone());
        }
        if slot
            .1
            .is_some_and(|failed| failed.elapsed() < RECONNECT_AFTER)
        {
            return None;
        }
        match tokio::time::timeout(
            REDIS_TIMEOUT,
            self.client.get_multiplexed_async_connection(),
        )
        .await
        {
            Ok(Ok(conn)) => {
                *slot = (Some(conn.clone()), None);
                Some(conn)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis unavailable: idempotency keys not claimed");
                *slot = (None, Some(Instant::now()));
                None
            }
            Err(_) => {
                tracing::warn!("redis connection timed out: idempotency keys not claimed");
                *slot = (None, Some(Instant::now()));
                None
            }
        }
    }

    /// Runs a script (EVALSHA, loading it on first use); `None`, logged, when Redis did not answer.
    async fn run<T: redis::FromRedisValue>(
        &self,
        call: &redis::ScriptInvocation<'_>,
        what: &str,
    ) -> Option<T> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "idempotency claim store: {what} failed; going on without it");
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    *self.connection.lock().await = (None, Some(Instant::now()));
                }
                None
            }
            Err(_) => {
                tracing::warn!("idempotency claim store: {what} timed out; going on without it");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(n: u8, lease_until: DateTime<Utc>) -> Claim {
        Claim {
            fingerprint: [n; 32],
            claim_id: Uuid::new_v4(),
            lease_until,
        }
    }

    #[test]
    fn a_claim_reads_back_as_written() {
        let c = claim(0xab, Utc.timestamp_millis_opt(1_764_000_000_123).unwrap());
        let encoded = c.encode();
        assert_eq!(encoded.len(), 64 + 1 + 36 + 1 + 13);
        assert_eq!(Claim::decode(&encoded), Some(c));
        for bad in [
            "",
            "ab",
            &encoded.replace(' ', ":"),
            &format!("{encoded} x"),
        ] {
            assert_eq!(Claim::decode(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn in_process_claims_hold_until_released_taken_over_or_expired() {
        let store = ClaimStore::in_process();
        let service = Uuid::new_v4();
        let now = Utc::now();
        let first = claim(1, now);
        assert_eq!(
            store.claim(service, "k", &first, now).await,
            ClaimResult::Claimed
        );
        let second = claim(1, now);
        assert_eq!(
            store.claim(service, "k", &second, now).await,
            ClaimResult::Held(first.clone())
        );
        // Another service's key of the same name is another key.
        assert_eq!(
            store.claim(Uuid::new_v4(), "k", &second, now).await,
            ClaimResult::Claimed
        );
        // Only the claim read is taken over, once.
        assert_eq!(
            store.take_over(service, "k", &second, &second, now).await,
            Some(false)
        );
        assert_eq!(
            store.take_over(service, "k", &first, &second, now).await,
            Some(true)
        );
        let third = claim(1, now);
        assert_eq!(
            store.take_over(service, "k", &first, &third, now).await,
            Some(false)
        );
        // Released only by its holder.
        store.release(service, "k", &first).await;
        assert_eq!(store.held(service, "k", now).await, Some(second.clone()));
        store.release(service, "k", &second).await;
        assert_eq!(store.held(service, "k", now).await, None);
        // Forgotten after the retention.
        assert_eq!(
            store.claim(service, "k", &first, now).await,
            ClaimResult::Claimed
        );
        let later = now + RETENTION;
        assert_eq!(store.held(service, "k", later).await, None);
        assert_eq!(
            store.claim(service, "k", &third, later).await,
            ClaimResult::Claimed
        );
        assert_eq!(store.held(service, "k", later).await, Some(third));
    }
}
