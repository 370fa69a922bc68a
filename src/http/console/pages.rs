//! Sign-in, the queue and the conversation view.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::{esc, page, time_el, who_label, ConsoleError, Nav, Operator, PageResult, CSP};
use crate::app::AppState;
use crate::domain::{ConversationId, Direction, EscalationReason, EscalationStatus};
use crate::store::{Message, QueueFilter, QueueItem, OUTCOMES};

/// SLA turns amber this many seconds before it is due.
pub const SLA_AMBER_SECS: i64 = 30 * 60;

pub async fn home(op: Result<Operator, Response>) -> Response {
    let to = if op.is_ok() {
        "/console/queue"
    } else {
        "/console/sign-in"
    };
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}

pub async fn sign_in() -> Response {
    let body = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Sign in · frontdesk</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
<script src=\"/console/assets/console.js\" defer></script></head><body>\
<main class=\"narrow\"><h1>Sign in</h1>\
<form id=\"sign-in\" data-api=\"/api/v1/operator/session\" data-then=\"/console/queue\">\
<label for=\"email\">E-mail</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>\
<p class=\"hint\">Demo operators' passwords are printed once when the demo is first seeded; \
<code>frontdesk user password</code> sets a new one.</p></main></body></html>";
    (
        StatusCode::OK,
        [
            ("content-type", "text/html; charset=utf-8"),
            ("content-security-policy", CSP),
        ],
        body,
    )
        .into_response()
}

/// The SLA cell: counts down in the browser from the server's clock; amber when close, red
/// when breached.
pub fn sla(due: DateTime<Utc>, now: DateTime<Utc>, status: EscalationStatus) -> String {
    if status == EscalationStatus::Resolved {
        return "<span class=\"sla\">—</span>".into();
    }
    let left = (due - now).num_seconds();
    let class = if left < 0 {
        "sla red"
    } else if left < SLA_AMBER_SECS {
        "sla amber"
    } else {
        "sla"
    };
    format!(
        "<span class=\"{class}\" data-due=\"{}\">{}</span>",
        due.timestamp(),
        countdown(left)
    )
}

fn countdown(left: i64) -> String {
    let a = left.abs();
    let text = if a >= 3600 {
        format!("{}h {:02}m", a / 3600, (a % 3600) / 60)
    } else {
        format!("{}m {:02}s", a / 60, a % 60)
    };
    if left < 0 {
        format!("breached {text} ago")
    } else {
        format!("{text} left")
    }
}

/// The customer is waiting when the conversation's last message is theirs.
pub fn waiting(messages: &[Message]) -> bool {
    messages
        .last()
        .is_some_and(|m| m.direction == Direction::Inbound)
}

