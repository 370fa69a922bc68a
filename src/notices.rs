//! Proactive messages (`docs/notices.md`): appointment reminders, field notices (on the way,
//! paused, completed with a survey) and invoice notices. Each notice is rendered from a
//! reviewable template (`templates/notices/*.txt`, English and Spanish) with the tenant's
//! name, switched on and timed by the tenant's `policy.notices`, and written in one
//! transaction with what caused it: an SMS becomes an outbox row plus a message in the
//! customer's SMS conversation (so a reply reaches the agent with the notice as context), a
//! customer without a phone gets an e-mail. Opted-out numbers get nothing.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::{json, Value};

use crate::agent::builtin::{self, Lang};
use crate::agent::tools::window_label;
use crate::domain::{
    AppointmentId, AppointmentStatus, Channel, ConversationId, Direction, PhoneE164,
};
use crate::store::{
    Appointment, Customer, EventKind, Job, NewJob, NewMessage, NewOutbound, Store, StoreError,
    StoreResult, Tenant, Tx,
};

/// Every notice template, by name and language.
fn template(name: &str, lang: Lang) -> Option<&'static str> {
    macro_rules! t {
        ($n:literal) => {
            match lang {
                Lang::En => include_str!(concat!("../templates/notices/", $n, ".en.txt")),
                Lang::Es => include_str!(concat!("../templates/notices/", $n, ".es.txt")),
            }
        };
    }
    Some(match name {
        "reminder_day_before" => t!("reminder_day_before"),
        "reminder_morning_of" => t!("reminder_morning_of"),
        "en_route" => t!("en_route"),
        "paused" => t!("paused"),
        "completed" => t!("completed"),
        "invoice_new" => t!("invoice_new"),
        "invoice_overdue" => t!("invoice_overdue"),
        "confirmed" => t!("confirmed"),
        "survey_thanks" => t!("survey_thanks"),
        "email_footer" => t!("email_footer"),
        "email_subject" => t!("email_subject"),
        _ => return None,
    })
}

