//! The customer record on one screen, and customer search.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use chrono::Duration;

use super::{esc, page, time_el, who_label, ConsoleError, Nav, Operator, PageResult};
use crate::app::AppState;
use crate::domain::{CustomerId, EscalationStatus};
use crate::record::customer_record;

/// How far ahead the reschedule and booking pickers look.
const PICKER_DAYS: i64 = 14;

pub async fn search(
    State(state): State<AppState>,
    op: Operator,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let now = state.clock.now();
    let q = params.get("q").map(|q| q.trim()).unwrap_or("");
    if q.chars().count() > 200 {
        return Err(ConsoleError::bad("Search for at most 200 characters."));
    }
    let mut list = String::new();
    let customers = if q.is_empty() {
        state.store.list_customers(op.tenant.id, 1, 50).await?.0
    } else {
        let hits = state
            .search
            .search(op.tenant.id, q, 25)
            .map_err(|e| ConsoleError::from(crate::error::ApiError::Internal(e.into())))?;
        let ids: Vec<CustomerId> = hits.iter().map(|h| h.customer_id).collect();
        let found = state.store.customers_by_ids(op.tenant.id, &ids).await?;
        ids.iter()
            .filter_map(|id| found.iter().find(|c| c.id == *id).cloned())
            .collect()
    };
    for c in &customers {
        let phones: Vec<String> = c.phones.iter().map(|p| p.to_string()).collect();
        let _ = write!(
            list,
            "<li><a href=\"/console/customers/{}\">{}</a> <span class=\"muted\">{}</span></li>",
            c.id,
            esc(&c.name),
            esc(&phones.join(", "))
        );
    }
    if customers.is_empty() {
        list.push_str("<li class=\"empty\">No customer matches.</li>");
    }
    let body = format!(
        "<h1>Customers</h1><form class=\"filters\" method=\"get\" action=\"/console/customers\">\
<label for=\"cq\">Search</label><input id=\"cq\" name=\"q\" type=\"search\" value=\"{}\" placeholder=\"Typos are fine\">\
<button type=\"submit\">Search</button></form><ul class=\"results\">{list}</ul>",
        esc(q)
    );
    Ok(page(&op, now, Nav::Customers, "Customers", &body))
}

