//! The customer portal's account API (`/api/v1/portal/…`, portal token or the pages'
//! cookie): summary, visits with self-serve reschedule, invoices with checkout, agreements
//! with signature, autopay, history, and magic-link sign-in. Everything is the signed-in
//! customer's only; a property manager sees all their properties and may filter by one
//! (`?property_id=`). CSR notes and tool calls never appear here. Rules: `docs/portal.md`.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ClientAddress;
use super::portal::PortalAuth;
use super::{ApiJson, AppState};
use crate::domain::{
    AgreementId, AppointmentId, AppointmentStatus, Cents, InvoiceStatus, PhoneE164, PropertyId,
    SignatureStatus, SlotId,
};
use crate::error::{ApiError, ApiResult};
use crate::portal::links::{self, Contact, Limited};
use crate::portal::stripe;
use crate::portal::{self as rules, RescheduleOutcome};
use crate::record::local;
use crate::store::{Agreement, Appointment, Customer, Property, Tenant};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/summary", get(summary))
        .route("/visits", get(visits))
        .route("/visits/{id}/windows", get(windows))
        .route("/visits/{id}/reschedule", post(reschedule))
        .route("/invoices", get(invoices))
        .route("/invoices/{id}", get(invoice))
        .route("/invoices/{id}/checkout", post(checkout))
        .route("/agreements", get(agreements))
        .route("/agreements/{id}", get(agreement))
        .route("/agreements/{id}/sign", post(sign))
        .route("/autopay", put(autopay))
        .route("/history", get(history))
        .route("/login", post(login))
        .route("/session", post(session))
}

/// The signed-in customer with their tenant and properties, loaded once per request.
struct Account {
    tenant: Tenant,
    customer: Customer,
    properties: Vec<Property>,
}

