//! The portal's pages, each rendered from the portal API handler's own answer.

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{cookie, html, Brand, Customer, PageResult};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::console::esc;
use crate::http::portal::{chat_messages, PortalAuth};
use crate::http::portal_api::{self as api, PropertyFilter};
use crate::store::Tenant;

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Home,
    Visits,
    Invoices,
    Agreements,
    Chat,
    History,
}

const NAV: [(Nav, &str, &str); 6] = [
    (Nav::Home, "/portal", "Home"),
    (Nav::Visits, "/portal/visits", "Visits"),
    (Nav::Invoices, "/portal/invoices", "Bills"),
    (Nav::Agreements, "/portal/agreements", "Agreements"),
    (Nav::Chat, "/portal/chat", "Chat"),
    (Nav::History, "/portal/history", "History"),
];

fn head(brand: &Brand, title: &str, csrf: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"csrf-token\" content=\"{csrf}\">\
<title>{title} · {company}</title>\
<link rel=\"stylesheet\" href=\"/portal/assets/portal.css\">\
<link rel=\"stylesheet\" href=\"/portal/assets/brand.css?color={colour}\">\
<script src=\"/portal/assets/portal.js\" defer></script></head>",
        csrf = esc(csrf),
        title = esc(title),
        company = esc(&brand.name),
        colour = esc(&brand.colour.replace('#', "%23")),
    )
}

/// A signed-in page: brand bar, navigation, the body.
fn page(c: &Customer, nav: Nav, title: &str, body: &str) -> Response {
    let brand = Brand::of(&c.tenant);
    let mut links = String::new();
    for (n, href, label) in NAV {
        let current = if n == nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(links, "<a href=\"{href}\"{current}>{label}</a>");
    }
    let out = format!(
        "{head}<body><header class=\"top\"><a class=\"brand\" href=\"/portal\">{company}</a>\
<form method=\"post\" action=\"/portal/sign-out\"><button type=\"submit\" class=\"link\">Sign out</button></form>\
</header><nav class=\"tabs\">{links}</nav><main id=\"main\">{body}</main></body></html>",
        head = head(&brand, title, &c.csrf),
        company = esc(&brand.name),
    );
    html(StatusCode::OK, out)
}

/// A page for someone not signed in.
fn public_page(tenant: Option<&Tenant>, title: &str, body: &str) -> Response {
    let brand = tenant.map(Brand::of).unwrap_or(Brand {
        name: "Customer portal".into(),
        colour: super::DEFAULT_COLOUR.into(),
    });
    let out = format!(
        "{head}<body><header class=\"top\"><span class=\"brand\">{company}</span></header>\
<main id=\"main\">{body}</main></body></html>",
        head = head(&brand, title, ""),
        company = esc(&brand.name),
    );
    html(StatusCode::OK, out)
}

/// A JSON string or number as escaped text.
fn s(v: &Value) -> String {
    match v {
        Value::String(t) => esc(t),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(s).collect::<Vec<_>>().join(", "),
        other => esc(&other.to_string()),
    }
}

fn auth(c: &Customer) -> PortalAuth {
    PortalAuth(c.auth.0)
}

fn all() -> Query<PropertyFilter> {
    Query(PropertyFilter { property_id: None })
}

/// A form the script posts to the API as JSON.
fn api_form(api: &str, then: &str, inner: &str, button: &str) -> String {
    format!(
        "<form class=\"action\" data-api=\"{}\" data-then=\"{}\">{inner}\
<button type=\"submit\">{}</button><p class=\"form-error\" role=\"alert\" hidden></p></form>",
        esc(api),
        esc(then),
        esc(button)
    )
}

fn visit_card(v: &Value, with_link: bool) -> String {
    let mut out = format!(
        "<article class=\"card\"><h3>{}</h3><p class=\"when\">{}</p><p>{}</p>",
        s(&v["service"]),
        s(&v["window"]),
        s(&v["address"])
    );
    if !v["technician"].is_null() {
        let _ = write!(out, "<p>Technician: {}</p>", s(&v["technician"]));
    }
    if with_link {
        if v["reschedulable"] == true {
            let _ = write!(
                out,
                "<p><a class=\"button\" href=\"/portal/visits/{}\">Change the time</a></p>",
                s(&v["id"])
            );
        } else if let Some(m) = v["reschedule_refusal"]["message"].as_str() {
            let _ = write!(out, "<p class=\"muted\">{}</p>", esc(m));
        }
    }
    out.push_str("</article>");
    out
}

