//! Rate limits (a token bucket per service and key type) and daily per-channel limits (contract §8).
//! In Redis when `REDIS_URL` is set, so that every Lambda shares them; in-process otherwise. Redis errors
//! fail open: a limiter outage must not stop sends.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;
use tokio::sync::OnceCell;
use uuid::Uuid;

use notify_core::model::{KeyType, LimitName, Service};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("Exceeded rate limit for key type {key_type} of {rate_limit} requests per 60 seconds")]
    RateLimit {
        key_type: &'static str,
        rate_limit: i32,
    },
    #[error("Exceeded send limits ({limit_name}: {limit}) for today")]
    DailyLimit { limit_name: LimitName, limit: i64 },
}

/// Test keys on trial services are limited as a live service would be.
fn live_default(name: LimitName) -> i64 {
    match name {
        LimitName::Sms | LimitName::Email => 250_000,
        LimitName::Letter => 20_000,
        LimitName::InternationalSms => 100,
    }
}

/// The daily limit that applies to a send with this key.
pub fn limit_for(service: &Service, key_type: KeyType, name: LimitName) -> i64 {
    if key_type == KeyType::Test && service.restricted {
        live_default(name)
    } else {
        service.limit(name)
    }
}

/// Take one token; `true` if the request may go ahead. Refill `rate_limit / 60` per second up to the capacity;
/// as upstream, the last token can never be spent.
const TOKEN_BUCKET: &str = r"
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
tokens = math.max(0, tokens - 1)
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', key, 120)
if tokens < 1 then return 0 else return 1 end
";

fn bucket_capacity(rate_limit: i32) -> f64 {
    ((rate_limit as f64 / 3.0).ceil() + 1.0).min(1000.0)
}

pub enum Limiter {
    InProcess {
        buckets: Mutex<HashMap<String, (f64, f64)>>,
        counters: Mutex<HashMap<String, i64>>,
    },
    Redis {
        client: redis::Client,
        connection: OnceCell<MultiplexedConnection>,
    },
}

fn daily_key(
    service_id: Uuid,
    limit_name: LimitName,
    key_type: KeyType,
    now: DateTime<Utc>,
) -> String {
    let date = now.format("%Y-%m-%d");
    if key_type == KeyType::Test {
        format!("{service_id}-test-{limit_name}-{date}-count")
    } else {
        format!("{service_id}-{limit_name}-{date}-count")
    }
}

impl Limiter {
    pub fn in_process() -> Self {
        Limiter::InProcess {
            buckets: Mutex::default(),
            counters: Mutex::default(),
        }
    }