async fn account(state: &AppState, auth: &PortalAuth) -> ApiResult<Account> {
    let c = auth.0;
    Ok(Account {
        tenant: state.store.tenant(c.tenant).await?,
        customer: state.store.customer(c.tenant, c.customer).await?,
        properties: state.store.properties(c.tenant, c.customer).await?,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PropertyFilter {
    pub(super) property_id: Option<i64>,
}

impl Account {
    /// The one property asked for (it must be the customer's), or none for all.
    fn filter(&self, f: &PropertyFilter) -> ApiResult<Option<PropertyId>> {
        match f.property_id {
            None => Ok(None),
            Some(id) if self.properties.iter().any(|p| p.id.0 == id) => Ok(Some(PropertyId(id))),
            Some(_) => Err(ApiError::NotFound("property")),
        }
    }

    fn address(&self, id: PropertyId) -> String {
        self.properties
            .iter()
            .find(|p| p.id == id)
            .map(|p| format!("{}, {}, {} {}", p.street, p.city, p.state, p.zip))
            .unwrap_or_default()
    }

    fn property(&self, id: PropertyId) -> ApiResult<&Property> {
        self.properties
            .iter()
            .find(|p| p.id == id)
            .ok_or(ApiError::NotFound("property"))
    }
}

fn property_json(p: &Property) -> Value {
    json!({ "id": p.id, "street": p.street, "city": p.city, "state": p.state, "zip": p.zip, "kind": p.kind })
}

fn appointment_json(acc: &Account, a: &Appointment, now: chrono::DateTime<Utc>) -> Value {
    let tz = acc.tenant.timezone;
    let refusal = rules::check_visit(&acc.tenant, a, now).err();
    json!({
        "id": a.id,
        "property_id": a.property_id,
        "address": acc.address(a.property_id),
        "service": a.service,
        "technician": a.technician,
        "status": a.status,
        "window_start": local(tz, a.window_start),
        "window_end": local(tz, a.window_end),
        "window": crate::agent::tools::window_label(tz, a.window_start, a.window_end),
        "reschedulable": refusal.is_none(),
        "reschedule_refusal": refusal,
    })
}

/// Appointments still ahead (not cancelled, not finished), soonest first.
fn upcoming(apps: Vec<Appointment>, now: chrono::DateTime<Utc>) -> Vec<Appointment> {
    apps.into_iter()
        .filter(|a| {
            !matches!(
                a.status,
                AppointmentStatus::Cancelled | AppointmentStatus::Completed
            ) && a.window_end >= now
        })
        .collect()
}

/// Whether an agreement's current text still needs the customer's signature.
async fn needs_signature(
    state: &AppState,
    acc: &Account,
    a: &Agreement,
    signed_hashes: &[(AgreementId, String)],
) -> ApiResult<(String, String, bool)> {
    let property = acc.property(a.property_id)?;
    let text = rules::agreement_text(&acc.tenant, &acc.customer, property, a);
    let hash = rules::sha256_hex(&text);
    let _ = state;
    let signed = signed_hashes
        .iter()
        .any(|(id, h)| *id == a.id && *h == hash);
    let needs = !signed && a.signature_status != SignatureStatus::Declined;
    Ok((text, hash, needs))
}

async fn signed_hashes(state: &AppState, acc: &Account) -> ApiResult<Vec<(AgreementId, String)>> {
    Ok(state
        .store
        .agreement_signatures(acc.tenant.id, acc.customer.id)
        .await?
        .into_iter()
        .map(|s| (s.agreement_id, s.text_sha256))
        .collect())
}

pub(super) async fn summary(
    State(state): State<AppState>,
    auth: PortalAuth,
) -> ApiResult<Json<Value>> {
    let acc = account(&state, &auth).await?;
    let (t, c) = (acc.tenant.id, acc.customer.id);
    let now = state.clock.now();
    let invoices = state.store.invoices(t, c).await?;
    let balance: i64 = invoices
        .iter()
        .filter(|i| i.status != InvoiceStatus::Void)
        .map(|i| i.balance_cents.0)
        .sum();
    let next = upcoming(state.store.appointments(t, c).await?, now)
        .into_iter()
        .next();
    let hashes = signed_hashes(&state, &acc).await?;
    let mut awaiting = Vec::new();
    for a in state.store.agreements(t, c).await? {
        if needs_signature(&state, &acc, &a, &hashes).await?.2 {
            awaiting.push(
                json!({ "id": a.id, "service": a.service, "property_id": a.property_id,
                                  "address": acc.address(a.property_id) }),
            );
        }
    }
    Ok(Json(json!({
        "customer": { "id": c, "name": acc.customer.name, "first_name": acc.customer.first_name,
                      "last_name": acc.customer.last_name, "company": acc.customer.company,
                      "autopay": acc.customer.autopay },
        "company": { "name": acc.tenant.name, "phone": acc.tenant.office_phone },
        "properties": acc.properties.iter().map(property_json).collect::<Vec<_>>(),
        "balance_cents": balance,
        "balance": rules::money(Cents(balance)),
        "open_invoices": invoices.iter().filter(|i| i.balance_cents.0 > 0 && i.status != InvoiceStatus::Void).count(),
        "next_visit": next.map(|a| appointment_json(&acc, &a, now)),
        "agreements_awaiting_signature": awaiting,
    })))
}

pub(super) async fn visits(
    State(state): State<AppState>,
    auth: PortalAuth,
    Query(f): Query<PropertyFilter>,
) -> ApiResult<Json<Value>> {
    let acc = account(&state, &auth).await?;
    let only = acc.filter(&f)?;
    let (t, c) = (acc.tenant.id, acc.customer.id);
    let now = state.clock.now();
    let tz = acc.tenant.timezone;
    let upcoming: Vec<Value> = upcoming(state.store.appointments(t, c).await?, now)
        .iter()
        .filter(|a| only.is_none_or(|p| p == a.property_id))
        .map(|a| appointment_json(&acc, a, now))
        .collect();
    // Completed visits as the technician reported them to the customer (CSR notes live
    // elsewhere and never come here).
    let past: Vec<Value> = state
        .store
        .visits(t, c)
        .await?
        .into_iter()
        .filter(|v| only.is_none_or(|p| p == v.property_id))
        .map(|v| {
            json!({
                "id": v.id,
                "property_id": v.property_id,
                "address": acc.address(v.property_id),
                "service": v.service,
                "technician": v.technician,
                "completed_at": local(tz, v.completed_at),
                "notes": v.notes,
                "findings": v.findings,
                "products": v.products,
            })
        })
        .collect();
    Ok(Json(json!({ "upcoming": upcoming, "past": past })))
}

/// The customer's own appointment, or 404 (another customer's is not theirs to see).
async fn own_appointment(state: &AppState, acc: &Account, id: i64) -> ApiResult<Appointment> {
    let a = state
        .store
        .appointment(acc.tenant.id, AppointmentId(id))
        .await
        .map_err(ApiError::from_store("appointment"))?;
    if a.customer_id != acc.customer.id {
        return Err(ApiError::NotFound("appointment"));
    }
    Ok(a)
}

pub(super) async fn windows(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let acc = account(&state, &auth).await?;
    let a = own_appointment(&state, &acc, id).await?;
    let now = state.clock.now();
    let tz = acc.tenant.timezone;
    let property = acc.property(a.property_id)?;
    let refusal = rules::check_visit(&acc.tenant, &a, now).err();
    let windows: Vec<Value> = if refusal.is_some() {
        Vec::new()
    } else {
        rules::windows(&state.store, &acc.tenant, &a, property, now)
            .await?
            .into_iter()
            .map(|s| {
                json!({
                    "slot_id": s.id,
                    "start": local(tz, s.starts_at),
                    "end": local(tz, s.ends_at),
                    "label": crate::agent::tools::window_label(tz, s.starts_at, s.ends_at),
                    "stops_left": s.capacity - s.booked,
                })
            })
            .collect()
    };
    let p = &acc.tenant.policy.portal_reschedule;
    Ok(Json(json!({
        "appointment": appointment_json(&acc, &a, now),
        "reschedulable": refusal.is_none(),
        "refusal": refusal,
        "policy": { "min_hours_ahead": p.min_hours_ahead, "max_days_from_original": p.max_days_from_original },
        "windows": windows,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RescheduleBody {
    slot_id: i64,
}

async fn reschedule(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<RescheduleBody>,
) -> ApiResult<Json<Value>> {
    let acc = account(&state, &auth).await?;
    let a = own_appointment(&state, &acc, id).await?;
    let slot = state
        .store
        .slot(acc.tenant.id, SlotId(body.slot_id))
        .await
        .map_err(ApiError::from_store("slot"))?;
    let now = state.clock.now();
    match rules::reschedule(&state.store, &acc.tenant, acc.customer.id, &a, &slot, now).await? {
        RescheduleOutcome::Done => {
            let moved = state.store.appointment(acc.tenant.id, a.id).await?;
            Ok(Json(
                json!({ "status": "moved", "appointment": appointment_json(&acc, &moved, now) }),
            ))
        }
        RescheduleOutcome::Refused(r) => Err(ApiError::PolicyRefused {
            code: r.code,
            rule: r.rule,
            message: r.message,
        }),
    }
}

fn invoice_json(i: &crate::store::Invoice) -> Value {
    json!({
        "id": i.id, "number": i.number, "amount_cents": i.amount_cents, "balance_cents": i.balance_cents,
        "amount": rules::money(i.amount_cents), "balance": rules::money(i.balance_cents),
        "issued_on": i.issued_on, "due_on": i.due_on, "status": i.status,
        "payable": i.balance_cents.0 > 0 && i.status != InvoiceStatus::Void,
    })
}

pub(super) async fn invoices(
    State(state): State<AppState>,
    auth: PortalAuth,
) -> ApiResult<Json<Value>> {
    let c = auth.0;
    let invoices: Vec<Value> = state
        .store
        .invoices(c.tenant, c.customer)
        .await?
        .iter()
        .map(invoice_json)
        .collect();
    Ok(Json(json!({ "invoices": invoices })))
}

async fn own_invoice(
    state: &AppState,
    auth: &PortalAuth,
    id: i64,
) -> ApiResult<crate::store::Invoice> {
    let c = auth.0;
    state
        .store
        .invoices(c.tenant, c.customer)
        .await?
        .into_iter()
        .find(|i| i.id.0 == id)
        .ok_or(ApiError::NotFound("invoice"))
}

pub(super) async fn invoice(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let c = auth.0;
    let i = own_invoice(&state, &auth, id).await?;
    let tz = state.store.tenant(c.tenant).await?.timezone;
    let payments: Vec<Value> = state
        .store
        .payments(c.tenant, c.customer)
        .await?
        .into_iter()
        .filter(|p| p.invoice_id == i.id)
        .map(|p| {
            json!({ "amount_cents": p.amount_cents, "amount": rules::money(p.amount_cents),
                         "method": p.method, "paid_at": local(tz, p.paid_at) })
        })
        .collect();
    let mut body = invoice_json(&i);
    // The store keeps an invoice's total, not a breakdown: it is its one line.
    body["lines"] = json!([{ "description": format!("Services, invoice {}", i.number),
                             "amount_cents": i.amount_cents, "amount": rules::money(i.amount_cents) }]);
    body["payments"] = json!(payments);
    Ok(Json(body))
}

async fn checkout(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let acc = account(&state, &auth).await?;
    let i = own_invoice(&state, &auth, id).await?;
    if i.status == InvoiceStatus::Void || i.balance_cents.0 <= 0 {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "nothing_to_pay",
            "this invoice has no balance to pay",
        ));
    }
    if state.settings.stripe.secret_key.is_none() {
        return Err(ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "payments_unavailable",
            "online payment is not set up; please call the office",
        ));
    }
    let base = &state.settings.public_url;
    let success = format!("{base}/portal/invoices/{id}?paid=1&session_id={{CHECKOUT_SESSION_ID}}");
    let cancel = format!("{base}/portal/invoices/{id}");
    let req = stripe::CheckoutRequest {
        tenant: acc.tenant.id,
        customer: acc.customer.id,
        invoice: i.id,
        invoice_number: &i.number,
        company: &acc.tenant.name,
        amount: i.balance_cents,
        success_url: &success,
        cancel_url: &cancel,
        customer_email: acc.customer.emails.first().map(String::as_str),
    };
    let session = stripe::create_checkout_session(stripe::client(), &state.settings.stripe, &req)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "Stripe checkout session failed");
            ApiError::refused(
                StatusCode::BAD_GATEWAY,
                "payment_provider_failed",
                "the payment provider did not answer; please try again",
            )
        })?;
    state
        .store
        .insert_checkout_session(
            acc.tenant.id,
            acc.customer.id,
            i.id,
            stripe::PROVIDER,
            &session.id,
            i.balance_cents,
            &session.url,
            state.clock.now(),
        )
        .await?;
    Ok(Json(
        json!({ "session_id": session.id, "url": session.url, "amount_cents": i.balance_cents }),
    ))
}

async fn agreement_list(
    state: &AppState,
    acc: &Account,
    only: Option<PropertyId>,
) -> ApiResult<Vec<(Agreement, String, String, bool)>> {
    let hashes = signed_hashes(state, acc).await?;
    let mut out = Vec::new();
    for a in state
        .store
        .agreements(acc.tenant.id, acc.customer.id)
        .await?
    {
        if only.is_some_and(|p| p != a.property_id) {
            continue;
        }
        let (text, hash, needs) = needs_signature(state, acc, &a, &hashes).await?;
        out.push((a, text, hash, needs));
    }
    Ok(out)
}

fn agreement_json(acc: &Account, a: &Agreement, hash: &str, needs: bool) -> Value {
    json!({
        "id": a.id, "property_id": a.property_id, "address": acc.address(a.property_id),
        "service": a.service, "status": a.status, "signature_status": a.signature_status,
        "needs_signature": needs, "starts_on": a.starts_on, "renews_on": a.renews_on,
        "price_cents": a.price_cents, "price": rules::money(a.price_cents), "text_sha256": hash,
    })
}

pub(super) async fn agreements(
    State(state): State<AppState>,
    auth: PortalAuth,
    Query(f): Query<PropertyFilter>,
) -> ApiResult<Json<Value>> {
    let acc = account(&state, &auth).await?;
    let only = acc.filter(&f)?;
    let list: Vec<Value> = agreement_list(&state, &acc, only)
        .await?
        .iter()
        .map(|(a, _, hash, needs)| agreement_json(&acc, a, hash, *needs))
        .collect();
    Ok(Json(json!({ "agreements": list })))
}

pub(super) async fn agreement(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let acc = account(&state, &auth).await?;
    let (a, text, hash, needs) = agreement_list(&state, &acc, None)
        .await?
        .into_iter()
        .find(|(a, ..)| a.id.0 == id)
        .ok_or(ApiError::NotFound("agreement"))?;
    let tz = acc.tenant.timezone;
    let signatures: Vec<Value> = state
        .store
        .agreement_signatures(acc.tenant.id, acc.customer.id)
        .await?
        .into_iter()
        .filter(|s| s.agreement_id == a.id)
        .map(|s| {
            json!({ "id": s.id, "signer_name": s.signer_name, "signed_at": local(tz, s.signed_at),
                         "text_sha256": s.text_sha256, "current": s.text_sha256 == hash })
        })
        .collect();
    let mut body = agreement_json(&acc, &a, &hash, needs);
    body["text"] = json!(text);
    body["signatures"] = json!(signatures);
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    full_name: String,
    consent: bool,
    /// The hash of the text the customer was shown; refused when the text has changed since.
    text_sha256: Option<String>,
}

/// Who signed from where: the peer address and the browser's user agent.
struct Signer {
    address: String,
    user_agent: String,
}

impl FromRequestParts<AppState> for Signer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(500)
            .collect();
        Ok(Signer {
            address: super::auth::client_address(parts),
            user_agent,
        })
    }
}

