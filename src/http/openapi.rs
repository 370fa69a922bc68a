//! `GET /api/v1/openapi.json`: the REST API as an OpenAPI 3.1 document, built from one
//! typed descriptor per operation (method, path, who may call it, request body schema). A
//! test reads every `.route(…)` of the router's sources and checks each method and path is
//! described here, so a new route without a descriptor fails the build's tests.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::AppState;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Admin bearer token or admin session.
    Admin,
    /// Admin or CSR, bearer token or session.
    Operator,
    /// Admin, CSR or integration.
    Reader,
    /// An operator's cookie session.
    Session,
    Integration,
    /// A customer portal token.
    Portal,
    /// A request signed by Twilio.
    Twilio,
    /// A request signed by Stripe (`Stripe-Signature`).
    Stripe,
}

/// One operation of the API.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// JSON Schema of the request body, when there is one.
    pub body: Option<fn() -> Value>,
    /// Success status.
    pub ok: u16,
}

fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props, "additionalProperties": false })
}

fn text() -> Value {
    json!({ "type": "string", "minLength": 1 })
}

fn id() -> Value {
    json!({ "type": "integer", "format": "int64", "minimum": 1 })
}

const fn op(method: &'static str, path: &'static str, summary: &'static str, access: Access) -> Op {
    Op {
        method,
        path,
        summary,
        access,
        body: None,
        ok: 200,
    }
}

const fn with_body(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    body: fn() -> Value,
    ok: u16,
) -> Op {
    Op {
        method,
        path,
        summary,
        access,
        body: Some(body),
        ok,
    }
}