pub async fn home(State(state): State<AppState>, c: Customer) -> PageResult {
    let sum = api::summary(State(state), auth(&c)).await?.0;
    let mut body = format!(
        "<h1>Hello, {}</h1><section class=\"card balance\"><h2>Balance</h2><p class=\"big\">{}</p>\
<p><a href=\"/portal/invoices\">{}</a></p></section>",
        s(&sum["customer"]["first_name"]),
        s(&sum["balance"]),
        match sum["open_invoices"].as_i64().unwrap_or(0) {
            0 => "No open bills".to_string(),
            1 => "1 open bill".to_string(),
            n => format!("{n} open bills"),
        }
    );
    body.push_str("<section><h2>Next visit</h2>");
    if sum["next_visit"].is_null() {
        body.push_str("<p class=\"muted\">No visit is scheduled.</p>");
    } else {
        body.push_str(&visit_card(&sum["next_visit"], true));
    }
    body.push_str("</section>");
    if let Some(list) = sum["agreements_awaiting_signature"]
        .as_array()
        .filter(|l| !l.is_empty())
    {
        body.push_str("<section><h2>Waiting for your signature</h2><ul class=\"list\">");
        for a in list {
            let _ = write!(
                body,
                "<li><a href=\"/portal/agreements/{}\">{} — {}</a></li>",
                s(&a["id"]),
                s(&a["service"]),
                s(&a["address"])
            );
        }
        body.push_str("</ul></section>");
    }
    let on = sum["customer"]["autopay"] == true;
    body.push_str(&format!(
        "<section class=\"card\"><h2>Autopay</h2><p>Autopay is {}.</p>{}</section>",
        if on { "on" } else { "off" },
        api_form_method(
            "/api/v1/portal/autopay",
            "PUT",
            &format!(
                "<input type=\"hidden\" name=\"enabled\" data-type=\"bool\" value=\"{}\">",
                !on
            ),
            if on {
                "Turn autopay off"
            } else {
                "Turn autopay on"
            },
        )
    ));
    body.push_str(&format!(
        "<p class=\"muted\">Questions? <a href=\"/portal/chat\">Chat with us</a>{}</p>",
        sum["company"]["phone"]
            .as_str()
            .map(|p| format!(" or call {}", esc(p)))
            .unwrap_or_default()
    ));
    Ok(page(&c, Nav::Home, "My account", &body))
}

fn api_form_method(api: &str, method: &str, inner: &str, button: &str) -> String {
    format!(
        "<form class=\"action\" data-api=\"{}\" data-method=\"{}\" data-then=\"reload\">{inner}\
<button type=\"submit\">{}</button><p class=\"form-error\" role=\"alert\" hidden></p></form>",
        esc(api),
        esc(method),
        esc(button)
    )
}

pub async fn visits(State(state): State<AppState>, c: Customer) -> PageResult {
    let v = api::visits(State(state), auth(&c), all()).await?.0;
    let mut body = String::from("<h1>Visits</h1><h2>Coming up</h2>");
    match v["upcoming"].as_array().filter(|l| !l.is_empty()) {
        None => body.push_str("<p class=\"muted\">No visit is scheduled.</p>"),
        Some(list) => {
            for a in list {
                body.push_str(&visit_card(a, true));
            }
        }
    }
    body.push_str("<h2>Past visits</h2>");
    match v["past"].as_array().filter(|l| !l.is_empty()) {
        None => body.push_str("<p class=\"muted\">No visits yet.</p>"),
        Some(list) => {
            for p in list {
                let _ = write!(
                    body,
                    "<article class=\"card\"><h3>{}</h3><p class=\"when\">{}</p><p>{}</p>\
<p>Technician: {}</p><dl><dt>Notes</dt><dd>{}</dd><dt>Findings</dt><dd>{}</dd>\
<dt>Products applied</dt><dd>{}</dd></dl></article>",
                    s(&p["service"]),
                    s(&p["completed_at"]),
                    s(&p["address"]),
                    s(&p["technician"]),
                    s(&p["notes"]),
                    s(&p["findings"]),
                    s(&p["products"]),
                );
            }
        }
    }
    Ok(page(&c, Nav::Visits, "Visits", &body))
}