async fn sign(
    State(state): State<AppState>,
    auth: PortalAuth,
    signer: Signer,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<SignBody>,
) -> ApiResult<Json<Value>> {
    let name =
        super::required_text(&body.full_name, "full_name", 200, "full_name_required")?.trim();
    if name.split_whitespace().count() < 2 {
        return Err(ApiError::bad_request(
            "full_name_required",
            "type your full name (first and last) to sign",
        ));
    }
    if !body.consent {
        return Err(ApiError::bad_request(
            "consent_required",
            "signing needs your consent to sign electronically",
        ));
    }
    let acc = account(&state, &auth).await?;
    let (a, text, hash, needs) = agreement_list(&state, &acc, None)
        .await?
        .into_iter()
        .find(|(a, ..)| a.id.0 == id)
        .ok_or(ApiError::NotFound("agreement"))?;
    if body.text_sha256.as_deref().is_some_and(|h| h != hash) {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "agreement_text_changed",
            "the agreement changed since you opened it; read it again before signing",
        ));
    }
    if !needs {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "already_signed",
            "this agreement text is already signed",
        ));
    }
    let now = state.clock.now();
    let sig = state
        .store
        .sign_agreement(
            acc.tenant.id,
            acc.customer.id,
            a.id,
            &crate::store::NewSignature {
                signer_name: name,
                ip_address: &signer.address,
                user_agent: &signer.user_agent,
                document: &text,
                text_sha256: &hash,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => ApiError::refused(
                StatusCode::CONFLICT,
                "already_signed",
                "this agreement text is already signed",
            ),
            other => other.into(),
        })?;
    Ok(Json(json!({
        "signature_id": sig, "agreement_id": a.id, "signer_name": name, "text_sha256": hash,
        "signed_at": local(acc.tenant.timezone, now), "signature_status": "signed",
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AutopayBody {
    enabled: bool,
}

async fn autopay(
    State(state): State<AppState>,
    PortalAuth(c): PortalAuth,
    ApiJson(body): ApiJson<AutopayBody>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .set_autopay(c.tenant, c.customer, body.enabled, state.clock.now())
        .await?;
    Ok(Json(json!({ "autopay": body.enabled })))
}

pub(super) async fn history(
    State(state): State<AppState>,
    PortalAuth(c): PortalAuth,
) -> ApiResult<Json<Value>> {
    let tz = state.store.tenant(c.tenant).await?.timezone;
    let events: Vec<Value> = state
        .store
        .portal_events(c.tenant, c.customer, 100)
        .await?
        .into_iter()
        .map(|e| json!({ "id": e.id, "kind": e.kind, "detail": e.detail, "at": local(tz, e.at) }))
        .collect();
    Ok(Json(json!({ "activity": events })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    /// The company's slug; the deployment's first company when left out.
    tenant: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

/// The same answer whether or not the contact is on file.
const LOGIN_ANSWER: &str = "If this phone or e-mail is on file, a sign-in link is on its way. It works once, for 15 minutes.";

async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let contact = match (body.phone.as_deref(), body.email.as_deref()) {
        (Some(p), None) => Contact::Phone(PhoneE164::parse(p)?),
        (None, Some(e)) => Contact::email(e).ok_or_else(|| {
            ApiError::bad_request("invalid_email", "that is not an e-mail address")
        })?,
        _ => {
            return Err(ApiError::bad_request(
                "contact_required",
                "send exactly one of `phone` or `email`",
            ))
        }
    };
    let tenant = match body.tenant.as_deref() {
        Some(slug) => state
            .store
            .tenant_by_slug(slug)
            .await?
            .ok_or(ApiError::NotFound("tenant"))?,
        None => {
            let first = state
                .store
                .list_tenants()
                .await?
                .into_iter()
                .next()
                .ok_or(ApiError::NotFound("tenant"))?;
            state.store.tenant(first.0).await?
        }
    };
    let outcome = links::request(
        &state.store,
        &state.settings.twilio,
        &state.settings.public_url,
        &tenant,
        &contact,
        &address,
        state.clock.now(),
    )
    .await?;
    if let Err(limit) = outcome {
        return Err(ApiError::refused(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_link_requests",
            match limit {
                Limited::Contact => {
                    "too many sign-in links were asked for this contact; try again in an hour"
                }
                Limited::Address => {
                    "too many sign-in links were asked from this address; try again in an hour"
                }
            },
        ));
    }
    state.outbox.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "accepted", "message": LOGIN_ANSWER })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    link_token: String,
}

/// Exchange a sign-in link's token (once) for a portal bearer token.
async fn session(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SessionBody>,
) -> ApiResult<Json<Value>> {
    let (claims, token) = redeem(&state, &body.link_token).await?;
    Ok(Json(
        json!({ "token": token, "customer_id": claims.customer,
                    "expires_at": chrono::DateTime::from_timestamp(claims.expires_at, 0) }),
    ))
}

/// Use a link token once: its claims and portal token, or 401 `invalid_link`.
pub(crate) async fn redeem(
    state: &AppState,
    link_token: &str,
) -> ApiResult<(crate::auth::portal::PortalClaims, String)> {
    let t = link_token.trim();
    if t.is_empty() || t.len() > 200 {
        return Err(invalid_link());
    }
    links::redeem(&state.store, t, state.clock.now())
        .await?
        .ok_or_else(invalid_link)
}

fn invalid_link() -> ApiError {
    ApiError::refused(
        StatusCode::UNAUTHORIZED,
        "invalid_link",
        "this sign-in link is unknown, used already or expired; ask for a new one",
    )
}