/// Render a template: each `{name}` is replaced by its value.
pub fn render(name: &str, lang: Lang, vars: &[(&str, &str)]) -> String {
    let mut out = template(name, lang).unwrap_or_default().trim().to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// The customer's language: Spanish when the last thing they wrote us was Spanish.
pub async fn language(store: &Store, tenant: &Tenant, customer: &Customer) -> StoreResult<Lang> {
    Ok(
        match store
            .latest_customer_text(
                tenant.id,
                customer.id,
                customer.phones.first().map(PhoneE164::as_str),
            )
            .await?
        {
            Some(text) => {
                builtin::understand(
                    &text,
                    &builtin::Context {
                        now_local: chrono::NaiveDateTime::default(),
                    },
                )
                .language
            }
            None => Lang::En,
        },
    )
}

/// "Tue Nov 24, 8 AM–12 PM", or its Spanish form.
pub fn window_text(tenant: &Tenant, a: &Appointment, lang: Lang) -> String {
    let en = window_label(tenant.timezone, a.window_start, a.window_end);
    match lang {
        Lang::En => en,
        Lang::Es => builtin::spanish::window_es(&en),
    }
}

/// How a customer is reached with a notice.
#[derive(Debug, Clone)]
pub enum Reach {
    Sms {
        phone: PhoneE164,
        conversation: ConversationId,
    },
    Email {
        address: String,
    },
    /// Not at all, and why (an opted-out number, no contact details).
    Nobody(&'static str),
}

/// A customer with a phone is texted (unless the number opted out); one without a phone is
/// e-mailed. The SMS conversation is opened here, before the notice's transaction.
pub async fn reach(
    store: &Store,
    tenant: &Tenant,
    customer: &Customer,
    now: DateTime<Utc>,
) -> StoreResult<Reach> {
    if let Some(phone) = customer.phones.first() {
        if store.opted_out(tenant.id, phone).await?.is_some() {
            return Ok(Reach::Nobody("recipient opted out"));
        }
        let conversation = store
            .open_conversation(tenant.id, Channel::Sms, phone.as_str(), Some(phone), now)
            .await?;
        return Ok(Reach::Sms {
            phone: phone.clone(),
            conversation,
        });
    }
    match customer.emails.first() {
        Some(address) => Ok(Reach::Email {
            address: address.clone(),
        }),
        None => Ok(Reach::Nobody("no phone or e-mail on file")),
    }
}

/// A rendered notice.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The outbox purpose: `reminder`, `en_route`, `paused`, `completed`, `invoice_new`,
    /// `invoice_overdue`.
    pub purpose: &'static str,
    pub lang: Lang,
    /// What the e-mail subject names ("Appointment reminder").
    pub topic: &'static str,
    pub body: String,
    /// What a reply answers (`{"kind":"reminder"|"survey","appointment_id":…}`).
    pub answerable: Option<Value>,
    /// Ids for the event (`appointment_id`, `invoice_id`).
    pub about: Value,
}

/// Write a notice in the caller's transaction: the outbox row and, for SMS, the message in
/// the customer's conversation and what a reply would answer. Returns the outbox id.
pub async fn write(
    tx: &mut Tx,
    tenant: &Tenant,
    reach: &Reach,
    n: &Notice,
    now: DateTime<Utc>,
) -> StoreResult<Option<i64>> {
    let (outbox, channel) = match reach {
        Reach::Sms {
            phone,
            conversation,
        } => {
            tx.lock_conversation(tenant.id, *conversation).await?;
            tx.insert_message(
                tenant.id,
                *conversation,
                &NewMessage {
                    direction: Direction::Outbound,
                    author: "agent".into(),
                    text: n.body.clone(),
                    external_id: None,
                    media: Vec::new(),
                },
                now,
            )
            .await?;
            if let Some(a) = &n.answerable {
                tx.set_conversation_notice(tenant.id, *conversation, a)
                    .await?;
            }
            let m = NewOutbound {
                conversation_id: Some(*conversation),
                channel: Channel::Sms,
                to: phone.to_string(),
                from: tenant.phone_numbers.first().cloned().unwrap_or_default(),
                body: n.body.clone(),
                purpose: n.purpose.into(),
            };
            (tx.enqueue_outbound(tenant.id, &m, now).await?, "sms")
        }
        Reach::Email { address } => {
            let office = tenant
                .office_phone
                .clone()
                .or_else(|| tenant.phone_numbers.first().cloned())
                .unwrap_or_default();
            let footer = render(
                "email_footer",
                n.lang,
                &[("tenant", &tenant.name), ("office", &office)],
            );
            let subject = render(
                "email_subject",
                n.lang,
                &[("tenant", &tenant.name), ("topic", n.topic)],
            );
            let body = format!("{}\n\n--\n{footer}\n", n.body);
            let id = tx
                .enqueue_email(tenant.id, address, "", &subject, &body, n.purpose, now)
                .await?;
            (id, "email")
        }
        Reach::Nobody(_) => return Ok(None),
    };
    let mut payload = json!({ "purpose": n.purpose, "channel": channel, "outbox_id": outbox });
    if let (Some(p), Some(about)) = (payload.as_object_mut(), n.about.as_object()) {
        for (k, v) in about {
            p.insert(k.clone(), v.clone());
        }
    }
    tx.emit_event(tenant.id, EventKind::NoticeSent, payload, now)
        .await?;
    Ok(Some(outbox))
}

// ------------------------------------------------------------------------------------------
// Reminders

/// The two reminders a visit can have.
pub const REMINDER_VARIANTS: &[&str] = &["day_before", "morning_of"];

/// When a reminder is due under the tenant's current settings, and whether it is on.
pub fn reminder_due(
    tenant: &Tenant,
    variant: &str,
    window_start: DateTime<Utc>,
) -> (DateTime<Utc>, bool) {
    let n = &tenant.policy.notices;
    let day = tenant.timezone.local(window_start).date_naive();
    let (date, hour, on) = if variant == "day_before" {
        (
            day - Duration::days(1),
            n.reminder_day_before_hour,
            n.reminder_day_before,
        )
    } else {
        (day, n.reminder_morning_of_hour, n.reminder_morning_of)
    };
    let at = NaiveTime::from_hms_opt(u32::from(hour), 0, 0).unwrap_or_default();
    (tenant.timezone.instant(date, at), on)
}

/// How far ahead reminders are planned.
const PLAN_AHEAD_DAYS: i64 = 30;

/// Plan the reminders of open visits in the next days that have none for their current
/// window: one job per variant, keyed by appointment and window, so planning twice (or on
/// every instance at once) plans once, and a moved visit gets new ones (the old ones find
/// the window changed and are skipped). A reminder whose time has already passed when it
/// is planned is recorded as late and not sent. Returns how many jobs were added.
pub async fn plan_reminders(store: &Store, now: DateTime<Utc>) -> StoreResult<usize> {
    let found = store
        .unplanned_appointments("reminder", now, now + Duration::days(PLAN_AHEAD_DAYS), 1000)
        .await?;
    let mut tenants: Vec<Tenant> = Vec::new();
    let mut added = 0;
    for a in found {
        let tenant = match tenants.iter().find(|t| t.id == a.tenant_id) {
            Some(t) => t.clone(),
            None => {
                let t = store.tenant(a.tenant_id).await?;
                tenants.push(t.clone());
                t
            }
        };
        let mut tx = store.begin().await?;
        for variant in REMINDER_VARIANTS {
            let (due, _) = reminder_due(&tenant, variant, a.window_start);
            let late = due < now;
            let job = NewJob {
                kind: "reminder".into(),
                key: format!(
                    "reminder:{variant}:{}:{}",
                    a.id.0,
                    a.window_start.timestamp()
                ),
                subject_id: Some(a.id.0),
                subject_at: Some(a.window_start.timestamp()),
                payload: json!({ "variant": variant, "late": late }),
                due_at: if late { now } else { due },
            };
            added += usize::from(tx.schedule_job(tenant.id, &job, now).await?);
        }
        tx.commit().await?;
    }
    Ok(added)
}

/// What running a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// Finished; `true` when a message was queued.
    Done(bool),
    /// Nothing to send (the reason is kept on the job).
    Skipped(String),
    /// Not yet: the tenant's settings put it later.
    Later(DateTime<Utc>),
    /// Another runner holds the job now (this one's lease expired).
    Lost,
}

