//! `GET /api/v1/operator/events`: the tenant's live events as Server-Sent Events. Each event
//! carries `id:` (increasing per tenant), `event:` (its kind) and JSON `data:`. A client that
//! reconnects with `Last-Event-ID` (or `?after=`) first gets every stored event after that
//! id; a new client starts at the present. `?kinds=a,b` narrows the stream. Keep-alive
//! comments flow every 15 s. Streams wake when a transaction that emitted events commits in
//! this process, or on a PostgreSQL notification from another one.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};

use super::auth::ReaderAuth;
use super::AppState;
use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::store::{Event, EventKindFilter, Store};

/// Events read from the store per wake-up.
const BATCH: i64 = 200;
/// Re-read at least this often even without a wake-up.
const FALLBACK_POLL: Duration = Duration::from_secs(5);

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

struct Cursor {
    store: Store,
    tenant: TenantId,
    after: i64,
    kinds: EventKindFilter,
    wake: tokio::sync::watch::Receiver<u64>,
    pending: std::collections::VecDeque<Event>,
}

fn to_sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(
            serde_json::json!({ "id": e.id, "kind": e.kind, "at": e.at, "payload": e.payload })
                .to_string(),
        )
}

async fn next(mut c: Cursor) -> Option<(Result<SseEvent, Infallible>, Cursor)> {
    loop {
        if let Some(e) = c.pending.pop_front() {
            c.after = e.id;
            if c.kinds.wants(e.kind) {
                let ev = to_sse(&e);
                return Some((Ok(ev), c));
            }
            continue;
        }
        // Mark the wake-up seen before reading, so a commit after the read still wakes us.
        c.wake.borrow_and_update();
        match c.store.events_after(c.tenant, c.after, BATCH).await {
            Ok(rows) if !rows.is_empty() => {
                c.pending.extend(rows);
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "event stream could not read events");
                // The store is struggling: end the stream; the client reconnects with its
                // last id and loses nothing.
                return None;
            }
        }
        // Woken on commit or notification; the periodic re-read also covers writers in
        // other processes on SQLite and notifications lost while a listener reconnected.
        if let Ok(Err(_)) = tokio::time::timeout(FALLBACK_POLL, c.wake.changed()).await {
            return None;
        }
    }
}

async fn events(
    State(state): State<AppState>,
    ReaderAuth(who): ReaderAuth,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| params.get("after").cloned());
    let after = match resume {
        Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_query", "`Last-Event-ID` must be an event id")
        })?,
        None => state.store.last_event_id(who.tenant_id).await?,
    };
    let kinds = match params
        .get("kinds")
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
    {
        Some(raw) => raw.parse::<EventKindFilter>().map_err(|_| {
            ApiError::bad_request("invalid_query", "`kinds` lists unknown event kinds")
        })?,
        None => EventKindFilter::default(),
    };
    let cursor = Cursor {
        store: state.store.clone(),
        tenant: who.tenant_id,
        after,
        kinds,
        wake: state.store.event_wakeups(),
        pending: Default::default(),
    };
    Ok(Sse::new(stream::unfold(cursor, next))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
