//! Live events: one row per thing a console wants to hear about, with an id that increases
//! in commit order per tenant, so a stream that resumes after id N misses nothing.
//!
//! Writers serialise per tenant before drawing an id (PostgreSQL: a transaction-scoped
//! advisory lock; SQLite: the database write lock every transaction here takes up front), so
//! an id is never visible before a smaller one of the same tenant. After commit, streams are
//! woken: in this process through [`EventHub`], in other processes through PostgreSQL
//! `NOTIFY` on [`EVENTS_CHANNEL`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{
    in_tx, json_col, parse_col, to_json, ts, with_conn, with_db, Backend, Store, StoreResult, Tx,
};
use crate::domain::TenantId;

/// The PostgreSQL notification channel; the payload is the tenant id.
pub const EVENTS_CHANNEL: &str = "frontdesk_events";

/// Advisory-lock namespace for event writers (the tenant id is added to it).
const EVENT_LOCK_BASE: i64 = 0x6576_0000_0000;

macro_rules! string_enum_events {
    ($($variant:ident = $s:literal,)*) => {
        /// What happened. The string form is the SSE `event:` name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind { $($variant,)* }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $s,)* }
            }
        }

        impl std::str::FromStr for EventKind {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($s => Ok(EventKind::$variant),)* _ => Err(()) }
            }
        }
    };
}
string_enum_events! {
    EscalationOpened = "escalation.opened",
    EscalationClaimed = "escalation.claimed",
    EscalationResolved = "escalation.resolved",
    EscalationHandedBack = "escalation.handed_back",
    CustomerWaiting = "escalation.customer_waiting",
    SlaNearBreach = "escalation.sla_near_breach",
    MessageIn = "message.in",
    MessageOut = "message.out",
    AppointmentCreated = "appointment.created",
    AppointmentMoved = "appointment.moved",
    AppointmentCancelled = "appointment.cancelled",
    CustomerNoteAdded = "customer.note_added",
    PortalActivity = "portal.activity",
    PolicyChanged = "tenant.policy_changed",
    AppointmentConfirmed = "appointment.confirmed",
    FieldUpdate = "appointment.field_update",
    NoticeSent = "notice.sent",
    SurveyAnswered = "survey.answered",
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One stored event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub kind: EventKind,
    pub payload: Value,
    pub at: DateTime<Utc>,
}

/// Wakes the event streams of this process. A counter behind a watch channel: a stream
/// that was busy while something committed still sees the change when it next waits.
///
/// The hub also holds the process's copies of rarely changing rows (`cache`), shared the
/// same way: per SQLite file, per PostgreSQL store (whose listener keeps them in step).
#[derive(Debug)]
pub struct EventHub {
    tx: tokio::sync::watch::Sender<u64>,
    pub(crate) cache: super::StaticCache,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub {
            tx: tokio::sync::watch::Sender::new(0),
            cache: super::StaticCache::new(true),
        }
    }
}

impl EventHub {
    /// A PostgreSQL store's hub: its copies are used only while its listener hears the
    /// changes other instances make.
    pub fn for_postgres() -> std::sync::Arc<EventHub> {
        std::sync::Arc::new(EventHub {
            tx: tokio::sync::watch::Sender::new(0),
            cache: super::StaticCache::new(false),
        })
    }