/// Every operation the router serves.
pub const OPERATIONS: &[Op] = &[
    op("get", "/healthz", "Liveness", Access::Public),
    op(
        "get",
        "/readyz",
        "Readiness (one store round trip)",
        Access::Public,
    ),
    op("get", "/metrics", "Prometheus metrics", Access::Public),
    op(
        "get",
        "/api/v1/openapi.json",
        "This document",
        Access::Public,
    ),
    with_body(
        "post",
        "/api/v1/messages",
        "A customer message from an integration; the agent's reply",
        Access::Integration,
        || {
            obj(
                &["channel", "from", "to", "text"],
                json!({ "channel": { "enum": ["sms", "voice", "chat", "api"] }, "from": text(), "to": text(), "text": text(), "external_id": { "type": "string" } }),
            )
        },
        200,
    ),
    with_body(
        "post",
        "/api/v1/operator/session",
        "Sign in: sets the session cookie, returns the CSRF token",
        Access::Public,
        || {
            obj(
                &["email", "password"],
                json!({ "email": text(), "password": text(), "tenant": { "type": "string" } }),
            )
        },
        201,
    ),
    op(
        "get",
        "/api/v1/operator/session",
        "The signed-in user and the CSRF token",
        Access::Session,
    ),
    Op {
        ok: 204,
        ..op(
            "delete",
            "/api/v1/operator/session",
            "Sign out (server-side)",
            Access::Session,
        )
    },
    op(
        "get",
        "/api/v1/operator/tenant",
        "The tenant's settings",
        Access::Operator,
    ),
    op(
        "get",
        "/api/v1/operator/catalog",
        "Services and prices",
        Access::Operator,
    ),
    op(
        "get",
        "/api/v1/operator/customers",
        "Search (`q`) or list customers",
        Access::Operator,
    ),
    op(
        "get",
        "/api/v1/operator/customers/{id}",
        "A customer with their properties",
        Access::Operator,
    ),
    op(
        "get",
        "/api/v1/operator/customers/{id}/record",
        "The one-screen customer record",
        Access::Operator,
    ),
    with_body(
        "post",
        "/api/v1/operator/customers/{id}/appointments",
        "Book a visit",
        Access::Operator,
        || {
            obj(
                &["property_id", "service", "slot_id"],
                json!({ "property_id": id(), "service": text(), "slot_id": id() }),
            )
        },
        201,
    ),
    with_body(
        "post",
        "/api/v1/operator/customers/{id}/notes",
        "Add a note to the record",
        Access::Operator,
        || obj(&["text"], json!({ "text": text() })),
        201,
    ),
    op(
        "get",
        "/api/v1/operator/customers/{id}/notes",
        "The record's notes, newest first",
        Access::Operator,
    ),
    with_body(
        "post",
        "/api/v1/operator/appointments/{id}/reschedule",
        "Move a visit (beyond agent policy, with a reason; never beyond capacity)",
        Access::Operator,
        || {
            obj(
                &["slot_id", "reason"],
                json!({ "slot_id": id(), "reason": text() }),
            )
        },
        200,
    ),
    with_body(
        "post",
        "/api/v1/operator/appointments/{id}/cancel",
        "Cancel a visit",
        Access::Operator,
        || obj(&["reason"], json!({ "reason": text() })),
        200,
    ),
    with_body(
        "post",
        "/api/v1/operator/appointments/{id}/status",
        "A field event from the technician: `en_route` (+ `eta_minutes`), `started`, `paused` (+ customer-facing `note`) or `completed` (+ `findings`, `products`); texts the customer when the tenant's notice is on",
        Access::Operator,
        || {
            obj(
                &["status"],
                json!({
                    "status": { "type": "string", "enum": ["en_route", "started", "paused", "completed"] },
                    "eta_minutes": { "type": "integer", "minimum": 1, "maximum": 600 },
                    "note": text(),
                    "findings": text(),
                    "products": { "type": "array", "items": { "type": "string" } },
                }),
            )
        },
        200,
    ),
    op(
        "get",
        "/api/v1/operator/slots",
        "Windows with capacity left (`zone`, `from`, `to`)",
        Access::Operator,
    ),
    op(
        "get",
        "/api/v1/operator/escalations",
        "The queue, most urgent first",
        Access::Operator,
    ),
    op(
        "get",
        "/api/v1/operator/escalations/{id}",
        "One escalation",
        Access::Operator,
    ),
    op(
        "post",
        "/api/v1/operator/escalations/{id}/claim",
        "Claim an escalation",
        Access::Operator,
    ),
    with_body(
        "post",
        "/api/v1/operator/escalations/{id}/resolve",
        "Resolve with an outcome code and a note",
        Access::Operator,
        || {
            obj(
                &["resolution"],
                json!({ "resolution": text(), "outcome": { "enum": crate::store::OUTCOMES }, "hand_back": { "type": "boolean" } }),
            )
        },
        200,
    ),
    op(
        "post",
        "/api/v1/operator/conversations/{id}/hand-back",
        "Give the conversation back to the agent",
        Access::Operator,
    ),
    with_body(
        "post",
        "/api/v1/operator/conversations/{id}/reply",
        "Reply to the customer on their channel",
        Access::Operator,
        || obj(&["text"], json!({ "text": text() })),
        201,
    ),
    op(
        "get",
        "/api/v1/operator/events",
        "Live events (Server-Sent Events; `Last-Event-ID` resumes)",
        Access::Reader,
    ),
    op(
        "get",
        "/api/v1/operator/audit",
        "The audit log, newest first, with filters",
        Access::Admin,
    ),
    op(
        "get",
        "/api/v1/operator/policy",
        "Policy, business hours, on-call number",
        Access::Admin,
    ),
    with_body(
        "put",
        "/api/v1/operator/policy",
        "Change policy settings (partial document)",
        Access::Admin,
        || json!({ "type": "object", "properties": { "policy": { "type": "object" }, "business_hours": { "type": "object" }, "on_call_number": { "type": ["string", "null"] } }, "additionalProperties": false }),
        200,
    ),
    op(
        "get",
        "/api/v1/operator/reports/summary",
        "Office summary report (`from`, `to`, `format=csv`)",
        Access::Admin,
    ),
    with_body(
        "post",
        "/api/v1/operator/webhooks",
        "Subscribe a callback URL to event kinds (signed deliveries; the secret is shown once)",
        Access::Admin,
        || {
            obj(
                &["url", "kinds"],
                json!({ "url": text(), "kinds": { "type": "array", "minItems": 1, "items": { "enum": crate::store::EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>() } }, "secret": { "type": "string", "minLength": 16, "maxLength": 200 } }),
            )
        },
        201,
    ),
    op(
        "get",
        "/api/v1/operator/webhooks",
        "Webhook subscriptions",
        Access::Admin,
    ),
    Op {
        ok: 204,
        ..op(
            "delete",
            "/api/v1/operator/webhooks/{id}",
            "Remove a subscription (pending deliveries are cancelled)",
            Access::Admin,
        )
    },
    op(
        "get",
        "/api/v1/operator/webhooks/{id}/deliveries",
        "A subscription's deliveries with every attempt",
        Access::Admin,
    ),
    op(
        "get",
        "/api/v1/portal/me",
        "The signed-in customer",
        Access::Portal,
    ),
    with_body(
        "post",
        "/api/v1/portal/events",
        "Report portal activity",
        Access::Portal,
        || {
            obj(
                &["kind"],
                json!({ "kind": text(), "detail": { "type": "object" } }),
            )
        },
        200,
    ),
    with_body(
        "post",
        "/api/v1/portal/chat",
        "A chat message to the agent",
        Access::Portal,
        || {
            obj(
                &["text"],
                json!({ "text": text(), "client_message_id": { "type": "string" } }),
            )
        },
        200,
    ),
    op(
        "get",
        "/api/v1/portal/chat",
        "Chat over WebSocket (upgrade); a CSR's replies arrive live as `type: message` frames",
        Access::Portal,
    ),
    op(
        "get",
        "/api/v1/portal/chat/messages",
        "The customer's portal chat: their messages and the company's replies",
        Access::Portal,
    ),
    op(
        "get",
        "/api/v1/portal/summary",
        "Account summary: name, properties, balance, next visit, agreements awaiting signature",
        Access::Portal,
    ),
    op(
        "get",
        "/api/v1/portal/visits",
        "Upcoming visits and completed ones with technician, notes, findings, products (`property_id`)",
        Access::Portal,
    ),
    op(
        "get",
        "/api/v1/portal/visits/{id}/windows",
        "Windows this visit may move to under the portal policy, or the refusal and its rule",
        Access::Portal,
    ),
    with_body(
        "post",
        "/api/v1/portal/visits/{id}/reschedule",
        "Move a visit (portal policy); a refusal answers its code and rule and is recorded",
        Access::Portal,
        || obj(&["slot_id"], json!({ "slot_id": id() })),
        200,
    ),
    op(
        "get",
        "/api/v1/portal/invoices",
        "The customer's invoices",
        Access::Portal,
    ),
    op(
        "get",
        "/api/v1/portal/invoices/{id}",
        "One invoice with its lines and payments",
        Access::Portal,
    ),
    op(
        "post",
        "/api/v1/portal/invoices/{id}/checkout",
        "Open the payment provider's checkout page for the balance: its URL",
        Access::Portal,
    ),
    op(
        "get",
        "/api/v1/portal/agreements",
        "Agreements and whether each needs a signature (`property_id`)",
        Access::Portal,
    ),
    op(
        "get",
        "/api/v1/portal/agreements/{id}",
        "One agreement: its exact text, SHA-256 and signatures",
        Access::Portal,
    ),
    with_body(
        "post",
        "/api/v1/portal/agreements/{id}/sign",
        "Sign the agreement's current text (typed full name and consent)",
        Access::Portal,
        || {
            obj(
                &["full_name", "consent"],
                json!({ "full_name": text(), "consent": { "const": true }, "text_sha256": { "type": "string" } }),
            )
        },
        200,
    ),
    with_body(
        "put",
        "/api/v1/portal/autopay",
        "Turn autopay on or off",
        Access::Portal,
        || obj(&["enabled"], json!({ "enabled": { "type": "boolean" } })),
        200,
    ),
    op(
        "get",
        "/api/v1/portal/history",
        "The customer's portal activity, newest first",
        Access::Portal,
    ),
    with_body(
        "post",
        "/api/v1/portal/login",
        "Ask for a single-use sign-in link by SMS or e-mail (same answer whether known or not)",
        Access::Public,
        || {
            obj(
                &[],
                json!({ "tenant": { "type": "string" }, "phone": { "type": "string" }, "email": { "type": "string" } }),
            )
        },
        202,
    ),
    with_body(
        "post",
        "/api/v1/portal/session",
        "Exchange a sign-in link's token (once) for a portal bearer token",
        Access::Public,
        || obj(&["link_token"], json!({ "link_token": text() })),
        200,
    ),
    op(
        "post",
        "/webhooks/stripe",
        "Stripe webhook (signed): a paid Checkout Session records the payment once per event id",
        Access::Stripe,
    ),
    op(
        "post",
        "/twilio/sms",
        "Twilio inbound SMS webhook (form)",
        Access::Twilio,
    ),
    op(
        "post",
        "/twilio/status",
        "Twilio message status callback (form)",
        Access::Twilio,
    ),
    op(
        "post",
        "/twilio/voice",
        "Twilio inbound call webhook (form)",
        Access::Twilio,
    ),
    op(
        "post",
        "/twilio/voice/turn",
        "Twilio speech/digits gather result (form)",
        Access::Twilio,
    ),
    op(
        "post",
        "/twilio/voice/recording",
        "Twilio voicemail recording callback (form)",
        Access::Twilio,
    ),
    op(
        "get",
        "/twilio/voice/stream",
        "Twilio Media Streams without a token: always refused",
        Access::Twilio,
    ),
    op(
        "get",
        "/twilio/voice/stream/{token}",
        "Twilio Media Streams WebSocket (single-use token bound to the call)",
        Access::Twilio,
    ),
    op(
        "get",
        "/console",
        "Console: to the queue, or to sign-in (HTML)",
        Access::Public,
    ),
    op(
        "get",
        "/console/sign-in",
        "Console: sign-in page (HTML)",
        Access::Public,
    ),
    op(
        "get",
        "/console/queue",
        "Console: the queue (HTML; `status`, `reason`, `mine`)",
        Access::Session,
    ),
    op(
        "get",
        "/console/conversations/{id}",
        "Console: one conversation (HTML)",
        Access::Session,
    ),
    op(
        "get",
        "/console/customers",
        "Console: customer search (HTML; `q`)",
        Access::Session,
    ),
    op(
        "get",
        "/console/customers/{id}",
        "Console: the customer record (HTML)",
        Access::Session,
    ),
    op(
        "get",
        "/console/admin/policy",
        "Console: policy and hours editor (HTML, admin)",
        Access::Session,
    ),
    op(
        "get",
        "/console/admin/dashboard",
        "Console: dashboard with charts (HTML, admin)",
        Access::Session,
    ),
    op(
        "get",
        "/console/admin/audit",
        "Console: the audit log (HTML, admin)",
        Access::Session,
    ),
    op(
        "get",
        "/console/assets/{file}",
        "Console: embedded stylesheet and script",
        Access::Public,
    ),
    op(
        "get",
        "/portal",
        "Portal: account summary, or to sign-in (HTML)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/sign-in",
        "Portal: ask for a sign-in link by phone or e-mail (HTML; `tenant`)",
        Access::Public,
    ),
    op(
        "post",
        "/portal/sign-out",
        "Portal: clear the portal cookie, to sign-in",
        Access::Public,
    ),
    op(
        "get",
        "/portal/link/{token}",
        "Portal: the texted or e-mailed sign-in link; one tap to use it (HTML)",
        Access::Public,
    ),
    op(
        "post",
        "/portal/link/{token}",
        "Portal: use a sign-in link once, set the `fd_portal` cookie, to the account",
        Access::Public,
    ),
    op(
        "get",
        "/portal/visits",
        "Portal: upcoming and past visits (HTML)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/visits/{id}",
        "Portal: the window picker to move a visit (HTML)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/invoices",
        "Portal: bills with Pay (HTML)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/invoices/{id}",
        "Portal: one bill, and the return page after checkout (HTML; `paid`, `session_id`)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/agreements",
        "Portal: service agreements (HTML)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/agreements/{id}",
        "Portal: an agreement's text with Sign (HTML)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/history",
        "Portal: the customer's portal activity (HTML)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/chat",
        "Portal: chat with the company, live (HTML)",
        Access::Portal,
    ),
    op(
        "get",
        "/portal/assets/{file}",
        "Portal: embedded stylesheet, script and brand colour (`color`)",
        Access::Public,
    ),
];