pub async fn record(
    State(state): State<AppState>,
    op: Operator,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let now = state.clock.now();
    let tz = op.tz();
    let id: CustomerId = id
        .parse()
        .map_err(|_| ConsoleError::not_found("customer"))?;
    let r = customer_record(&state.store, &op.tenant, id, now)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ConsoleError::not_found("customer"),
            other => other.into(),
        })?;
    let c = &r.customer.customer;
    let mut b = String::new();

    // Profile and contacts.
    let _ = write!(
        b,
        "<h1>{name}</h1><section class=\"card\" id=\"profile\"><h2>Profile</h2><dl class=\"facts\">\
<dt>Status</dt><dd>{status}</dd><dt>Company</dt><dd>{company}</dd><dt>Phones</dt><dd>{phones}</dd>\
<dt>E-mail</dt><dd>{emails}</dd><dt>Texts</dt><dd>{opt}</dd></dl></section>",
        name = esc(&c.name),
        status = c.status,
        company = esc(c.company.as_deref().unwrap_or("—")),
        phones = esc(
            &c.phones
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        emails = esc(&c.emails.join(", ")),
        opt = if r.customer.opted_out {
            r.customer
                .opt_outs
                .iter()
                .map(|o| {
                    format!(
                        "<span class=\"badge red\">opted out</span> {} since {}",
                        esc(o.phone.as_str()),
                        esc(&o.at.format("%b %-d, %Y").to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            "may be texted".to_string()
        },
    );

    // Properties.
    let mut props = String::new();
    for p in &r.properties {
        let _ = write!(
            props,
            "<li>{}, {} {} · zone {} · {}{}</li>",
            esc(&p.street),
            esc(&p.city),
            esc(&p.zip),
            esc(&p.zone),
            p.kind,
            p.sq_ft.map(|s| format!(" · {s} sq ft")).unwrap_or_default()
        );
    }
    let _ = write!(
        b,
        "<section class=\"card\" id=\"properties\"><h2>Properties</h2><ul>{props}</ul></section>"
    );

    // Schedule with actions.
    let mut sched = String::new();
    for a in &r.schedule {
        let _ = write!(
            sched,
            "<li class=\"appointment\" data-appointment=\"{id}\"><div><strong>{service}</strong> · {start}–{end} · {tech} · <span class=\"badge\">{status}</span> · {price}</div>",
            id = a.id,
            service = esc(&a.service),
            start = esc(&a.window_start.format("%a %b %-d, %-I:%M %p").to_string()),
            end = esc(&a.window_end.format("%-I:%M %p").to_string()),
            tech = esc(&a.technician),
            status = a.status,
            price = a.price_cents,
        );
        if a.status.is_open() {
            let zone = r
                .properties
                .iter()
                .find(|p| p.id == a.property_id)
                .map(|p| p.zone_id);
            let slots = state
                .store
                .zone_slots_between(
                    op.tenant.id,
                    zone,
                    now,
                    now + Duration::days(PICKER_DAYS),
                    200,
                )
                .await?;
            let mut options = String::new();
            for s in &slots {
                let left = (s.capacity - s.booked).max(0);
                let dis = if left == 0 { " disabled" } else { "" };
                let _ = write!(
                    options,
                    "<option value=\"{}\"{dis}>{} – {} · {left} left</option>",
                    s.id,
                    esc(&super::when(tz, s.starts_at)),
                    esc(&tz.local(s.ends_at).format("%-I:%M %p").to_string()),
                );
            }
            let _ = write!(
                sched,
                "<form class=\"reschedule\" data-api=\"/api/v1/operator/appointments/{id}/reschedule\">\
<label for=\"slot-{id}\">Move to</label><select id=\"slot-{id}\" name=\"slot_id\" data-type=\"number\" required>{options}</select>\
<label for=\"why-{id}\">Reason</label><input id=\"why-{id}\" name=\"reason\" required>\
<button type=\"submit\">Reschedule</button></form>\
<form class=\"cancel\" data-api=\"/api/v1/operator/appointments/{id}/cancel\">\
<label for=\"cancel-{id}\">Cancel because</label><input id=\"cancel-{id}\" name=\"reason\" required>\
<button type=\"submit\" class=\"secondary\">Cancel visit</button></form>",
                id = a.id
            );
        }
        sched.push_str("</li>");
    }
    if r.schedule.is_empty() {
        sched.push_str("<li class=\"empty\">Nothing scheduled.</li>");
    }
    // Booking.
    let services = state.store.services(op.tenant.id).await?;
    let mut book = String::new();
    if let Some(first) = r.properties.first() {
        let slots = state
            .store
            .zone_slots_between(
                op.tenant.id,
                Some(first.zone_id),
                now,
                now + Duration::days(PICKER_DAYS),
                200,
            )
            .await?;
        let mut popts = String::new();
        for p in &r.properties {
            let _ = write!(
                popts,
                "<option value=\"{}\">{}</option>",
                p.id,
                esc(&p.street)
            );
        }
        let mut sopts = String::new();
        for s in &services {
            let _ = write!(
                sopts,
                "<option value=\"{}\">{}</option>",
                esc(&s.code),
                esc(&s.name)
            );
        }
        let mut slot_opts = String::new();
        for s in &slots {
            let left = (s.capacity - s.booked).max(0);
            let dis = if left == 0 { " disabled" } else { "" };
            let _ = write!(
                slot_opts,
                "<option value=\"{}\"{dis}>{} · {left} left</option>",
                s.id,
                esc(&super::when(tz, s.starts_at))
            );
        }
        let _ = write!(
            book,
            "<form class=\"book\" data-api=\"/api/v1/operator/customers/{cid}/appointments\"><h3>Book a visit</h3>\
<label for=\"bp\">Property</label><select id=\"bp\" name=\"property_id\" data-type=\"number\">{popts}</select>\
<label for=\"bs\">Service</label><select id=\"bs\" name=\"service\">{sopts}</select>\
<label for=\"bw\">Window ({zone})</label><select id=\"bw\" name=\"slot_id\" data-type=\"number\">{slot_opts}</select>\
<button type=\"submit\">Book</button></form>",
            cid = c.id,
            zone = esc(&first.zone),
        );
    }
    let _ = write!(
        b,
        "<section class=\"card wide\" id=\"schedule\" data-live><h2>Schedule</h2><ul class=\"plain\">{sched}</ul>{book}</section>"
    );

    // Billing.
    let mut inv = String::new();
    for i in &r.billing.invoices {
        let _ = write!(
            inv,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&i.number),
            i.amount_cents,
            i.balance_cents,
            i.due_on.format("%b %-d, %Y"),
            i.status
        );
    }
    let _ = write!(
        b,
        "<section class=\"card\" id=\"billing\"><h2>Billing</h2><p>Balance <strong>{}</strong>{}{}</p>\
<table><thead><tr><th>Invoice</th><th>Amount</th><th>Balance</th><th>Due</th><th>Status</th></tr></thead><tbody>{inv}</tbody></table></section>",
        r.billing.balance_cents,
        if r.billing.overdue {
            format!(" · <span class=\"badge red\">{} overdue</span>", r.billing.overdue_cents)
        } else {
            String::new()
        },
        if r.billing.autopay { " · autopay" } else { "" },
    );

    // Agreements.
    let mut ag = String::new();
    for a in &r.agreements {
        let _ = write!(
            ag,
            "<li>{} · {} · signature {} · renews {} · {}</li>",
            esc(&a.service),
            a.status,
            a.signature_status,
            a.renews_on.format("%b %-d, %Y"),
            a.price_cents
        );
    }
    let _ = write!(
        b,
        "<section class=\"card\" id=\"agreements\"><h2>Agreements</h2><ul>{ag}</ul></section>"
    );

    // Service history.
    let mut hist = String::new();
    for v in &r.service_history {
        let _ = write!(
            hist,
            "<li>{} · {} · {} — {}</li>",
            time_el(tz, v.completed_at),
            esc(&v.service),
            esc(&v.technician),
            esc(&v.findings)
        );
    }
    let _ = write!(
        b,
        "<section class=\"card\" id=\"history\"><h2>Service history</h2><ul>{hist}</ul></section>"
    );

    // Portal activity.
    let mut portal = String::new();
    for e in r.portal_activity.iter().take(20) {
        let _ = write!(
            portal,
            "<li>{} · {} <span class=\"muted\">{}</span></li>",
            time_el(tz, e.at),
            e.kind,
            esc(&e.detail.to_string())
        );
    }
    let _ = write!(
        b,
        "<section class=\"card\" id=\"portal\"><h2>Portal activity</h2><ul>{portal}</ul></section>"
    );

    // Conversations, open first.
    let mut convs: Vec<_> = r.conversations.iter().collect();
    convs.sort_by_key(|v| {
        (
            v.conversation.status == "closed",
            std::cmp::Reverse(v.conversation.updated_at),
        )
    });
    let mut cl = String::new();
    for v in convs {
        let conv = &v.conversation;
        let last = v.messages.last().map(|m| esc(&m.text)).unwrap_or_default();
        let _ = write!(
            cl,
            "<li><a href=\"/console/conversations/{}\">{} · {}</a> · {} · {} <div class=\"last\">{last}</div></li>",
            conv.id,
            conv.channel,
            esc(&conv.status),
            esc(&who_label(&state, &op, &conv.owner).await),
            time_el(tz, conv.updated_at),
        );
    }
    let _ = write!(b, "<section class=\"card\" id=\"conversations\" data-live><h2>Conversations</h2><ul>{cl}</ul></section>");

    // Escalations.
    let mut el = String::new();
    for e in &r.escalations {
        let _ = write!(
            el,
            "<li><a href=\"/console/conversations/{}\">{}</a> · {} · {} · {}{}</li>",
            e.conversation_id,
            e.reason.as_str().replace('_', " "),
            e.priority,
            e.status,
            time_el(tz, e.created_at),
            if e.status == EscalationStatus::Resolved {
                format!(" — {}", esc(e.resolution.as_deref().unwrap_or("")))
            } else {
                String::new()
            }
        );
    }
    let _ = write!(b, "<section class=\"card\" id=\"escalations\" data-live><h2>Escalations</h2><ul>{el}</ul></section>");

    // Timeline.
    let mut tl = String::new();
    for t in r.timeline.iter().take(100) {
        let _ = write!(
            tl,
            "<li><time datetime=\"{}\">{}</time> · <span class=\"badge\">{}</span> {}</li>",
            t.at.to_rfc3339(),
            esc(&t.at.format("%a %b %-d, %-I:%M %p").to_string()),
            t.kind,
            esc(&t.summary)
        );
    }
    let _ = write!(b, "<section class=\"card wide\" id=\"timeline\" data-live><h2>Timeline</h2><ul class=\"timeline\">{tl}</ul></section>");

    let body = format!("<div class=\"record\">{b}</div>");
    Ok(page(&op, now, Nav::Customers, &c.name, &body))
}
