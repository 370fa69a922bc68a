//! The web console at `/console`: server-rendered HTML pages for CSRs and office managers,
//! over the same store and the same operator API as everything else. Pages are built here
//! with `format!` and one escaping function, [`esc`], through which every stored or
//! customer-supplied string passes. Actions are plain forms that the console's script posts
//! to the operator API as JSON with the session's CSRF header; live updates come from the
//! API's event stream (SSE), on which the script re-reads the page's live regions.
//!
//! Assets (one stylesheet, one script) are embedded in the binary and served under
//! `/console/assets/`. Every page carries a strict Content-Security-Policy: scripts and
//! styles only from this origin, no inline script, no inline style.

mod admin;
mod pages;
mod record;

use std::fmt::Write as _;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};

use super::auth::session_cookie;
use super::AppState;
use crate::domain::{Role, TenantTz, UserId};
use crate::error::ApiError;
use crate::operators::{check_session, LiveSession};
use crate::store::{StoreError, Tenant};

/// The policy every console answer carries.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/sign-in", get(pages::sign_in))
        .route("/console/queue", get(pages::queue))
        .route("/console/conversations/{id}", get(pages::conversation))
        .route("/console/customers", get(record::search))
        .route("/console/customers/{id}", get(record::record))
        .route("/console/admin/policy", get(admin::policy))
        .route("/console/admin/dashboard", get(admin::dashboard))
        .route("/console/admin/audit", get(admin::audit))
        .route("/console/assets/{file}", get(asset))
        .layer(middleware::from_fn(security_headers))
}

/// Security headers on every console and portal page.
pub(super) async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    res
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return ConsoleError::not_found("file").into_response(),
    };
    ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Escape text for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A console page that could not be shown: a readable message, never raw JSON.
#[derive(Debug)]
pub struct ConsoleError {
    status: StatusCode,
    message: String,
}

impl ConsoleError {
    pub fn not_found(what: &str) -> ConsoleError {
        ConsoleError {
            status: StatusCode::NOT_FOUND,
            message: format!("That {what} does not exist (or belongs to another company)."),
        }
    }
    pub fn bad(message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let message = match e {
            ApiError::Internal(inner) => {
                tracing::error!(error = ?inner, "console page failed");
                "Something went wrong on our side; it has been logged.".to_string()
            }
            ApiError::NotFound(what) => {
                format!("That {what} does not exist (or belongs to another company).")
            }
            other => other.to_string(),
        };
        ConsoleError { status, message }
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ConsoleError::not_found("record"),
            other => ApiError::from(other).into(),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Console</title>\
             <link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head><body>\
             <main class=\"narrow\"><h1>Sorry</h1><p class=\"error\" role=\"alert\">{}</p>\
             <p><a href=\"/console/queue\">Back to the queue</a></p></main></body></html>",
            esc(&self.message)
        );
        html(self.status, body)
    }
}

pub type PageResult = Result<Response, ConsoleError>;

/// An HTML answer that is never cached (the console's and the portal's pages).
pub(super) fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The signed-in operator a page is for. Without a live session the browser is sent to the
/// sign-in page; a write from a page goes through the API, which checks CSRF.
pub struct Operator {
    pub session: LiveSession,
    pub name: String,
    pub tenant: Tenant,
}

impl Operator {
    pub fn is_admin(&self) -> bool {
        self.session.role == Role::Admin
    }
    pub fn label(&self) -> String {
        format!("csr:{}", self.session.user_id)
    }
    pub fn tz(&self) -> TenantTz {
        self.tenant.timezone
    }
    /// Admin pages: a CSR gets a readable refusal.
    pub fn require_admin(&self) -> Result<(), ConsoleError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ConsoleError {
                status: StatusCode::FORBIDDEN,
                message: "Only an office manager (admin) can open this page.".into(),
            })
        }
    }
}

pub struct ToSignIn;