/// Run one claimed job.
pub async fn run_job(
    store: &Store,
    public_url: &str,
    j: &Job,
    now: DateTime<Utc>,
) -> StoreResult<Ran> {
    let tenant = store.tenant(j.tenant_id).await?;
    let ran = match j.kind.as_str() {
        "reminder" => reminder(store, &tenant, j, now).await?,
        "invoice_notice" => invoice_notice(store, &tenant, public_url, j, now).await?,
        other => Ran::Skipped(format!("unknown job kind `{other}`")),
    };
    match &ran {
        Ran::Skipped(why) => {
            let mut tx = store.begin().await?;
            if tx.finish_job(j, "skipped", Some(why)).await? {
                tx.commit().await?;
            } else {
                return Ok(Ran::Lost);
            }
        }
        Ran::Later(at) => {
            store.postpone_job(j, *at).await?;
        }
        Ran::Done(_) | Ran::Lost => {}
    }
    Ok(ran)
}

async fn reminder(store: &Store, tenant: &Tenant, j: &Job, now: DateTime<Utc>) -> StoreResult<Ran> {
    if j.payload["late"].as_bool() == Some(true) {
        return Ok(Ran::Skipped("planned after its time".into()));
    }
    let variant = j.payload["variant"].as_str().unwrap_or("day_before");
    let Some(id) = j.subject_id.map(AppointmentId) else {
        return Ok(Ran::Skipped("no appointment".into()));
    };
    let a = match store.appointment(tenant.id, id).await {
        Ok(a) => a,
        Err(StoreError::NotFound) => return Ok(Ran::Skipped("appointment gone".into())),
        Err(e) => return Err(e),
    };
    if !a.status.is_open() || Some(a.window_start.timestamp()) != j.subject_at {
        return Ok(Ran::Skipped("appointment moved or no longer open".into()));
    }
    let (due, on) = reminder_due(tenant, variant, a.window_start);
    if !on {
        return Ok(Ran::Skipped("reminder turned off".into()));
    }
    if due > now {
        return Ok(Ran::Later(due));
    }
    if now >= a.window_start {
        return Ok(Ran::Skipped("the visit has started".into()));
    }
    let customer = store.customer(tenant.id, a.customer_id).await?;
    let reach = reach(store, tenant, &customer, now).await?;
    if let Reach::Nobody(why) = reach {
        return Ok(Ran::Skipped(why.into()));
    }
    let lang = language(store, tenant, &customer).await?;
    let body = render(
        &format!("reminder_{variant}"),
        lang,
        &[
            ("first_name", &customer.first_name),
            ("tenant", &tenant.name),
            ("service", &a.service),
            ("window", &window_text(tenant, &a, lang)),
        ],
    );
    let notice = Notice {
        purpose: "reminder",
        lang,
        topic: match lang {
            Lang::En => "appointment reminder",
            Lang::Es => "recordatorio de su cita",
        },
        body,
        answerable: Some(
            json!({ "kind": "reminder", "appointment_id": a.id, "window_start": a.window_start.timestamp() }),
        ),
        about: json!({ "appointment_id": a.id, "customer_id": a.customer_id, "variant": variant }),
    };
    finish_with(store, tenant, j, &reach, &notice, now).await
}

/// Finish the job and write its notice in one transaction: once, or not at all.
async fn finish_with(
    store: &Store,
    tenant: &Tenant,
    j: &Job,
    reach: &Reach,
    notice: &Notice,
    now: DateTime<Utc>,
) -> StoreResult<Ran> {
    let mut tx = store.begin().await?;
    if !tx.finish_job(j, "done", None).await? {
        return Ok(Ran::Lost);
    }
    let queued = write(&mut tx, tenant, reach, notice, now).await?;
    tx.commit().await?;
    Ok(Ran::Done(queued.is_some()))
}