pub async fn visit(State(state): State<AppState>, c: Customer, Path(id): Path<i64>) -> PageResult {
    let w = api::windows(State(state), auth(&c), Path(id)).await?.0;
    let mut body = String::from("<h1>Change the time</h1>");
    body.push_str(&visit_card(&w["appointment"], false));
    if w["reschedulable"] != true {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            s(&w["refusal"]["message"])
        );
    } else {
        let windows = w["windows"].as_array().cloned().unwrap_or_default();
        if windows.is_empty() {
            body.push_str(
                "<p class=\"muted\">No other time is open within the rules; please chat with us.</p>",
            );
        } else {
            let mut inner =
                String::from("<fieldset class=\"windows\"><legend>Pick a new time</legend>");
            for (i, win) in windows.iter().enumerate() {
                let _ = write!(
                    inner,
                    "<label class=\"window\"><input type=\"radio\" name=\"slot_id\" data-type=\"number\" \
value=\"{}\"{}> <span>{}</span></label>",
                    s(&win["slot_id"]),
                    if i == 0 { " required" } else { "" },
                    s(&win["label"]),
                );
            }
            inner.push_str("</fieldset>");
            body.push_str(&api_form(
                &format!("/api/v1/portal/visits/{id}/reschedule"),
                "/portal/visits?moved=1",
                &inner,
                "Move my visit",
            ));
        }
        let _ = write!(
            body,
            "<p class=\"muted\">Online changes are possible at least {} hours ahead, to a time \
within {} days of the original.</p>",
            s(&w["policy"]["min_hours_ahead"]),
            s(&w["policy"]["max_days_from_original"])
        );
    }
    body.push_str("<p><a href=\"/portal/visits\">Back to visits</a></p>");
    Ok(page(&c, Nav::Visits, "Change the time", &body))
}

fn pay_form(i: &Value) -> String {
    if i["payable"] != true {
        return String::new();
    }
    format!(
        "<form class=\"action\" data-api=\"/api/v1/portal/invoices/{}/checkout\" data-then=\"follow\">\
<button type=\"submit\">Pay {}</button><p class=\"form-error\" role=\"alert\" hidden></p></form>",
        s(&i["id"]),
        s(&i["balance"])
    )
}

pub async fn invoices(State(state): State<AppState>, c: Customer) -> PageResult {
    let v = api::invoices(State(state), auth(&c)).await?.0;
    let mut body = String::from("<h1>Bills</h1>");
    match v["invoices"].as_array().filter(|l| !l.is_empty()) {
        None => body.push_str("<p class=\"muted\">No bills yet.</p>"),
        Some(list) => {
            for i in list {
                let _ = write!(
                    body,
                    "<article class=\"card invoice\" data-invoice=\"{id}\"><h3><a href=\"/portal/invoices/{id}\">\
Invoice {}</a></h3><p>Amount {} · Balance <strong>{}</strong></p><p class=\"muted\">Due {} · {}</p>{}</article>",
                    s(&i["number"]),
                    s(&i["amount"]),
                    s(&i["balance"]),
                    s(&i["due_on"]),
                    s(&i["status"]),
                    pay_form(i),
                    id = s(&i["id"]),
                );
            }
        }
    }
    Ok(page(&c, Nav::Invoices, "Bills", &body))
}

#[derive(Debug, Deserialize)]
pub struct Returned {
    paid: Option<String>,
    #[allow(dead_code)]
    session_id: Option<String>,
}

pub async fn invoice(
    State(state): State<AppState>,
    c: Customer,
    Path(id): Path<i64>,
    Query(back): Query<Returned>,
) -> PageResult {
    let i = api::invoice(State(state), auth(&c), Path(id)).await?.0;
    let mut body = format!("<h1>Invoice {}</h1>", s(&i["number"]));
    if back.paid.is_some() {
        body.push_str(if i["payable"] == true {
            "<p class=\"notice\" role=\"status\">Thank you! Your payment is being confirmed; \
this page shows it once the card company has confirmed it.</p>"
        } else {
            "<p class=\"notice\" role=\"status\">Thank you! Your payment is received.</p>"
        });
    }
    let _ = write!(
        body,
        "<section class=\"card\"><p>Issued {} · Due {} · {}</p><table><tbody>",
        s(&i["issued_on"]),
        s(&i["due_on"]),
        s(&i["status"])
    );
    for l in i["lines"].as_array().into_iter().flatten() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
            s(&l["description"]),
            s(&l["amount"])
        );
    }
    let _ = write!(
        body,
        "<tr><th>Balance</th><th class=\"num\" id=\"balance\">{}</th></tr></tbody></table></section>",
        s(&i["balance"])
    );
    if let Some(p) = i["payments"].as_array().filter(|l| !l.is_empty()) {
        body.push_str("<h2>Payments</h2><ul class=\"list\">");
        for p in p {
            let _ = write!(
                body,
                "<li>{} by {} on {}</li>",
                s(&p["amount"]),
                s(&p["method"]),
                s(&p["paid_at"])
            );
        }
        body.push_str("</ul>");
    }
    body.push_str(&pay_form(&i));
    body.push_str("<p><a href=\"/portal/invoices\">All bills</a></p>");
    Ok(page(&c, Nav::Invoices, "Invoice", &body))
}