    pub fn redis(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Limiter::Redis {
            client: redis::Client::open(url)?,
            connection: OnceCell::new(),
        })
    }

    async fn redis_connection(
        client: &redis::Client,
        cell: &OnceCell<MultiplexedConnection>,
    ) -> Option<MultiplexedConnection> {
        match cell
            .get_or_try_init(|| client.get_multiplexed_async_connection())
            .await
        {
            Ok(c) => Some(c.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "redis unavailable: limits not applied");
                None
            }
        }
    }

    pub async fn check_rate_limit(
        &self,
        service_id: Uuid,
        key_type: KeyType,
        rate_limit: i32,
        now: DateTime<Utc>,
    ) -> Result<(), LimitError> {
        let key = format!("{service_id}-tokens-{}", key_type.as_str());
        let rate = rate_limit as f64 / 60.0;
        let capacity = bucket_capacity(rate_limit);
        let now_s = now.timestamp_micros() as f64 / 1e6;
        let allowed = match self {
            Limiter::InProcess { buckets, .. } => {
                let mut buckets = buckets.lock().expect("limiter lock");
                let (tokens, at) = buckets.entry(key).or_insert((capacity, now_s));
                let refilled = (*tokens + (now_s - *at).max(0.0) * rate).min(capacity);
                *tokens = (refilled - 1.0).max(0.0);
                *at = now_s;
                *tokens >= 1.0
            }
            Limiter::Redis { client, connection } => {
                let Some(mut conn) = Self::redis_connection(client, connection).await else {
                    return Ok(());
                };
                let result: Result<i64, _> = redis::Script::new(TOKEN_BUCKET)
                    .key(key)
                    .arg(rate)
                    .arg(capacity)
                    .arg(now_s)
                    .invoke_async(&mut conn)
                    .await;
                match result {
                    Ok(allowed) => allowed == 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limit check failed open");
                        true
                    }
                }
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(LimitError::RateLimit {
                key_type: key_type.rate_limit_label(),
                rate_limit,
            })
        }
    }

    /// `count + 1 > limit` is over; checking does not count.
    pub async fn check_daily_limit(
        &self,
        service_id: Uuid,
        limit_name: LimitName,
        limit: i64,
        key_type: KeyType,
        now: DateTime<Utc>,
    ) -> Result<(), LimitError> {
        let key = daily_key(service_id, limit_name, key_type, now);
        let count = match self {
            Limiter::InProcess { counters, .. } => *counters
                .lock()
                .expect("limiter lock")
                .get(&key)
                .unwrap_or(&0),
            Limiter::Redis { client, connection } => {
                let Some(mut conn) = Self::redis_connection(client, connection).await else {
                    return Ok(());
                };
                let count: Result<Option<i64>, _> =
                    redis::cmd("GET").arg(&key).query_async(&mut conn).await;
                count
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "daily limit check failed open");
                        None
                    })
                    .unwrap_or(0)
            }
        };
        if count + 1 > limit {
            Err(LimitError::DailyLimit { limit_name, limit })
        } else {
            Ok(())
        }
    }

    /// After a notification is stored (never for test keys or simulated recipients).
    pub async fn count_sent(&self, service_id: Uuid, limit_name: LimitName, now: DateTime<Utc>) {
        let key = daily_key(service_id, limit_name, KeyType::Normal, now);
        match self {
            Limiter::InProcess { counters, .. } => {
                *counters
                    .lock()
                    .expect("limiter lock")
                    .entry(key)
                    .or_insert(0) += 1;
            }
            Limiter::Redis { client, connection } => {
                let Some(mut conn) = Self::redis_connection(client, connection).await else {
                    return;
                };
                let result: Result<(), _> = redis::pipe()
                    .cmd("INCR")
                    .arg(&key)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(86400)
                    .arg("NX")
                    .ignore()
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "daily counter not incremented");
                }
            }
        }
    }
}

// issue 14: process
impl Limiter {
    /// `count_sent` for `n` notifications at once: a job's batch counts in one round trip, not one per row.
    pub async fn count_sent_many(
        &self,
        service_id: Uuid,
        limit_name: LimitName,
        n: i64,
        now: DateTime<Utc>,
    ) {
        if n <= 0 {
            return;
        }
        let key = daily_key(service_id, limit_name, KeyType::Normal, now);
        match self {
            Limiter::InProcess { counters, .. } => {
                *counters
                    .lock()
                    .expect("limiter lock")
                    .entry(key)
                    .or_insert(0) += n;
            }
            Limiter::Redis { client, connection } => {
                let Some(mut conn) = Self::redis_connection(client, connection).await else {
                    return;
                };
                let result: Result<(), _> = redis::pipe()
                    .cmd("INCRBY")
                    .arg(&key)
                    .arg(n)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(86400)
                    .arg("NX")
                    .ignore()
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "daily counter not incremented");
                }
            }
        }
    }
}
// end issue 14: process

/// Takes one back unless the counter is missing or would go below zero.
const GIVE_BACK: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]))
if count ~= nil and count >= 1 then redis.call('DECR', KEYS[1]) return 1 end
return 0
";