// ------------------------------------------------------------------------------------------
// Invoices

/// The portal page of an invoice (where it is paid).
pub fn invoice_link(public_url: &str, invoice: i64) -> String {
    format!("{public_url}/portal/invoices/{invoice}")
}

fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents.rem_euclid(100))
}

/// Plan the notices of unpaid invoices seen for the first time: one when the invoice is
/// issued (at 9:00 local on its issue day, or at once later that day), and overdue
/// reminders every `invoice_overdue_every_days` days after the due date, at most
/// `invoice_overdue_max`. Steps whose day has passed are recorded as late and not sent.
/// Keyed per invoice and step, so planning is idempotent across instances.
pub async fn plan_invoice_notices(store: &Store, now: DateTime<Utc>) -> StoreResult<usize> {
    plan_invoices(store, now, false).await
}

/// Record the notices of invoices that existed before anything was sent (a seeded or
/// imported history) as planned: every step whose time has passed, the new-invoice notice
/// of an invoice issued earlier today included, is late and not sent; later steps are
/// planned as usual.
pub async fn plan_invoice_history(store: &Store, now: DateTime<Utc>) -> StoreResult<usize> {
    let mut added = 0;
    loop {
        let n = plan_invoices(store, now, true).await?;
        if n == 0 {
            return Ok(added);
        }
        added += n;
    }
}

async fn plan_invoices(store: &Store, now: DateTime<Utc>, history: bool) -> StoreResult<usize> {
    let mut tenants: Vec<Tenant> = Vec::new();
    let mut added = 0;
    for inv in store.unplanned_invoices(500).await? {
        let tenant = match tenants.iter().find(|t| t.id == inv.tenant_id) {
            Some(t) => t.clone(),
            None => {
                let t = store.tenant(inv.tenant_id).await?;
                tenants.push(t.clone());
                t
            }
        };
        let n = &tenant.policy.notices;
        let today = tenant.timezone.local(now).date_naive();
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
        let mut steps = vec![(
            format!("invoice:new:{}", inv.id),
            "new",
            0,
            inv.issued_on,
            inv.issued_on < today
                || (history && tenant.timezone.instant(inv.issued_on, nine) < now),
        )];
        for k in 1..=n.invoice_overdue_max.max(0) {
            let day = inv.due_on + Duration::days(n.invoice_overdue_every_days * (k - 1) + 1);
            // An overdue step whose time has passed is not sent late (an invoice seen for
            // the first time long after its due date gets no burst of reminders).
            steps.push((
                format!("invoice:overdue:{}:{k}", inv.id),
                "overdue",
                k,
                day,
                tenant.timezone.instant(day, nine) < now,
            ));
        }
        let mut tx = store.begin().await?;
        for (key, step, k, day, late) in steps {
            let due = tenant.timezone.instant(day, nine).max(now);
            let job = NewJob {
                kind: "invoice_notice".into(),
                key,
                subject_id: Some(inv.id),
                subject_at: None,
                payload: json!({ "step": step, "n": k, "late": late }),
                due_at: due,
            };
            added += usize::from(tx.schedule_job(tenant.id, &job, now).await?);
        }
        tx.commit().await?;
    }
    Ok(added)
}

async fn invoice_notice(
    store: &Store,
    tenant: &Tenant,
    public_url: &str,
    j: &Job,
    now: DateTime<Utc>,
) -> StoreResult<Ran> {
    if j.payload["late"].as_bool() == Some(true) {
        return Ok(Ran::Skipped("planned after its day".into()));
    }
    let step = j.payload["step"].as_str().unwrap_or("new");
    let n = &tenant.policy.notices;
    let on = if step == "new" {
        n.invoice_new
    } else {
        n.invoice_overdue && j.payload["n"].as_i64().unwrap_or(1) <= n.invoice_overdue_max
    };
    if !on {
        return Ok(Ran::Skipped("invoice notice turned off".into()));
    }
    let Some(invoice_id) = j.subject_id else {
        return Ok(Ran::Skipped("no invoice".into()));
    };
    let Some(inv) = store.unpaid_invoice(tenant.id, invoice_id).await? else {
        return Ok(Ran::Skipped("invoice paid or void".into()));
    };
    let customer = store.customer(tenant.id, inv.customer_id).await?;
    let reach = reach(store, tenant, &customer, now).await?;
    if let Reach::Nobody(why) = reach {
        return Ok(Ran::Skipped(why.into()));
    }
    let lang = language(store, tenant, &customer).await?;
    let link = invoice_link(public_url, invoice_id);
    let (name, amount, topic) = if step == "new" {
        (
            "invoice_new",
            inv.amount_cents,
            match lang {
                Lang::En => "your invoice",
                Lang::Es => "su factura",
            },
        )
    } else {
        (
            "invoice_overdue",
            inv.balance_cents,
            match lang {
                Lang::En => "invoice past due",
                Lang::Es => "factura vencida",
            },
        )
    };
    let due = inv.due_on.format("%b %-d").to_string();
    let body = render(
        name,
        lang,
        &[
            ("tenant", &tenant.name),
            ("number", &inv.number),
            ("amount", &money(amount)),
            ("due", &due),
            ("link", &link),
        ],
    );
    let notice = Notice {
        purpose: if step == "new" {
            "invoice_new"
        } else {
            "invoice_overdue"
        },
        lang,
        topic,
        body,
        answerable: None,
        about: json!({ "invoice_id": invoice_id, "customer_id": inv.customer_id }),
    };
    finish_with(store, tenant, j, &reach, &notice, now).await
}

