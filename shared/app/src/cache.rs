//! A small time-to-live cache for what every send reads and rarely changes: the service with its keys, current
//! templates, default senders. Each Lambda environment keeps its own; a change is seen within the TTL, as
//! upstream Notify's cached service and template lookups are.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 10_000;

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached value, else `load`'s; absent values are never cached, so a new template is usable at once.
    pub async fn get_or_load<E, F>(&self, key: K, load: F) -> Result<Option<V>, E>
    where
        F: Future<Output = Result<Option<V>, E>>,
    {
        if self.ttl.is_zero() {
            return load.await;
        }
        let now = Instant::now();
        if let Some((at, value)) = self.entries.lock().expect("cache lock").get(&key)
            && now.duration_since(*at) < self.ttl
        {
            return Ok(Some(value.clone()));
        }
        let loaded = load.await?;
        if let Some(value) = &loaded {
            let mut entries = self.entries.lock().expect("cache lock");
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            }
            entries.insert(key, (now, value.clone()));
        }
        Ok(loaded)
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
}
