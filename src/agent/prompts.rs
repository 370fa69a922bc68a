//! Prompt templates from `prompts/`, compiled in and rendered with `{{key}}` placeholders.
//! One system prompt, a style paragraph per channel, and the emergency safety guidance.

use crate::domain::Channel;

const SYSTEM: &str = include_str!("../../prompts/system.md");
const SMS: &str = include_str!("../../prompts/sms.md");
const VOICE: &str = include_str!("../../prompts/voice.md");
const CHAT: &str = include_str!("../../prompts/chat.md");
const SAFETY: &str = include_str!("../../prompts/safety.md");

pub fn channel_style(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms | Channel::Api => SMS,
        Channel::Voice => VOICE,
        Channel::Chat => CHAT,
    }
}

pub fn safety_guidance() -> &'static str {
    SAFETY.trim()
}

/// Replace every `{{key}}` with its value; unknown placeholders are left visible so a
/// reviewer notices them.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

pub fn system_prompt(vars: &[(&str, &str)]) -> String {
    render(SYSTEM, vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder_of_the_system_prompt() {
        let keys = [
            "company",
            "channel",
            "now",
            "timezone",
            "hours",
            "identity",
            "channel_style",
        ];
        let vars: Vec<(&str, &str)> = keys.iter().map(|k| (*k, "X")).collect();
        let out = system_prompt(&vars);
        assert!(!out.contains("{{"), "unrendered placeholder in: {out}");
        assert!(render("a {{b}} {{c}}", &[("b", "1")]).contains("{{c}}"));
    }
}