// ------------------------------------------------------------------------------------------
// Replies

/// What a customer's reply to a notice came to.
#[derive(Debug, Default)]
pub struct Answered {
    /// The reply to send (the turn needs no model).
    pub reply: Option<String>,
    /// An escalation the reply opened (its acknowledgement is the reply).
    pub escalated: Option<crate::agent::escalation::Escalated>,
    /// What the reply means, for the model ("R" → "I need to reschedule my appointment").
    pub means: Option<String>,
}

/// The short answers a notice invites, read from the customer's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Short {
    Confirm,
    Reschedule,
    Rating(i64),
    Other,
}

/// Read a short answer: `C`/`R` to a reminder, `1`–`5` to a survey.
pub fn short_answer(kind: &str, text: &str) -> Short {
    let t = text
        .trim()
        .trim_end_matches(['.', '!'])
        .trim()
        .to_lowercase();
    match kind {
        "reminder" => match t.as_str() {
            "c" | "confirm" | "confirmar" | "confirmo" => Short::Confirm,
            "r" | "reschedule" | "cambiar" | "reprogramar" => Short::Reschedule,
            _ => Short::Other,
        },
        "survey" => match t.parse::<i64>() {
            Ok(n) if (1..=5).contains(&n) => Short::Rating(n),
            _ => Short::Other,
        },
        _ => Short::Other,
    }
}

/// How every reminder ends (the templates end so), per language.
const REMINDER_ENDINGS: &[(&str, Lang)] = &[
    ("Reply C to confirm or R to reschedule", Lang::En),
    (
        "Responda C para confirmar o R para cambiar la cita",
        Lang::Es,
    ),
];

/// What "R" to a reminder asks for, in the reminder's language.
fn reschedule_request(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "I need to reschedule my appointment",
        Lang::Es => "Necesito cambiar mi cita",
    }
}

/// What a short reply means, read with the message it answers: "R" right after a reminder
/// is a request to reschedule. The transcript the model reads carries the meaning on every
/// later turn too, as a person reading the thread would take it.
pub fn meaning_of_reply(previous: &str, text: &str) -> Option<&'static str> {
    let previous = previous.trim_end();
    let (_, lang) = REMINDER_ENDINGS
        .iter()
        .find(|(ending, _)| previous.ends_with(ending))?;
    (short_answer("reminder", text) == Short::Reschedule).then(|| reschedule_request(*lang))
}

