//! A small time-to-live cache for what every send reads and rarely changes: the service with its keys, current
//! templates, default senders. Each Lambda environment keeps its own; a change is seen within the TTL, as
//! upstream Notify's cached service and template lookups are.
//!
//! Bounded by [`quick_cache`] (S3-FIFO eviction: a full cache evicts even when every entry is fresh), with the
//! time to live checked on each hit. A hit takes one shard's read lock and clones the value: no global lock on
//! the send path.

use std::hash::Hash;
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 10_000;

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: quick_cache::sync::Cache<K, (Instant, V)>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache::with_capacity(ttl, MAX_ENTRIES)
    }

    fn with_capacity(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            ttl,
            entries: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// The cached value, else `load`'s; absent values are never cached, so a new template is usable at once.
    /// Concurrent misses on one key each load (as before): a miss never waits on another request's load.
    pub async fn get_or_load<E, F>(&self, key: K, load: F) -> Result<Option<V>, E>
    where
        F: Future<Output = Result<Option<V>, E>>,
    {
        if self.ttl.is_zero() {
            return load.await;
        }
        let now = Instant::now();
        if let Some((at, value)) = self.entries.get(&key)
            && now.duration_since(at) < self.ttl
        {
            return Ok(Some(value));
        }
        let loaded = load.await?;
        if let Some(value) = &loaded {
            self.entries.insert(key, (now, value.clone()));
        }
        Ok(loaded)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caches_hits_not_misses_and_expires() {
        let cache = TtlCache::new(Duration::from_millis(50));
        let hit: Result<_, ()> = cache.get_or_load(1, async { Ok(Some("a")) }).await;
        assert_eq!(hit, Ok(Some("a")));
        assert_eq!(
            cache.get_or_load(1, async { Ok::<_, ()>(Some("b")) }).await,
            Ok(Some("a"))
        );
        assert_eq!(
            cache.get_or_load(2, async { Ok::<_, ()>(None) }).await,
            Ok(None)
        );
        assert_eq!(
            cache.get_or_load(2, async { Ok::<_, ()>(Some("c")) }).await,
            Ok(Some("c"))
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            cache.get_or_load(1, async { Ok::<_, ()>(Some("d")) }).await,
            Ok(Some("d"))
        );
    }

    /// Every entry fresh (a long TTL) and ten times as many keys as fit: the cache stays at its cap, and what it
    /// still holds is served from it.
    #[tokio::test]
    async fn stays_bounded_when_every_entry_is_fresh() {
        let cap = 100;
        let cache = TtlCache::with_capacity(Duration::from_secs(3600), cap);
        for key in 0..10 * cap {
            let loaded = cache
                .get_or_load(key, async move { Ok::<_, ()>(Some(key)) })
                .await;
            assert_eq!(loaded, Ok(Some(key)));
            assert!(cache.len() <= cap, "{} entries, cap {cap}", cache.len());
        }
        assert!(cache.len() > 0);
        let last = 10 * cap - 1;
        assert_eq!(
            cache
                .get_or_load(last, async { Ok::<_, ()>(Some(0)) })
                .await,
            Ok(Some(last)),
            "the newest entry is kept"
        );
    }

    #[tokio::test]
    async fn a_zero_ttl_always_loads() {
        let cache = TtlCache::new(Duration::ZERO);
        assert_eq!(
            cache.get_or_load(1, async { Ok::<_, ()>(Some("a")) }).await,
            Ok(Some("a"))
        );
        assert_eq!(
            cache.get_or_load(1, async { Ok::<_, ()>(Some("b")) }).await,
            Ok(Some("b"))
        );
        assert_eq!(cache.len(), 0);
    }
}