pub async fn agreements(State(state): State<AppState>, c: Customer) -> PageResult {
    let v = api::agreements(State(state), auth(&c), all()).await?.0;
    let mut body = String::from("<h1>Agreements</h1>");
    match v["agreements"].as_array().filter(|l| !l.is_empty()) {
        None => body.push_str("<p class=\"muted\">No service agreements.</p>"),
        Some(list) => {
            for a in list {
                let _ = write!(
                    body,
                    "<article class=\"card\"><h3><a href=\"/portal/agreements/{}\">{}</a></h3><p>{}</p>\
<p>{} · renews {}</p><p class=\"{}\">{}</p></article>",
                    s(&a["id"]),
                    s(&a["service"]),
                    s(&a["address"]),
                    s(&a["price"]),
                    s(&a["renews_on"]),
                    if a["needs_signature"] == true { "error" } else { "muted" },
                    if a["needs_signature"] == true {
                        "Waiting for your signature"
                    } else {
                        "Signed"
                    },
                );
            }
        }
    }
    Ok(page(&c, Nav::Agreements, "Agreements", &body))
}

pub async fn agreement(
    State(state): State<AppState>,
    c: Customer,
    Path(id): Path<i64>,
) -> PageResult {
    let a = api::agreement(State(state), auth(&c), Path(id)).await?.0;
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><pre class=\"doc\">{}</pre>",
        s(&a["service"]),
        s(&a["address"]),
        s(&a["text"])
    );
    for sig in a["signatures"].as_array().into_iter().flatten() {
        let _ = write!(
            body,
            "<p class=\"{}\">Signed by {} on {}{}</p>",
            if sig["current"] == true {
                "notice"
            } else {
                "muted"
            },
            s(&sig["signer_name"]),
            s(&sig["signed_at"]),
            if sig["current"] == true {
                ""
            } else {
                " (an earlier version of this text)"
            }
        );
    }
    if a["needs_signature"] == true {
        let inner = format!(
            "<input type=\"hidden\" name=\"text_sha256\" value=\"{}\">\
<label for=\"full_name\">Type your full name</label>\
<input id=\"full_name\" name=\"full_name\" autocomplete=\"name\" required>\
<label class=\"check\"><input type=\"checkbox\" id=\"consent\" name=\"consent\" required> \
I have read this agreement and agree to sign it electronically.</label>",
            s(&a["text_sha256"])
        );
        body.push_str(&api_form(
            &format!("/api/v1/portal/agreements/{id}/sign"),
            "reload",
            &inner,
            "Sign",
        ));
    }
    body.push_str("<p><a href=\"/portal/agreements\">All agreements</a></p>");
    Ok(page(&c, Nav::Agreements, "Agreement", &body))
}

/// What a kind of portal activity reads as.
fn activity_label(kind: &str) -> &str {
    match kind {
        "login" => "Signed in",
        "payment" => "Payment",
        "agreement_signed" => "Signed an agreement",
        "reschedule_done" => "Moved a visit",
        "reschedule_refused" => "Visit change not possible",
        "invoice_viewed" => "Viewed a bill",
        "chat_opened" => "Opened chat",
        other => other,
    }
}

pub async fn history(State(state): State<AppState>, c: Customer) -> PageResult {
    let v = api::history(State(state), auth(&c)).await?.0;
    let mut body = String::from("<h1>History</h1><ul class=\"list history\">");
    for e in v["activity"].as_array().into_iter().flatten() {
        let detail = e["detail"]["message"]
            .as_str()
            .or(e["detail"]["summary"].as_str())
            .map(|m| format!(" — {}", esc(m)))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<li><span class=\"when\">{}</span> {}{detail}</li>",
            s(&e["at"]),
            esc(activity_label(e["kind"].as_str().unwrap_or("")))
        );
    }
    body.push_str("</ul>");
    Ok(page(&c, Nav::History, "History", &body))
}

