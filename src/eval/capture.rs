//! Turns a stored conversation into a draft scenario: the customer's messages become the
//! turns, the clock is the first message's time, and what the records say now (escalation,
//! moved or booked visits, identity, opt-out) becomes the draft expectations. A QA engineer
//! reviews the draft, adds the facts the agent must say, and commits it.

use std::fmt::Write as _;

use crate::domain::{Channel, ConversationId, Direction, PhoneE164};
use crate::store::Store;

use super::scenario::NAMED_CUSTOMERS;

/// The scenario TOML for conversation `id` of tenant `tenant_slug`.
pub async fn capture(
    store: &Store,
    tenant_slug: &str,
    id: ConversationId,
) -> anyhow::Result<String> {
    let tenant = store
        .tenant_by_slug(tenant_slug)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant with slug `{tenant_slug}`"))?;
    let t = tenant.id;
    let conv = store
        .conversation(t, id)
        .await
        .map_err(|_| anyhow::anyhow!("no conversation #{id} in `{tenant_slug}`"))?;
    let messages = store.messages(t, id).await?;
    let turns: Vec<&str> = messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound && m.author == "customer")
        .map(|m| m.text.as_str())
        .collect();
    if turns.is_empty() {
        anyhow::bail!("conversation #{id} has no customer messages");
    }
    let clock = messages
        .first()
        .map(|m| crate::record::local(tenant.timezone, m.at).to_rfc3339())
        .unwrap_or_default();
    let calls = store.tool_calls(t, id).await?;
    let escalations = store.escalations_of_conversation(t, id).await?;
    let customer = match conv.customer_id {
        Some(c) => Some(store.customer(t, c).await?),
        None => None,
    };
    let named = customer.as_ref().and_then(|c| {
        let key = c.name.to_lowercase().replace(' ', "_");
        NAMED_CUSTOMERS.contains(&key.as_str()).then_some(key)
    });

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Captured from conversation #{id} ({}, {}). Review the expectations before committing.",
        conv.channel, tenant_slug
    );
    let _ = writeln!(out, "id = {}", q(&format!("captured-{id}")));
    let _ = writeln!(
        out,
        "title = {}",
        q(&format!("Captured {} conversation #{id}", conv.channel))
    );
    let _ = writeln!(out, "tags = [\"captured\", {}]", q(conv.channel.as_str()));
    let _ = writeln!(out, "world = \"demo\"");
    let _ = writeln!(out, "clock = {}", q(&clock));
    // The caller: a demo hard case by name, else the phone on the conversation.
    let mut channel = conv.channel;
    let caller = match (&named, conv.channel) {
        (Some(n), _) => format!("{{ customer = {} }}", q(n)),
        (None, Channel::Chat) => {
            let phone = customer.as_ref().and_then(|c| c.phones.first().cloned());
            match phone {
                Some(p) => {
                    let _ = writeln!(
                        out,
                        "# The portal customer is not a demo hard case: replayed as an SMS from their phone."
                    );
                    channel = Channel::Sms;
                    format!("{{ phone = {} }}", q(p.as_str()))
                }
                None => anyhow::bail!(
                    "conversation #{id} is a portal chat of a customer who is not a demo hard case and has no phone"
                ),
            }
        }
        (None, _) => {
            let p = PhoneE164::parse(conv.reach())
                .map_err(|_| anyhow::anyhow!("conversation #{id} has no caller number"))?;
            format!("{{ phone = {} }}", q(p.as_str()))
        }
    };
    let _ = writeln!(out, "channel = {}", q(channel.as_str()));
    let _ = writeln!(out, "caller = {caller}");
    let _ = writeln!(out, "max_turns = {}", turns.len().max(1));
    out.push_str("turns = [\n");
    for turn in &turns {
        let _ = writeln!(out, "  {},", q(turn));
    }
    out.push_str("]\n\n[expect]\n");
    let _ = writeln!(out, "identity = {}", q(conv.identity_level.as_str()));
    match escalations.first() {
        Some(e) => {
            let _ = writeln!(
                out,
                "escalation = {{ reason = {}, priority = {} }}",
                q(e.reason.as_str()),
                q(e.priority.as_str())
            );
        }
        None => out.push_str("no_escalation = true\n"),
    }
    let wrote = calls
        .iter()
        .any(|c| c.decision == "allowed" && super::runner::WRITE_TOOLS.contains(&c.tool.as_str()));
    if !wrote {
        out.push_str("no_writes = true\n");
    }
    if let Ok(p) = PhoneE164::parse(conv.reach()) {
        if conv.channel == Channel::Sms && store.opted_out(t, &p).await?.is_some() {
            out.push_str("opted_out = true\n");
        }
    }
    let rules: Vec<String> = calls
        .iter()
        .filter(|c| c.decision == "refused")
        .map(|c| q(&c.rule))
        .collect();
    if !rules.is_empty() {
        let _ = writeln!(out, "rules = [{}]", rules.join(", "));
    }
    out.push_str("# Facts the agent must communicate, e.g. says = [\"tuesday\", [\"$69\", \"69 dollars\"]]\nsays = []\n");
    out.push_str("never = [\"write_without_confirmation\", \"disclose_before_verification\", \"claims_success_after_refusal\"]\n");

    for c in calls.iter().filter(|c| c.decision == "allowed") {
        match (c.tool.as_str(), &named) {
            ("reschedule_appointment", Some(n)) => {
                let aid = c.arguments.get("appointment_id").and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                });
                let appts = match conv.customer_id {
                    Some(cid) => store.appointments(t, cid).await?,
                    None => Vec::new(),
                };
                if let Some(a) = appts.iter().find(|a| Some(a.id.0) == aid) {
                    let local = tenant.timezone.local(a.window_start);
                    let _ = writeln!(
                        out,
                        "\n[[expect.appointments]]\ncustomer = {}\ndate = {}\npart_of_day = {}",
                        q(n),
                        local.format("%Y-%m-%d"),
                        q(if chrono::Timelike::hour(&local) < 12 {
                            "morning"
                        } else {
                            "afternoon"
                        })
                    );
                }
            }
            ("book_service", Some(n)) => {
                if let Some(code) = c.arguments.get("service_code").and_then(|v| v.as_str()) {
                    let _ = writeln!(
                        out,
                        "\n[[expect.bookings]]\ncustomer = {}\nservice = {}",
                        q(n),
                        q(code)
                    );
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_strings_parse_back_as_toml() {
        let nasty = "he said \"hi\"\\ then\nleft\t\u{1}ok";
        let doc = format!("x = {}", super::q(nasty));
        let v: toml::Table = toml::from_str(&doc).expect("valid toml");
        assert_eq!(v.get("x").and_then(|x| x.as_str()), Some(nasty));
    }
}