    /// The hub every store on this SQLite file in this process shares, so a store opened
    /// twice (a second server in one process, a command) still wakes the other's streams.
    pub fn for_sqlite_file(path: &str) -> std::sync::Arc<EventHub> {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock, Weak};
        static HUBS: OnceLock<Mutex<HashMap<String, Weak<EventHub>>>> = OnceLock::new();
        let hubs = HUBS.get_or_init(Default::default);
        let mut hubs = hubs.lock().unwrap_or_else(|e| e.into_inner());
        hubs.retain(|_, h| h.strong_count() > 0);
        if path.is_empty() || path.contains(":memory:") {
            return Arc::new(EventHub::default());
        }
        if let Some(h) = hubs.get(path).and_then(Weak::upgrade) {
            return h;
        }
        let h = Arc::new(EventHub::default());
        hubs.insert(path.to_string(), Arc::downgrade(&h));
        h
    }

    pub fn wake(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

/// An event recorded in a transaction, written when it commits.
#[derive(Debug)]
pub(crate) struct PendingEvent {
    tenant: i64,
    kind: EventKind,
    payload: String,
    at: i64,
}

impl Tx {
    /// Record an event in this transaction; it is written as the transaction commits (and
    /// never if it rolls back), and streams hear of it after. Written last because writing
    /// events serialises the tenant's event writers until commit (ids in commit order).
    pub async fn emit_event(
        &mut self,
        tenant: TenantId,
        kind: EventKind,
        payload: Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.events.push(PendingEvent {
            tenant: tenant.0,
            kind,
            payload: to_json(&payload),
            at: now.timestamp(),
        });
        Ok(())
    }

    /// Write the recorded events in one statement, after (PostgreSQL) taking each tenant's
    /// event lock and sending its notification (delivered at commit).
    pub(crate) async fn write_events(&mut self) -> StoreResult<()> {
        let events = std::mem::take(&mut self.events);
        if events.is_empty() {
            return Ok(());
        }
        let mut tenants: Vec<i64> = events.iter().map(|e| e.tenant).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let values: Vec<String> = (0..events.len())
            .map(|i| {
                format!(
                    "(${}, ${}, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO events (tenant_id, kind, payload, at) VALUES {}",
            values.join(", ")
        );
        let postgres = self.is_postgres();
        with_conn!(self, c => {
            if postgres {
                for tenant in &tenants {
                    sqlx::query("SELECT pg_advisory_xact_lock($1), pg_notify($2, $3)")
                        .bind(EVENT_LOCK_BASE + tenant)
                        .bind(EVENTS_CHANNEL).bind(tenant.to_string())
                        .execute(&mut *c).await?;
                }
            }
            let mut q = sqlx::query(&sql);
            for e in &events {
                q = q.bind(e.tenant).bind(e.kind.as_str()).bind(&e.payload).bind(e.at);
            }
            q.execute(&mut *c).await?;
        });
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    payload: String,
    at: i64,
}

impl Store {
    /// Emit one event in its own transaction.
    pub async fn emit_event(
        &self,
        tenant: TenantId,
        kind: EventKind,
        payload: Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        in_tx!(self, tx => tx.emit_event(tenant, kind, payload, now))
    }

    /// Events of a tenant after `after`, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        tenant: TenantId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>> {
        let rows: Vec<EventRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, kind, payload, at FROM events WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(tenant.0).bind(after).bind(limit).fetch_all(pool).await?);
        rows.into_iter()
            .map(|r| {
                Ok(Event {
                    id: r.id,
                    kind: parse_col::<EventKind>(&r.kind, "event kind")?,
                    payload: json_col(&r.payload, "event payload")?,
                    at: ts(r.at),
                })
            })
            .collect()
    }

    /// The newest event id of a tenant (0 when there is none).
    pub async fn last_event_id(&self, tenant: TenantId) -> StoreResult<i64> {
        let id: Option<i64> = with_db!(self, pool => sqlx::query_scalar(
            "SELECT MAX(id) FROM events WHERE tenant_id = $1")
            .bind(tenant.0).fetch_one(pool).await?);
        Ok(id.unwrap_or(0))
    }

    /// This process's wake-ups for event streams.
    pub fn event_wakeups(&self) -> tokio::sync::watch::Receiver<u64> {
        self.hub.subscribe()
    }

    /// On PostgreSQL, a task that turns `NOTIFY`s from every instance into wake-ups here
    /// (reconnecting after errors and waking once after each reconnect, in case something
    /// was missed), and drops this process's copies of static rows when another instance
    /// changed them (they are used only while this listener is connected: see
    /// `store::cache`). Ends when `stop` flips. On SQLite there is one process: nothing to do.
    pub fn spawn_event_listener(
        &self,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let Backend::Postgres(pool) = &self.db else {
            return None;
        };
        let pool = pool.clone();
        let hub = self.hub.clone();
        Some(tokio::spawn(async move {
            let mut backoff = std::time::Duration::from_millis(100);
            loop {
                let listener = async {
                    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    l.listen_all([EVENTS_CHANNEL, super::CACHE_CHANNEL]).await?;
                    Ok::<_, sqlx::Error>(l)
                };
                let mut listener = tokio::select! {
                    l = listener => match l {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::warn!(error = %e, "event listener could not connect");
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                _ = stop.changed() => return,
                            }
                            backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                            continue;
                        }
                    },
                    _ = stop.changed() => return,
                };
                backoff = std::time::Duration::from_millis(100);
                hub.cache.set_trusted(true);
                hub.wake();
                loop {
                    tokio::select! {
                        // `try_recv` reports a lost connection (`None`) instead of reconnecting
                        // quietly: what was said meanwhile is lost, so the copies go.
                        n = listener.try_recv() => match n {
                            Ok(Some(n)) if n.channel() == super::CACHE_CHANNEL => hub.cache.invalidate(),
                            Ok(Some(_)) => hub.wake(),
                            Ok(None) => {
                                tracing::warn!("event listener lost its connection");
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "event listener lost its connection");
                                break;
                            }
                        },
                        _ = stop.changed() => {
                            hub.cache.set_trusted(false);
                            return;
                        }
                    }
                }
                hub.cache.set_trusted(false);
            }
        }))
    }
}

impl std::str::FromStr for EventKindFilter {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        s.split(',')
            .map(|k| k.trim().parse::<EventKind>())
            .collect::<Result<Vec<_>, _>>()
            .map(EventKindFilter)
    }
}

/// A set of event kinds a stream wants (empty: all).
#[derive(Debug, Clone, Default)]
pub struct EventKindFilter(pub Vec<EventKind>);

impl EventKindFilter {
    pub fn wants(&self, kind: EventKind) -> bool {
        self.0.is_empty() || self.0.contains(&kind)
    }
}
