//! What a turn reads on every message but people change rarely — the tenant (with its
//! numbers, policy and hours), its service catalog, and whether any webhook subscription
//! exists (the webhook worker looks after every committed event) — kept in memory, so a turn
//! does not spend statements on it.
//!
//! Invalidation: every write through the store drops the copies once it has committed
//! (`Store::changed_static`). On PostgreSQL the write also sends `NOTIFY` on
//! [`CACHE_CHANNEL`] in its own transaction, and the event listener of every instance
//! (`Store::spawn_event_listener`) drops its copies when it hears it. Copies are trusted on
//! PostgreSQL only while that listener is connected: without it (a command, a test store, a
//! listener that lost its connection) every read goes to the database. Whatever happens, a
//! copy is never used longer than [`MAX_AGE`] (a write made by another process on the same
//! SQLite file, e.g. a command, is seen after at most that long).
//!
//! A copy is stored only if nothing was invalidated while it was being read (a generation
//! counter), so a read racing a write never puts the old value back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Service, Tenant};

/// The PostgreSQL notification channel for changes to cached rows; the payload is the
/// tenant id.
pub const CACHE_CHANNEL: &str = "frontdesk_static";

/// The longest a copy is used, whatever the notifications say.
pub const MAX_AGE: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Entry<T> {
    value: T,
    at: Instant,
}

#[derive(Debug, Default)]
struct Maps {
    tenants: HashMap<i64, Entry<Arc<Tenant>>>,
    numbers: HashMap<String, Entry<i64>>,
    services: HashMap<i64, Entry<Arc<Vec<Service>>>>,
    /// Whether any tenant has a live webhook subscription.
    webhooks: Option<Entry<bool>>,
}

/// The copies, shared by every store on one database in this process.
#[derive(Debug)]
pub struct StaticCache {
    maps: Mutex<Maps>,
    generation: AtomicU64,
    /// Whether changes made elsewhere reach this process (always on SQLite; on PostgreSQL
    /// while the listener is connected).
    trusted: AtomicBool,
}

impl StaticCache {
    pub fn new(trusted: bool) -> Self {
        StaticCache {
            maps: Mutex::new(Maps::default()),
            generation: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted),
        }
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drop every copy (a change committed, here or elsewhere).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.maps() = Maps::default();
    }

    /// Whether copies may be used, and the generation a read starts at.
    pub(crate) fn begin_read(&self) -> Option<u64> {
        self.trusted
            .load(Ordering::SeqCst)
            .then(|| self.generation.load(Ordering::SeqCst))
    }

    /// The listener connected (`true`) or lost its connection (`false`); either way what
    /// was kept may have missed a change.
    pub(crate) fn set_trusted(&self, trusted: bool) {
        self.trusted.store(trusted, Ordering::SeqCst);
        self.invalidate();
    }

    fn fresh<T: Clone>(e: Option<&Entry<T>>) -> Option<T> {
        e.filter(|e| e.at.elapsed() < MAX_AGE)
            .map(|e| e.value.clone())
    }

    pub(crate) fn tenant(&self, id: i64) -> Option<Arc<Tenant>> {
        self.begin_read()?;
        Self::fresh(self.maps().tenants.get(&id))
    }

    pub(crate) fn tenant_by_number(&self, number: &str) -> Option<Arc<Tenant>> {
        self.begin_read()?;
        let maps = self.maps();
        let id = Self::fresh(maps.numbers.get(number))?;
        Self::fresh(maps.tenants.get(&id))
    }

    pub(crate) fn any_webhooks(&self) -> Option<bool> {
        self.begin_read()?;
        Self::fresh(self.maps().webhooks.as_ref())
    }

    pub(crate) fn keep_any_webhooks(&self, generation: u64, any: bool) {
        let mut maps = self.maps();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        maps.webhooks = Some(Entry {
            value: any,
            at: Instant::now(),
        });
    }

    pub(crate) fn services(&self, tenant: i64) -> Option<Arc<Vec<Service>>> {
        self.begin_read()?;
        Self::fresh(self.maps().services.get(&tenant))
    }

    /// Keep a tenant read from the database at `generation` (unless something changed since).
    pub(crate) fn keep_tenant(&self, generation: u64, tenant: Arc<Tenant>) {
        let mut maps = self.maps();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let at = Instant::now();
        for n in &tenant.phone_numbers {
            maps.numbers.insert(
                n.clone(),
                Entry {
                    value: tenant.id.0,
                    at,
                },
            );
        }
        maps.tenants
            .insert(tenant.id.0, Entry { value: tenant, at });
    }

    pub(crate) fn keep_services(&self, generation: u64, tenant: i64, services: Arc<Vec<Service>>) {
        let mut maps = self.maps();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        maps.services.insert(
            tenant,
            Entry {
                value: services,
                at: Instant::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = StaticCache::new(true);
        let generation = cache.begin_read().expect("trusted");
        cache.invalidate();
        cache.keep_services(generation, 1, Arc::new(Vec::new()));
        assert!(cache.services(1).is_none(), "a stale read was kept");
        let generation = cache.begin_read().expect("trusted");
        cache.keep_services(generation, 1, Arc::new(Vec::new()));
        assert!(cache.services(1).is_some(), "a fresh read was not kept");
    }

    #[test]
    fn an_untrusted_cache_is_not_used() {
        let cache = StaticCache::new(true);
        let generation = cache.begin_read().expect("trusted");
        cache.keep_services(generation, 1, Arc::new(Vec::new()));
        cache.set_trusted(false);
        assert!(cache.begin_read().is_none());
        assert!(cache.services(1).is_none(), "used while untrusted");
    }
}