/// Answer a customer's message that follows a reminder or a survey, in the turn's first
/// transaction: `C` confirms the visit the reminder was about (status `confirmed`), `R`
/// becomes a reschedule request for the model, a rating is stored and a low one opens
/// `unhappy_customer`; anything else is a normal turn (the notice is in the conversation).
pub async fn answer(
    ctx: &mut crate::agent::tools::ToolCtx<'_>,
    notice: &Value,
) -> StoreResult<Answered> {
    let kind = notice["kind"].as_str().unwrap_or_default();
    let Some(appointment) = notice["appointment_id"].as_i64().map(AppointmentId) else {
        return Ok(Answered::default());
    };
    let lang = if ctx.spanish { Lang::Es } else { Lang::En };
    let tenant = ctx.tenant;
    let now = ctx.now;
    match short_answer(kind, ctx.customer_text) {
        Short::Other => Ok(Answered::default()),
        Short::Confirm => {
            let a = match ctx.store.appointment(tenant.id, appointment).await {
                Ok(a) => a,
                Err(StoreError::NotFound) => return Ok(Answered::default()),
                Err(e) => return Err(e),
            };
            if !a.status.is_open()
                || notice["window_start"].as_i64() != Some(a.window_start.timestamp())
            {
                // The visit moved or closed since the reminder: a person-like answer is
                // better than confirming something else.
                return Ok(Answered::default());
            }
            let changed = ctx
                .tx
                .set_appointment_status(
                    tenant.id,
                    appointment,
                    &[crate::domain::AppointmentStatus::Scheduled],
                    crate::domain::AppointmentStatus::Confirmed,
                    now,
                )
                .await?;
            if changed {
                ctx.tx
                    .emit_event(
                        tenant.id,
                        EventKind::AppointmentConfirmed,
                        json!({ "appointment_id": a.id, "customer_id": a.customer_id,
                                "conversation_id": ctx.conversation, "by": "customer" }),
                        now,
                    )
                    .await?;
            }
            let customer = ctx.store.customer(tenant.id, a.customer_id).await?;
            Ok(Answered {
                reply: Some(render(
                    "confirmed",
                    lang,
                    &[
                        ("first_name", &customer.first_name),
                        ("window", &window_text(tenant, &a, lang)),
                    ],
                )),
                ..Answered::default()
            })
        }
        Short::Reschedule => Ok(Answered {
            means: Some(reschedule_request(lang).into()),
            ..Answered::default()
        }),
        Short::Rating(rating) => {
            let a = ctx.store.appointment(tenant.id, appointment).await?;
            let new = ctx
                .tx
                .insert_survey_answer(tenant.id, appointment, a.customer_id, rating, now)
                .await?;
            if new {
                ctx.tx
                    .emit_event(
                        tenant.id,
                        EventKind::SurveyAnswered,
                        json!({ "appointment_id": a.id, "customer_id": a.customer_id, "rating": rating }),
                        now,
                    )
                    .await?;
            }
            let threshold = i64::from(tenant.policy.notices.survey_escalate_at_or_below);
            if new && rating <= threshold {
                let req = crate::agent::escalation::EscalationRequest {
                    reason: crate::domain::EscalationReason::UnhappyCustomer,
                    priority: None,
                    model_summary: format!(
                        "Rated the {} visit of {} {rating} out of 5 in the after-visit survey.",
                        a.service,
                        window_label(tenant.timezone, a.window_start, a.window_end)
                    ),
                };
                let e = crate::agent::tools::open_escalation(ctx, req).await?;
                return Ok(Answered {
                    reply: Some(e.acknowledgement.clone()),
                    escalated: Some(e),
                    ..Answered::default()
                });
            }
            let customer = ctx.store.customer(tenant.id, a.customer_id).await?;
            Ok(Answered {
                reply: Some(render(
                    "survey_thanks",
                    lang,
                    &[("first_name", &customer.first_name)],
                )),
                ..Answered::default()
            })
        }
    }
}

// ------------------------------------------------------------------------------------------
// Field events

/// What a technician reports about a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldUpdate {
    EnRoute {
        eta_minutes: i64,
    },
    Started,
    Paused {
        note: String,
    },
    Completed {
        findings: String,
        products: Vec<String>,
    },
}

impl FieldUpdate {
    pub fn kind(&self) -> &'static str {
        match self {
            FieldUpdate::EnRoute { .. } => "en_route",
            FieldUpdate::Started => "started",
            FieldUpdate::Paused { .. } => "paused",
            FieldUpdate::Completed { .. } => "completed",
        }
    }

    /// The statuses it may follow, and the status it leaves.
    fn transition(&self) -> (&'static [AppointmentStatus], AppointmentStatus) {
        use AppointmentStatus::*;
        match self {
            FieldUpdate::EnRoute { .. } => (&[Scheduled, Confirmed, EnRoute], EnRoute),
            FieldUpdate::Started => (&[Scheduled, Confirmed, EnRoute, InProgress], InProgress),
            FieldUpdate::Paused { .. } => (&[InProgress], InProgress),
            FieldUpdate::Completed { .. } => {
                (&[Scheduled, Confirmed, EnRoute, InProgress], Completed)
            }
        }
    }
}