fn security(access: Access) -> Value {
    match access {
        Access::Public => json!([]),
        Access::Admin | Access::Operator | Access::Reader => {
            json!([{ "bearer": [] }, { "session": [], "csrf": [] }])
        }
        Access::Session => json!([{ "session": [], "csrf": [] }]),
        Access::Integration | Access::Portal => json!([{ "bearer": [] }]),
        Access::Twilio => json!([{ "twilio": [] }]),
        Access::Stripe => json!([{ "stripe": [] }]),
    }
}

fn roles(access: Access) -> &'static str {
    match access {
        Access::Public => "anyone",
        Access::Admin => "admin",
        Access::Operator => "admin, csr",
        Access::Reader => "admin, csr, integration",
        Access::Session => "a signed-in operator",
        Access::Integration => "integration",
        Access::Portal => "customer (portal token)",
        Access::Twilio => "Twilio (signed request)",
        Access::Stripe => "Stripe (signed request)",
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for o in OPERATIONS {
        let mut operation = json!({
            "summary": o.summary,
            "description": format!("Who may call: {}.", roles(o.access)),
            "security": security(o.access),
            "responses": {
                o.ok.to_string(): { "description": "success" },
                "default": { "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            },
        });
        if o.path.contains("{id}") {
            operation["parameters"] =
                json!([{ "name": "id", "in": "path", "required": true, "schema": id() }]);
        } else if o.path.contains("{file}") {
            operation["parameters"] = json!([{ "name": "file", "in": "path", "required": true, "schema": { "type": "string" } }]);
        } else if o.path.contains("{token}") {
            operation["parameters"] = json!([{ "name": "token", "in": "path", "required": true, "schema": { "type": "string" } }]);
        }
        if let Some(body) = o.body {
            operation["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": body() } } });
        }
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "frontdesk", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": crate::operators::SESSION_COOKIE },
                "csrf": { "type": "apiKey", "in": "header", "name": "x-csrf-token" },
                "twilio": { "type": "apiKey", "in": "header", "name": "X-Twilio-Signature" },
                "stripe": { "type": "apiKey", "in": "header", "name": "Stripe-Signature" },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": { "code": { "type": "string" }, "message": { "type": "string" } },
                    } },
                },
            },
        },
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(|| async { Json(document()) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// (method, path) of every `.route(…)` in a source file, under `prefix`.
    fn routes_in(src: &str, prefix: &str, consts: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = src;
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("balanced parentheses");
            let call = &rest[..end];
            let Some((first, methods)) = call.split_once(',') else {
                rest = &rest[end..];
                continue;
            };
            let first = first.trim();
            let path = match first.strip_prefix('"') {
                Some(p) => p.trim_end_matches('"').to_string(),
                None => consts
                    .iter()
                    .find(|(k, _)| *k == first)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| panic!("unknown route constant {first}")),
            };
            for m in ["get", "post", "put", "delete", "patch"] {
                let starts = [format!(" {m}("), format!(".{m}("), format!("\n{m}(")];
                let padded = format!(" {}", methods.trim_start());
                if starts.iter().any(|s| padded.contains(s.as_str())) {
                    out.push((m.to_string(), format!("{prefix}{path}")));
                }
            }
            rest = &rest[end..];
        }
        out
    }

    #[test]
    fn every_route_of_the_router_is_documented() {
        let op = "/api/v1/operator";
        let sources = [
            ("health", include_str!("health.rs"), ""),
            ("messages", include_str!("messages.rs"), ""),
            ("openapi", include_str!("openapi.rs"), ""),
            ("twilio", include_str!("twilio.rs"), ""),
            ("stream", include_str!("stream.rs"), ""),
            ("portal", include_str!("portal.rs"), "/api/v1/portal"),
            (
                "portal_api",
                include_str!("portal_api.rs"),
                "/api/v1/portal",
            ),
            ("stripe", include_str!("stripe.rs"), ""),
            ("operator", include_str!("operator.rs"), op),
            ("queue", include_str!("queue.rs"), op),
            ("session", include_str!("session.rs"), op),
            ("record_actions", include_str!("record_actions.rs"), op),
            ("field", include_str!("field.rs"), op),
            ("audit", include_str!("audit.rs"), op),
            ("events", include_str!("events.rs"), op),
            ("policy", include_str!("policy.rs"), op),
            ("reports", include_str!("reports.rs"), op),
            ("console", include_str!("console/mod.rs"), ""),
            ("portal_pages", include_str!("portal_pages/mod.rs"), ""),
            ("webhooks", include_str!("webhooks.rs"), op),
        ];
        // Every routed module of `http` is read above.
        for line in include_str!("mod.rs").lines() {
            let Some(name) = line.strip_prefix("mod ").map(|n| n.trim_end_matches(';')) else {
                continue;
            };
            assert!(
                // `auth` and `error` route nothing.
                ["auth", "error"].contains(&name) || sources.iter().any(|(n, _, _)| *n == name),
                "module {name} is not checked against openapi.json"
            );
        }
        let consts = [
            ("PATH", super::super::stream::PATH),
            ("TOKEN_PATH", super::super::stream::TOKEN_PATH),
        ];
        let served: BTreeSet<(String, String)> = sources
            .iter()
            .flat_map(|(_, src, prefix)| {
                // This test's own sample text is not a route.
                let src = src.split("#[cfg(test)]").next().unwrap_or(src);
                let code: String = src
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                routes_in(&code, prefix, &consts)
            })
            .collect();
        let documented: BTreeSet<(String, String)> = OPERATIONS
            .iter()
            .map(|o| (o.method.to_string(), o.path.to_string()))
            .collect();
        assert!(
            served.len() >= 40,
            "found only {} routes: {served:?}",
            served.len()
        );
        let missing: Vec<_> = served.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
        let stale: Vec<_> = documented.difference(&served).collect();
        assert!(stale.is_empty(), "documented but not served: {stale:?}");
    }

    #[test]
    fn the_document_is_openapi_3_1_with_a_schema_for_each_body() {
        let d = document();
        assert_eq!(d["openapi"], "3.1.0");
        let paths = d["paths"].as_object().expect("paths");
        for o in OPERATIONS {
            let operation = &paths[o.path][o.method];
            assert!(
                operation["responses"].is_object(),
                "{} {}",
                o.method,
                o.path
            );
            if o.path.contains('{') {
                assert_eq!(operation["parameters"][0]["in"], "path");
            }
            if o.body.is_some() {
                assert!(
                    operation["requestBody"]["content"]["application/json"]["schema"].is_object()
                );
            }
        }
    }
}
