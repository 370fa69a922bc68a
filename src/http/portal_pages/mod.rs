//! The customer portal's pages at `/portal`: server-rendered HTML for phones first, over the
//! same handlers as the portal API (`/api/v1/portal/…`), so a page shows exactly what the
//! API answers. Sign-in is by magic link: `/portal/link/{token}` asks for one tap (link
//! previewers in messaging apps fetch links, and must not use up a single-use one), then
//! sets the `fd_portal` cookie. Actions are forms that the portal's script posts to the API
//! as JSON with the session's CSRF header; chat uses the API's WebSocket, on which CSR
//! replies arrive live. Every stored or customer-supplied string passes through [`esc`].
//!
//! Assets (one stylesheet, one script, the tenant's colour as a stylesheet) are embedded
//! and served under `/portal/assets/`; every answer carries the console's strict CSP.

mod pages;

use axum::extract::{FromRequestParts, Query};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::console::{esc, html};
use super::portal::{check_portal_token, cookie_token, portal_csrf, PortalAuth, PORTAL_COOKIE};
use super::AppState;
use crate::error::ApiError;
use crate::store::{StoreError, Tenant};

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(pages::home))
        .route("/portal/sign-in", get(pages::sign_in))
        .route("/portal/sign-out", post(pages::sign_out))
        .route(
            "/portal/link/{token}",
            get(pages::link).post(pages::use_link),
        )
        .route("/portal/visits", get(pages::visits))
        .route("/portal/visits/{id}", get(pages::visit))
        .route("/portal/invoices", get(pages::invoices))
        .route("/portal/invoices/{id}", get(pages::invoice))
        .route("/portal/agreements", get(pages::agreements))
        .route("/portal/agreements/{id}", get(pages::agreement))
        .route("/portal/history", get(pages::history))
        .route("/portal/chat", get(pages::chat))
        .route("/portal/assets/{file}", get(asset))
        .layer(middleware::from_fn(super::console::security_headers))
}

#[derive(Debug, Deserialize)]
struct BrandQuery {
    color: Option<String>,
}

async fn asset(
    axum::extract::Path(file): axum::extract::Path<String>,
    Query(q): Query<BrandQuery>,
) -> Response {
    let (body, kind) = match file.as_str() {
        "portal.css" => (CSS.to_string(), "text/css; charset=utf-8"),
        "portal.js" => (JS.to_string(), "text/javascript; charset=utf-8"),
        // The tenant's colour as a stylesheet (the CSP allows no inline style).
        "brand.css" => (
            format!(
                ":root{{--brand:{}}}\n",
                q.color
                    .as_deref()
                    .and_then(hex_colour)
                    .unwrap_or(DEFAULT_COLOUR)
            ),
            "text/css; charset=utf-8",
        ),
        _ => return PageError::not_found("file").into_response(),
    };
    ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "no-cache")], body).into_response()
}

const DEFAULT_COLOUR: &str = "#2E7D32";

/// A `#rgb` or `#rrggbb` colour, or nothing.
fn hex_colour(s: &str) -> Option<&str> {
    let hex = s.strip_prefix('#')?;
    ((hex.len() == 3 || hex.len() == 6) && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(s)
}

/// The tenant's branding: the name to show and a checked colour.
pub struct Brand {
    pub name: String,
    pub colour: String,
}

impl Brand {
    pub fn of(t: &Tenant) -> Brand {
        let b = &t.branding;
        let name = b["display_name"]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(&t.name)
            .to_string();
        let colour = b["primary_color"]
            .as_str()
            .and_then(hex_colour)
            .unwrap_or(DEFAULT_COLOUR)
            .to_string();
        Brand { name, colour }
    }
}

/// A portal page that could not be shown: a readable message, never raw JSON.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub fn not_found(what: &str) -> PageError {
        PageError {
            status: StatusCode::NOT_FOUND,
            message: format!("That {what} was not found on your account."),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let message = match e {
            ApiError::Internal(inner) => {
                tracing::error!(error = ?inner, "portal page failed");
                "Something went wrong on our side; please try again or call the office.".into()
            }
            ApiError::NotFound(what) => format!("That {what} was not found on your account."),
            other => other.to_string(),
        };
        PageError { status, message }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sorry</title>\
<link rel=\"stylesheet\" href=\"/portal/assets/portal.css\"></head><body>\
<main><h1>Sorry</h1><p class=\"error\" role=\"alert\">{}</p>\
<p><a class=\"button\" href=\"/portal\">Back to my account</a></p></main></body></html>",
            esc(&self.message)
        );
        html(self.status, body)
    }
}

pub type PageResult = Result<Response, PageError>;

/// The `fd_portal` cookie carrying `token` for `max_age` seconds (empty and 0 to clear).
pub fn cookie(state: &AppState, token: &str, max_age: i64) -> Result<HeaderValue, PageError> {
    let secure = if state.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    // Lax, not Strict: the first page after the checkout provider sends the customer back
    // is a top-level navigation from another site and must still be signed in.
    HeaderValue::from_str(&format!(
        "{PORTAL_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        max_age.max(0)
    ))
    .map_err(|e| ApiError::Internal(e.into()).into())
}

/// The signed-in customer a page is for, from the `fd_portal` cookie; without a valid one
/// the browser goes to the sign-in page.
pub struct Customer {
    pub auth: PortalAuth,
    pub csrf: String,
    pub tenant: Tenant,
}

pub struct ToSignIn;

impl IntoResponse for ToSignIn {
    fn into_response(self) -> Response {
        (StatusCode::SEE_OTHER, [(LOCATION, "/portal/sign-in")]).into_response()
    }
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie_token(parts) else {
            return Err(ToSignIn.into_response());
        };
        let (claims, key) = match check_portal_token(state, &token).await {
            Ok(c) => c,
            Err(ApiError::Internal(e)) => {
                return Err(PageError::from(ApiError::Internal(e)).into_response())
            }
            // An expired or unknown session: sign in again, and drop the stale cookie.
            Err(_) => {
                let mut res = ToSignIn.into_response();
                if let Ok(c) = cookie(state, "", 0) {
                    res.headers_mut().insert(SET_COOKIE, c);
                }
                return Err(res);
            }
        };
        let tenant = state
            .store
            .tenant(claims.tenant)
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        Ok(Customer {
            csrf: portal_csrf(&key, &token),
            auth: PortalAuth(claims),
            tenant,
        })
    }
}