pub async fn chat(State(state): State<AppState>, c: Customer) -> PageResult {
    let v = chat_messages(State(state), auth(&c)).await?.0;
    let mut body = String::from(
        "<h1>Chat with us</h1><ol id=\"chat-log\" class=\"chat\" aria-live=\"polite\">",
    );
    for m in v["messages"].as_array().into_iter().flatten() {
        let _ = write!(
            body,
            "<li class=\"msg {}\">{}</li>",
            s(&m["author"]),
            s(&m["text"])
        );
    }
    body.push_str(
        "</ol><form id=\"chat-form\"><label class=\"sr\" for=\"chat-text\">Your message</label>\
<textarea id=\"chat-text\" name=\"text\" rows=\"2\" maxlength=\"1600\" required></textarea>\
<button type=\"submit\">Send</button><p class=\"form-error\" role=\"alert\" hidden></p></form>",
    );
    Ok(page(&c, Nav::Chat, "Chat", &body))
}

#[derive(Debug, Deserialize)]
pub struct TenantQuery {
    tenant: Option<String>,
}

/// The company a signed-out page is for: `?tenant=` or the deployment's first.
async fn tenant_for(state: &AppState, slug: Option<&str>) -> Option<Tenant> {
    match slug {
        Some(slug) => state.store.tenant_by_slug(slug).await.ok().flatten(),
        None => {
            let first = state.store.list_tenants().await.ok()?.into_iter().next()?;
            state.store.tenant(first.0).await.ok()
        }
    }
}

pub async fn sign_in(State(state): State<AppState>, Query(q): Query<TenantQuery>) -> Response {
    let tenant = tenant_for(&state, q.tenant.as_deref()).await;
    let slug = tenant
        .as_ref()
        .map(|t| {
            format!(
                "<input type=\"hidden\" name=\"tenant\" value=\"{}\">",
                esc(&t.slug)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1><p>Enter the mobile number or e-mail on your account. We will send you a \
link that signs you in.</p>\
<form id=\"login\" class=\"action\" data-api=\"/api/v1/portal/login\" data-then=\"message\">{slug}\
<label for=\"contact\">Mobile number or e-mail</label>\
<input id=\"contact\" name=\"contact\" data-type=\"contact\" autocomplete=\"username\" required>\
<button type=\"submit\">Send me a link</button>\
<p class=\"form-error\" role=\"alert\" hidden></p><p class=\"notice\" role=\"status\" hidden></p></form>"
    );
    public_page(tenant.as_ref(), "Sign in", &body)
}

pub async fn link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let tenant = tenant_for(&state, None).await;
    let body = format!(
        "<h1>Welcome</h1><p>Tap to open your account. This link works once.</p>\
<form method=\"post\" action=\"/portal/link/{}\"><button type=\"submit\" id=\"continue\">Open my account</button></form>",
        esc(&token)
    );
    public_page(tenant.as_ref(), "Sign in", &body)
}

/// Use the link once: set the session cookie and go to the account.
pub async fn use_link(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    let (claims, session) = match api::redeem(&state, &token).await {
        Ok(r) => r,
        Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e).into()),
        Err(_) => {
            let tenant = tenant_for(&state, None).await;
            let body = "<h1>This link cannot be used</h1><p class=\"error\" role=\"alert\">It was \
used already or has expired. Links work once, for 15 minutes.</p>\
<p><a class=\"button\" href=\"/portal/sign-in\">Send me a new link</a></p>";
            let mut res = public_page(tenant.as_ref(), "Sign in", body);
            *res.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(res);
        }
    };
    let max_age = claims.expires_at - state.clock.now().timestamp();
    Ok((
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, cookie(&state, &session, max_age)?),
            (LOCATION, axum::http::HeaderValue::from_static("/portal")),
        ],
    )
        .into_response())
}

pub async fn sign_out(State(state): State<AppState>) -> PageResult {
    Ok((
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, cookie(&state, "", 0)?),
            (
                LOCATION,
                axum::http::HeaderValue::from_static("/portal/sign-in"),
            ),
        ],
    )
        .into_response())
}