pub async fn queue(
    State(state): State<AppState>,
    op: Operator,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let now = state.clock.now();
    let status = params.get("status").map(|s| s.trim()).unwrap_or("");
    let filter = match status {
        "" | "unresolved" => QueueFilter::Unresolved,
        raw => QueueFilter::Status(
            raw.parse::<EscalationStatus>()
                .map_err(|_| ConsoleError::bad("Status must be open, claimed or resolved."))?,
        ),
    };
    let reason = params.get("reason").map(|s| s.trim()).unwrap_or("");
    let reason = match reason {
        "" => None,
        raw => Some(
            raw.parse::<EscalationReason>()
                .map_err(|_| ConsoleError::bad("Unknown reason."))?,
        ),
    };
    let mine = params.get("mine").is_some_and(|v| v == "1" || v == "on");
    let (items, _) = state
        .store
        .escalation_queue(op.tenant.id, filter, 1, 200)
        .await?;
    let me = op.label();
    let items: Vec<&QueueItem> = items
        .iter()
        .filter(|i| reason.is_none_or(|r| i.escalation.reason == r))
        .filter(|i| !mine || i.holder().as_deref() == Some(me.as_str()))
        .collect();

    let mut f = String::from(
        "<form class=\"filters\" method=\"get\" action=\"/console/queue\"><label>Status <select name=\"status\">",
    );
    for (v, l) in [
        ("unresolved", "Open and claimed"),
        ("open", "Open"),
        ("claimed", "Claimed"),
        ("resolved", "Resolved"),
    ] {
        let sel = if v == status || (status.is_empty() && v == "unresolved") {
            " selected"
        } else {
            ""
        };
        let _ = write!(f, "<option value=\"{v}\"{sel}>{l}</option>");
    }
    f.push_str(
        "</select></label><label>Reason <select name=\"reason\"><option value=\"\">Any</option>",
    );
    for r in EscalationReason::ALL {
        let sel = if Some(*r) == reason { " selected" } else { "" };
        let _ = write!(
            f,
            "<option value=\"{r}\"{sel}>{}</option>",
            r.as_str().replace('_', " ")
        );
    }
    let _ = write!(
        f,
        "</select></label><label><input type=\"checkbox\" name=\"mine\" value=\"1\"{}> Mine only</label>\
         <button type=\"submit\">Filter</button></form>",
        if mine { " checked" } else { "" }
    );

    let mut rows = String::new();
    for i in &items {
        let e = &i.escalation;
        let messages = state
            .store
            .messages(op.tenant.id, e.conversation_id)
            .await?;
        let customer = match (e.customer_id, &i.customer_name) {
            (Some(id), Some(name)) => {
                format!("<a href=\"/console/customers/{id}\">{}</a>", esc(name))
            }
            _ => "<span class=\"muted\">unknown caller</span>".into(),
        };
        let claimed = match i.holder() {
            Some(h) => esc(&who_label(&state, &op, &h).await),
            None => "<span class=\"muted\">—</span>".into(),
        };
        let wait = if e.status != EscalationStatus::Resolved && waiting(&messages) {
            "<span class=\"badge waiting\">customer waiting</span>"
        } else {
            ""
        };
        let last = messages
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Inbound)
            .map(|m| esc(&m.text))
            .unwrap_or_default();
        let _ = write!(
            rows,
            "<tr data-escalation=\"{id}\" class=\"prio-{prio}\"><td><span class=\"badge prio-{prio}\">{prio}</span></td>\
<td>{reason}</td><td>{sla}</td><td>{customer}<div class=\"last\">{last}</div></td><td>{channel}</td><td>{wait}</td>\
<td class=\"claimed-by\">{claimed}</td><td>{status}</td><td>{created}</td>\
<td><a class=\"button\" href=\"/console/conversations/{conv}\">Open</a></td></tr>",
            id = e.id,
            prio = e.priority,
            reason = e.reason.as_str().replace('_', " "),
            sla = sla(e.due_at, now, e.status),
            channel = i.channel,
            status = e.status,
            created = time_el(op.tz(), e.created_at),
            conv = e.conversation_id,
        );
    }
    if items.is_empty() {
        rows.push_str("<tr><td colspan=\"10\" class=\"empty\">Nothing here. The agent has it covered.</td></tr>");
    }
    let body = format!(
        "<h1>Queue</h1>{f}<section id=\"queue\" data-live aria-live=\"polite\"><p class=\"count\">{n} escalation{s}</p>\
<table class=\"queue\"><thead><tr><th>Priority</th><th>Reason</th><th>SLA</th><th>Customer</th><th>Channel</th>\
<th>Waiting</th><th>Claimed by</th><th>Status</th><th>Opened</th><th></th></tr></thead><tbody>{rows}</tbody></table></section>",
        n = items.len(),
        s = if items.len() == 1 { "" } else { "s" },
    );
    Ok(page(&op, now, Nav::Queue, "Queue", &body))
}