impl IntoResponse for ToSignIn {
    fn into_response(self) -> Response {
        (StatusCode::SEE_OTHER, [(LOCATION, "/console/sign-in")]).into_response()
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(cookie) = session_cookie(parts) else {
            return Err(ToSignIn.into_response());
        };
        let session = match check_session(&state.store, cookie, state.clock.now()).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(ToSignIn.into_response()),
            Err(e) => return Err(ConsoleError::from(ApiError::from(e)).into_response()),
        };
        if !matches!(session.role, Role::Admin | Role::Csr) {
            return Err(ToSignIn.into_response());
        }
        let user = state
            .store
            .user(session.tenant_id, session.user_id)
            .await
            .map_err(|_| ToSignIn.into_response())?;
        let tenant = state
            .store
            .tenant(session.tenant_id)
            .await
            .map_err(|e| ConsoleError::from(e).into_response())?;
        Ok(Operator {
            session,
            name: user.name,
            tenant,
        })
    }
}

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Queue,
    Customers,
    Policy,
    Dashboard,
    Audit,
}

/// A whole page: header with navigation and search, the body, the script.
pub fn page(op: &Operator, now: DateTime<Utc>, nav: Nav, title: &str, body: &str) -> Response {
    let mut links = vec![
        (Nav::Queue, "/console/queue", "Queue"),
        (Nav::Customers, "/console/customers", "Customers"),
    ];
    if op.is_admin() {
        links.push((Nav::Policy, "/console/admin/policy", "Policy"));
        links.push((Nav::Dashboard, "/console/admin/dashboard", "Dashboard"));
        links.push((Nav::Audit, "/console/admin/audit", "Audit log"));
    }
    let mut nav_html = String::new();
    for (n, href, label) in links {
        let current = if n == nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav_html, "<a href=\"{href}\"{current}>{label}</a>");
    }
    let out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"csrf-token\" content=\"{csrf}\">\
<title>{title} · {company}</title>\
<link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
<script src=\"/console/assets/console.js\" defer></script></head>\
<body data-now=\"{now}\" data-tz=\"{tz}\">\
<header class=\"top\"><a class=\"brand\" href=\"/console/queue\">{company}</a>\
<nav>{nav_html}</nav>\
<form class=\"search\" method=\"get\" action=\"/console/customers\" role=\"search\">\
<label class=\"sr\" for=\"q\">Find a customer</label>\
<input id=\"q\" name=\"q\" type=\"search\" placeholder=\"Name, street, phone…\"></form>\
<span class=\"who\">{name} ({role})</span> <span id=\"live-status\" aria-live=\"polite\"></span>\
<form data-api=\"/api/v1/operator/session\" data-method=\"DELETE\" data-then=\"/console/sign-in\">\
<button type=\"submit\" class=\"link\">Sign out</button></form></header>\
<main id=\"main\">{body}</main></body></html>",
        csrf = esc(&op.session.csrf_token),
        title = esc(title),
        company = esc(&op.tenant.name),
        now = now.timestamp(),
        tz = esc(op.tz().0.name()),
        name = esc(&op.name),
        role = op.session.role,
    );
    html(StatusCode::OK, out)
}

/// A local time as the CSR reads it, in the tenant's zone.
pub fn when(tz: TenantTz, at: DateTime<Utc>) -> String {
    tz.local(at).format("%a %b %-d, %-I:%M %p").to_string()
}

/// A `<time>` element in the tenant's zone.
pub fn time_el(tz: TenantTz, at: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        tz.local(at).to_rfc3339(),
        esc(&when(tz, at))
    )
}

/// Names for `csr:<user id>` labels, looked up once per page.
pub async fn who_label(state: &AppState, op: &Operator, label: &str) -> String {
    if let Some(id) = label
        .strip_prefix("csr:")
        .and_then(|n| n.parse::<i64>().ok())
    {
        if let Ok(u) = state.store.user(op.tenant.id, UserId(id)).await {
            return u.name;
        }
    }
    match label {
        "agent" => "the agent".into(),
        other => other.to_string(),
    }
}