impl Limiter {
    /// A cancelled letter no longer counts against today's limit: the count `count_sent` made when it was
    /// stored at `created_at` goes back down, as upstream does, only when that was today (`now`), and never
    /// below zero or for a counter that has gone.
    pub async fn give_back(
        &self,
        service_id: Uuid,
        limit_name: LimitName,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        if created_at.date_naive() != now.date_naive() {
            return;
        }
        let key = daily_key(service_id, limit_name, KeyType::Normal, created_at);
        match self {
            Limiter::InProcess { counters, .. } => {
                if let Some(count) = counters
                    .lock()
                    .expect("limiter lock")
                    .get_mut(&key)
                    .filter(|c| **c >= 1)
                {
                    *count -= 1;
                }
            }
            Limiter::Redis { client, connection } => {
                let Some(mut conn) = Self::redis_connection(client, connection).await else {
                    return;
                };
                let result: Result<i64, _> = redis::Script::new(GIVE_BACK)
                    .key(&key)
                    .invoke_async(&mut conn)
                    .await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "daily counter not given back");
                }
            }
        }
    }

    /// Today's count against a daily limit, as the limit check reads it (0 when Redis cannot say).
    pub async fn daily_count(
        &self,
        service_id: Uuid,
        limit_name: LimitName,
        key_type: KeyType,
        now: DateTime<Utc>,
    ) -> i64 {
        let key = daily_key(service_id, limit_name, key_type, now);
        match self {
            Limiter::InProcess { counters, .. } => *counters
                .lock()
                .expect("limiter lock")
                .get(&key)
                .unwrap_or(&0),
            Limiter::Redis { client, connection } => {
                let Some(mut conn) = Self::redis_connection(client, connection).await else {
                    return 0;
                };
                let count: Result<Option<i64>, _> =
                    redis::cmd("GET").arg(&key).query_async(&mut conn).await;
                count.ok().flatten().unwrap_or(0)
            }
        }
    }
}

impl From<LimitError> for notify_core::errors::V2Error {
    fn from(e: LimitError) -> Self {
        let error = match e {
            LimitError::RateLimit { .. } => "RateLimitError",
            LimitError::DailyLimit { .. } => "TooManyRequestsError",
        };
        notify_core::errors::V2Error::new(429, error, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bucket_drains_and_refills() {
        let limiter = Limiter::in_process();
        let service = Uuid::new_v4();
        let now = Utc::now();
        // rate_limit 3: capacity 2, so exactly one request passes (the last token is never spent).
        assert!(
            limiter
                .check_rate_limit(service, KeyType::Normal, 3, now)
                .await
                .is_ok()
        );
        let err = limiter
            .check_rate_limit(service, KeyType::Normal, 3, now)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Exceeded rate limit for key type LIVE of 3 requests per 60 seconds"
        );
        // Other key types have their own bucket.
        assert!(
            limiter
                .check_rate_limit(service, KeyType::Test, 3, now)
                .await
                .is_ok()
        );
        let later = now + chrono::Duration::seconds(60);
        assert!(
            limiter
                .check_rate_limit(service, KeyType::Normal, 3, later)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_cancelled_letter_is_given_back_only_on_its_day_and_never_below_zero() {
        let limiter = Limiter::in_process();
        let service = Uuid::new_v4();
        let now: DateTime<Utc> = "2026-01-05T12:00:00Z".parse().unwrap();
        let yesterday = now - chrono::Duration::days(1);
        limiter.count_sent(service, LimitName::Letter, now).await;
        limiter
            .count_sent(service, LimitName::Letter, yesterday)
            .await;
        limiter
            .give_back(service, LimitName::Letter, yesterday, now)
            .await;
        let count = |at| limiter.daily_count(service, LimitName::Letter, KeyType::Normal, at);
        assert_eq!(
            count(yesterday).await,
            1,
            "another day's count is left alone"
        );
        limiter
            .give_back(service, LimitName::Letter, now, now)
            .await;
        limiter
            .give_back(service, LimitName::Letter, now, now)
            .await;
        assert_eq!(count(now).await, 0);
    }

    #[tokio::test]
    async fn daily_limit_counts_only_what_was_sent() {
        let limiter = Limiter::in_process();
        let service = Uuid::new_v4();
        let now = Utc::now();
        assert!(
            limiter
                .check_daily_limit(service, LimitName::Sms, 1, KeyType::Normal, now)
                .await
                .is_ok()
        );
        limiter.count_sent(service, LimitName::Sms, now).await;
        let err = limiter
            .check_daily_limit(service, LimitName::Sms, 1, KeyType::Normal, now)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Exceeded send limits (sms: 1) for today");
        assert!(
            limiter
                .check_daily_limit(service, LimitName::Email, 1, KeyType::Normal, now)
                .await
                .is_ok()
        );
    }
}