/// Why a field update was refused.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    #[error("a visit that is {0} cannot be marked {1}")]
    InvalidTransition(AppointmentStatus, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a field update did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldOutcome {
    pub field_event_id: i64,
    pub status: AppointmentStatus,
    /// The customer's message was queued (the notice is on and the customer reachable).
    pub notified: bool,
    pub invoice_id: Option<crate::domain::InvoiceId>,
}

/// How many days a visit's invoice is due after completion.
const INVOICE_DUE_DAYS: i64 = 14;

/// Apply a technician's report in one transaction: the visit's status, the field event, its
/// audit entry and live event, on completion the service visit and its invoice, and the
/// customer's notice (on the way with the ETA, the pause note, or the summary with the
/// invoice link and the survey) when the tenant has it on.
pub async fn field_update(
    store: &Store,
    tenant: &Tenant,
    csr: &crate::store::Csr,
    id: AppointmentId,
    update: &FieldUpdate,
    public_url: &str,
    now: DateTime<Utc>,
) -> Result<FieldOutcome, FieldError> {
    let a = store.appointment(tenant.id, id).await?;
    let (from, to) = update.transition();
    if !from.contains(&a.status) {
        return Err(FieldError::InvalidTransition(a.status, update.kind()));
    }
    let customer = store.customer(tenant.id, a.customer_id).await?;
    let n = &tenant.policy.notices;
    let on = match update {
        FieldUpdate::EnRoute { .. } => n.en_route,
        FieldUpdate::Started => false,
        FieldUpdate::Paused { .. } => n.paused,
        FieldUpdate::Completed { .. } => n.completed,
    };
    let reach = if on {
        reach(store, tenant, &customer, now).await?
    } else {
        Reach::Nobody("notice turned off")
    };
    let lang = language(store, tenant, &customer).await?;
    let technician = a
        .technician
        .split_whitespace()
        .next()
        .unwrap_or("Your technician")
        .to_string();

    let mut tx = store.begin().await?;
    if !tx
        .set_appointment_status(tenant.id, id, from, to, now)
        .await?
    {
        // Changed since it was read: report what it is now.
        let current = store.appointment(tenant.id, id).await?;
        return Err(FieldError::InvalidTransition(current.status, update.kind()));
    }
    let (eta, note, findings, products) = match update {
        FieldUpdate::EnRoute { eta_minutes } => (Some(*eta_minutes), None, None, None),
        FieldUpdate::Started => (None, None, None, None),
        FieldUpdate::Paused { note } => (None, Some(note.as_str()), None, None),
        FieldUpdate::Completed { findings, products } => (
            None,
            None,
            Some(findings.as_str()),
            Some(products.join(", ")),
        ),
    };
    let event_id = tx
        .insert_field_event(
            tenant.id,
            id,
            update.kind(),
            eta,
            note,
            findings,
            products.as_deref(),
            now,
        )
        .await?;
    let mut invoice_id = None;
    if let FieldUpdate::Completed { findings, products } = update {
        tx.insert_visit(
            tenant.id,
            &crate::store::NewVisit {
                customer_id: a.customer_id,
                property_id: a.property_id,
                service_id: a.service_id,
                technician_id: a.technician_id,
                completed_at: now,
                notes: String::new(),
                findings: findings.clone(),
                products: products.clone(),
            },
        )
        .await?;
        let today = tenant.timezone.local(now).date_naive();
        let inv = tx
            .insert_invoice(
                tenant.id,
                &crate::store::NewInvoice {
                    customer_id: a.customer_id,
                    number: format!("INV-A{}", id.0),
                    amount_cents: a.price_cents,
                    balance_cents: a.price_cents,
                    issued_on: today,
                    due_on: today + Duration::days(INVOICE_DUE_DAYS),
                    status: crate::domain::InvoiceStatus::Open,
                },
            )
            .await?;
        // The completion message carries the invoice link: no separate "new invoice"
        // notice; the overdue reminders are planned as for any invoice.
        tx.schedule_job(
            tenant.id,
            &NewJob {
                kind: "invoice_notice".into(),
                key: format!("invoice:new:{}", inv.0),
                subject_id: Some(inv.0),
                subject_at: None,
                payload: json!({ "step": "new", "n": 0, "late": true, "covered_by": "completed" }),
                due_at: now,
            },
            now,
        )
        .await?;
        plan_overdue(
            &mut tx,
            tenant,
            inv.0,
            today + Duration::days(INVOICE_DUE_DAYS),
            now,
        )
        .await?;
        invoice_id = Some(inv);
    }
    let after = json!({ "status": to, "field_event": update.kind(), "eta_minutes": eta, "note": note,
                        "findings": findings, "products": products, "invoice_id": invoice_id });
    tx.audit_and_emit(
        tenant.id,
        &crate::store::csr_audit(
            csr,
            "appointment.status",
            "appointment",
            id,
            Some(json!({ "status": a.status })),
            Some(after.clone()),
            None,
        ),
        EventKind::FieldUpdate,
        json!({ "appointment_id": id, "customer_id": a.customer_id, "kind": update.kind(),
                "status": to, "field_event_id": event_id, "eta_minutes": eta, "note": note,
                "invoice_id": invoice_id, "actor": csr.label }),
        now,
    )
    .await?;
    let mut notified = false;
    let reachable = !matches!(reach, Reach::Nobody(_));
    if let (Some((name, extra, topic_en, topic_es, answerable)), true) =
        (notice_parts(update, public_url, invoice_id, id), reachable)
    {
        let vars_base = [
            ("tenant", tenant.name.clone()),
            ("technician", technician.clone()),
            ("service", a.service.clone()),
            ("first_name", customer.first_name.clone()),
        ];
        let vars: Vec<(&str, &str)> = vars_base
            .iter()
            .chain(extra.iter())
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let notice = Notice {
            purpose: match update {
                FieldUpdate::EnRoute { .. } => "en_route",
                FieldUpdate::Paused { .. } => "paused",
                _ => "completed",
            },
            lang,
            topic: match lang {
                Lang::En => topic_en,
                Lang::Es => topic_es,
            },
            body: render(name, lang, &vars),
            answerable,
            about: json!({ "appointment_id": id, "customer_id": a.customer_id }),
        };
        notified = write(&mut tx, tenant, &reach, &notice, now)
            .await?
            .is_some();
    }
    tx.commit().await?;
    Ok(FieldOutcome {
        field_event_id: event_id,
        status: to,
        notified,
        invoice_id,
    })
}

type NoticeParts = (
    &'static str,
    Vec<(&'static str, String)>,
    &'static str,
    &'static str,
    Option<Value>,
);

/// The template, its own values, the e-mail topics and what a reply answers, per update;
/// `started` sends nothing (the customer sees the technician at the door).
fn notice_parts(
    update: &FieldUpdate,
    public_url: &str,
    invoice_id: Option<crate::domain::InvoiceId>,
    id: AppointmentId,
) -> Option<NoticeParts> {
    Some(match update {
        FieldUpdate::EnRoute { eta_minutes } => (
            "en_route",
            vec![("eta", eta_minutes.to_string())],
            "your technician is on the way",
            "su técnico va en camino",
            None,
        ),
        FieldUpdate::Paused { note } => (
            "paused",
            vec![("note", note.clone())],
            "your visit is paused",
            "su visita está en pausa",
            None,
        ),
        FieldUpdate::Completed { findings, .. } => (
            "completed",
            vec![
                ("summary", summary(findings)),
                (
                    "link",
                    invoice_link(public_url, invoice_id.map_or(0, |i| i.0)),
                ),
            ],
            "your visit is done",
            "su visita terminó",
            Some(json!({ "kind": "survey", "appointment_id": id })),
        ),
        FieldUpdate::Started => return None,
    })
}

/// The findings, cut to fit a text message.
fn summary(findings: &str) -> String {
    let f = findings.trim();
    if f.chars().count() <= 160 {
        return f.to_string();
    }
    let cut: String = f.chars().take(157).collect();
    format!("{}…", cut.trim_end())
}

/// Plan an invoice's overdue reminders (used at completion, where the invoice is new).
async fn plan_overdue(
    tx: &mut Tx,
    tenant: &Tenant,
    invoice: i64,
    due_on: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let n = &tenant.policy.notices;
    let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
    for k in 1..=n.invoice_overdue_max.max(0) {
        let day = due_on + Duration::days(n.invoice_overdue_every_days * (k - 1) + 1);
        tx.schedule_job(
            tenant.id,
            &NewJob {
                kind: "invoice_notice".into(),
                key: format!("invoice:overdue:{invoice}:{k}"),
                subject_id: Some(invoice),
                subject_at: None,
                payload: json!({ "step": "overdue", "n": k, "late": false }),
                due_at: tenant.timezone.instant(day, nine).max(now),
            },
            now,
        )
        .await?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// What the agent may promise

/// What the customer will hear from us before a visit, in a short sentence — only what the
/// tenant has switched on (empty when nothing is): the agent promises reminders or
/// on-the-way texts from this, never from habit.
pub fn what_next(tenant: &Tenant, spanish: bool) -> String {
    let n = &tenant.policy.notices;
    match (
        n.reminder_day_before,
        n.reminder_morning_of,
        n.en_route,
        spanish,
    ) {
        (true, true, _, false) => "We'll text reminders the day before and that morning.".into(),
        (true, true, _, true) => "Le enviaremos recordatorios el día antes y esa mañana.".into(),
        (true, false, _, false) => "We'll text a reminder the day before.".into(),
        (true, false, _, true) => "Le enviaremos un recordatorio el día antes.".into(),
        (false, true, _, false) => "We'll text a reminder that morning.".into(),
        (false, true, _, true) => "Le enviaremos un recordatorio esa mañana.".into(),
        (false, false, true, false) => "We'll text when your technician is on the way.".into(),
        (false, false, true, true) => "Le avisaremos cuando su técnico vaya en camino.".into(),
        (false, false, false, _) => String::new(),
    }
}