pub async fn conversation(
    State(state): State<AppState>,
    op: Operator,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let now = state.clock.now();
    let tz = op.tz();
    let id: ConversationId = id
        .parse()
        .map_err(|_| ConsoleError::not_found("conversation"))?;
    let conv = state
        .store
        .conversation(op.tenant.id, id)
        .await
        .map_err(|_| ConsoleError::not_found("conversation"))?;
    let messages = state.store.messages(op.tenant.id, id).await?;
    let tool_calls = state.store.tool_calls(op.tenant.id, id).await?;
    // This conversation's escalations: unresolved first, then resolved.
    let mut escalations = Vec::new();
    for filter in [
        QueueFilter::Unresolved,
        QueueFilter::Status(EscalationStatus::Resolved),
    ] {
        let (items, _) = state
            .store
            .escalation_queue(op.tenant.id, filter, 1, 500)
            .await?;
        escalations.extend(
            items
                .into_iter()
                .filter(|i| i.escalation.conversation_id == id),
        );
    }
    let current = escalations
        .iter()
        .find(|i| i.escalation.status != EscalationStatus::Resolved);

    let customer = match conv.customer_id {
        Some(c) => {
            let name = state
                .store
                .customer(op.tenant.id, c)
                .await
                .map(|c| c.name)
                .unwrap_or_else(|_| format!("customer {c}"));
            format!("<a href=\"/console/customers/{c}\">{}</a>", esc(&name))
        }
        None => "<span class=\"muted\">not identified</span>".into(),
    };
    let owner = who_label(&state, &op, &conv.owner).await;
    let mut head = format!(
        "<h1>Conversation {id}</h1><dl class=\"facts\"><dt>Customer</dt><dd>{customer}</dd>\
<dt>Channel</dt><dd>{channel}</dd><dt>With</dt><dd>{who}</dd><dt>Identity</dt><dd><span class=\"badge id-{level}\">{level}</span></dd>\
<dt>Handled by</dt><dd class=\"owner\">{owner}</dd><dt>Status</dt><dd>{status}</dd></dl>",
        channel = conv.channel,
        who = esc(&conv.participant),
        level = conv.identity_level,
        owner = esc(&owner),
        status = esc(&conv.status),
    );
    if let Some(i) = current {
        let e = &i.escalation;
        let holder = match i.holder() {
            Some(h) => format!(
                "claimed by <strong class=\"claimed-by\">{}</strong>",
                esc(&who_label(&state, &op, &h).await)
            ),
            None => "not claimed yet".into(),
        };
        let _ = write!(
            head,
            "<section class=\"summary\" aria-label=\"Escalation\"><h2>{reason} · <span class=\"badge prio-{prio}\">{prio}</span> · {sla}</h2>\
<p class=\"csr-summary\">{summary}</p><p class=\"muted\">Escalation {eid}, opened {opened}, {holder}.</p></section>",
            reason = e.reason.as_str().replace('_', " "),
            prio = e.priority,
            sla = sla(e.due_at, now, e.status),
            summary = esc(&e.summary),
            eid = e.id,
            opened = time_el(tz, e.created_at),
        );
    } else if let Some(i) = escalations.first() {
        let e = &i.escalation;
        let _ = write!(
            head,
            "<section class=\"summary\"><h2>Resolved: {reason}</h2><p class=\"csr-summary\">{summary}</p>\
<p class=\"muted\">{resolution}</p></section>",
            reason = e.reason.as_str().replace('_', " "),
            summary = esc(&e.summary),
            resolution = esc(e.resolution.as_deref().unwrap_or("")),
        );
    }

    // Transcript: messages and tool calls in time order (tool calls folded).
    enum Item<'a> {
        M(&'a Message),
        T(&'a crate::store::ToolCall),
    }
    let mut all: Vec<(DateTime<Utc>, i64, Item)> = messages
        .iter()
        .map(|m| (m.at, m.id.0 * 2, Item::M(m)))
        .chain(
            tool_calls
                .iter()
                .map(|t| (t.at, t.id.0 * 2 + 1, Item::T(t))),
        )
        .collect();
    all.sort_by_key(|(at, k, _)| (*at, *k));
    let mut transcript = String::new();
    for (_, _, item) in &all {
        match item {
            Item::M(m) => {
                let kind = if m.direction == Direction::Inbound {
                    "customer"
                } else if m.author.starts_with("csr:") {
                    "csr"
                } else if m.author == "system" {
                    "system"
                } else {
                    "agent"
                };
                let author = match kind {
                    "customer" => "Customer".to_string(),
                    "csr" => who_label(&state, &op, &m.author).await,
                    "system" => "System note".to_string(),
                    _ => "Agent".to_string(),
                };
                let _ = write!(
                    transcript,
                    "<li class=\"msg {kind}\"><div class=\"meta\"><strong>{}</strong> · {}</div><div class=\"text\">{}</div></li>",
                    esc(&author),
                    time_el(tz, m.at),
                    esc(&m.text)
                );
            }
            Item::T(t) => {
                let _ = write!(
                    transcript,
                    "<li class=\"tool\"><details><summary><code>{tool}</code> · <span class=\"decision {d}\">{d}</span> · {rule}</summary>\
<div class=\"tool-body\"><p>Arguments</p><pre>{args}</pre><p>Result</p><pre>{result}</pre></div></details></li>",
                    tool = esc(&t.tool),
                    d = esc(&t.decision),
                    rule = esc(&t.rule),
                    args = esc(&serde_json::to_string_pretty(&t.arguments).unwrap_or_default()),
                    result = esc(&serde_json::to_string_pretty(&t.result).unwrap_or_default()),
                );
            }
        }
    }
    if all.is_empty() {
        transcript.push_str("<li class=\"empty\">No messages yet.</li>");
    }

    let mut actions = String::new();
    if let Some(i) = current {
        let e = &i.escalation;
        if e.status == EscalationStatus::Open {
            let _ = write!(
                actions,
                "<form id=\"claim\" data-api=\"/api/v1/operator/escalations/{}/claim\"><button type=\"submit\">Claim</button></form>",
                e.id
            );
        }
    }
    let channel_note = match conv.channel {
        crate::domain::Channel::Sms | crate::domain::Channel::Voice => {
            "Sent by text message to the customer."
        }
        _ => "Shown to the customer in their conversation.",
    };
    let _ = write!(
        actions,
        "<form id=\"reply\" data-api=\"/api/v1/operator/conversations/{id}/reply\">\
<label for=\"reply-text\">Reply</label><textarea id=\"reply-text\" name=\"text\" rows=\"3\" data-sms-counter=\"reply-count\" required></textarea>\
<div class=\"row\"><output id=\"reply-count\" class=\"muted\">0 characters · 1 SMS segment</output>\
<span class=\"muted\">{channel_note}</span><button type=\"submit\">Send</button></div></form>"
    );
    if let Some(i) = current {
        let mut options = String::new();
        for o in OUTCOMES {
            let _ = write!(
                options,
                "<option value=\"{o}\"{}>{}</option>",
                if *o == "other" { " selected" } else { "" },
                o.replace('_', " ")
            );
        }
        let _ = write!(
            actions,
            "<form id=\"resolve\" data-api=\"/api/v1/operator/escalations/{eid}/resolve\">\
<label for=\"outcome\">Outcome</label><select id=\"outcome\" name=\"outcome\">{options}</select>\
<label for=\"resolution\">Note</label><textarea id=\"resolution\" name=\"resolution\" rows=\"2\" required></textarea>\
<label class=\"inline\"><input type=\"checkbox\" name=\"hand_back\"> Hand the conversation back to the agent</label>\
<button type=\"submit\">Resolve</button></form>",
            eid = i.escalation.id
        );
    }
    if conv.owner.starts_with("csr:") || current.is_some() {
        let _ = write!(
            actions,
            "<form id=\"hand-back\" data-api=\"/api/v1/operator/conversations/{id}/hand-back\">\
<button type=\"submit\" class=\"secondary\">Hand back to the agent</button></form>"
        );
    }
    let body = format!(
        "<div class=\"conversation\"><div id=\"conv-head\" data-live>{head}</div>\
<ol id=\"transcript\" class=\"transcript\" data-live aria-live=\"polite\">{transcript}</ol>\
<section class=\"actions\" aria-label=\"Actions\">{actions}</section></div>"
    );
    Ok(page(
        &op,
        now,
        Nav::Queue,
        &format!("Conversation {id}"),
        &body,
    ))
}
