//! SMS text rules: how many segments a reply costs, how to shorten a reply to fit a budget,
//! and the compliance keywords (STOP, START, HELP) carriers require every sender to honour.
//!
//! A message is GSM-7 when every character is in the GSM 03.38 basic or extension table
//! (extension characters take two septets): 160 septets in one segment, 153 per part when
//! split. Any other character makes the whole message UCS-2: 70 UTF-16 code units, 67 per
//! part, an emoji outside the BMP taking two. A part never ends in the middle of a character.

/// Twilio refuses message bodies longer than this many characters.
pub const MAX_SMS_CHARS: usize = 1600;

/// How a message is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// The cost of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    pub encoding: Encoding,
    /// Segments billed; `0` for an empty text.
    pub segments: usize,
    /// Characters (Unicode scalar values) in the text.
    pub chars: usize,
    /// Units counted against the limit: septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
}

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Septets a character takes in GSM-7, or `None` when GSM-7 cannot carry it.
fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Count the segments `text` costs.
pub fn segments(text: &str) -> SegmentInfo {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm_septets).collect();
    let (encoding, widths, single, part) = match gsm {
        Some(widths) => (Encoding::Gsm7, widths, 160, 153),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let units: usize = widths.iter().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        // Fill parts in order; a character that does not fit whole starts the next part.
        let mut count = 1;
        let mut used = 0;
        for w in widths {
            if used + w > part {
                count += 1;
                used = 0;
            }
            used += w;
        }
        count
    };
    SegmentInfo {
        encoding,
        segments,
        chars: text.chars().count(),
        units,
    }
}

fn fits(text: &str, max_segments: usize) -> bool {
    let info = segments(text);
    info.segments <= max_segments && info.chars <= MAX_SMS_CHARS
}

/// The text with each character GSM-7 cannot carry replaced by the closest one it can, where
/// there is one (Spanish `á í ó ú`, typographic dashes, quotes and ellipses, a no-break
/// space): a single such letter would otherwise turn the whole message into UCS-2, whose
/// segments hold 67 characters instead of 153 (texting Spanish without those accents is
/// ordinary). Characters without a close GSM-7 stand-in (emoji, other scripts) stay.
pub fn fold_to_gsm(text: &str) -> std::borrow::Cow<'_, str> {
    fn stand_in(c: char) -> Option<&'static str> {
        Some(match c {
            'á' | 'â' | 'ã' => "a",
            'Á' | 'À' | 'Â' | 'Ã' => "A",
            'í' | 'î' | 'ï' => "i",
            'Í' | 'Ì' | 'Î' | 'Ï' => "I",
            'ó' | 'ô' | 'õ' => "o",
            'Ó' | 'Ò' | 'Ô' | 'Õ' => "O",
            'ú' | 'û' => "u",
            'Ú' | 'Ù' | 'Û' => "U",
            'ê' | 'ë' => "e",
            'È' | 'Ê' | 'Ë' => "E",
            'ç' => "c",
            '–' | '—' | '‐' | '−' => "-",
            '‘' | '’' | '‚' | '′' => "'",
            '“' | '”' | '„' | '″' => "\"",
            '…' => "...",
            '\u{a0}' | '\u{2009}' | '\u{202f}' => " ",
            _ => return None,
        })
    }
    if text.chars().all(|c| stand_in(c).is_none()) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match stand_in(c) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Shorten `text` to at most `max_segments` segments and [`MAX_SMS_CHARS`] characters.
/// Text that fits comes back unchanged. Otherwise the cut falls, in order of preference, at
/// the end of a sentence (or line) in the second half of what fits, at a space in the second
/// half, or between two characters (never splitting one, nor a combining mark, joiner or
/// variation selector from the character before it). A cut inside a sentence ends in `…` when
/// that still fits without changing the encoding; a GSM-7 text is never pushed into UCS-2
/// just to carry the ellipsis.
pub fn fit_sms(text: &str, max_segments: usize) -> String {
    if max_segments == 0 {
        return String::new();
    }
    let folded = fold_to_gsm(text);
    let text = folded.as_ref();
    if fits(text, max_segments) {
        return text.to_string();
    }
    // Byte offsets of every character boundary up to the character limit, end included.
    let mut bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .take(MAX_SMS_CHARS + 1)
        .collect();
    if bounds.len() <= MAX_SMS_CHARS {
        bounds.push(text.len());
    }
    // The longest prefix that fits (prefix cost only grows with length): binary search.
    let (mut lo, mut hi) = (0, bounds.len() - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(&text[..bounds[mid]], max_segments) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let room = &text[..bounds[lo]];
    let encoding = segments(room).encoding;

    if let Some(end) = sentence_cut(room) {
        return room[..end].trim_end().to_string();
    }
    let cut = word_cut(room).unwrap_or_else(|| clean_cut(text, room.len()));
    let kept = text[..cut].trim_end();
    let with_ellipsis = format!("{kept}…");
    if !kept.is_empty()
        && segments(&with_ellipsis).encoding == encoding
        && fits(&with_ellipsis, max_segments)
    {
        return with_ellipsis;
    }
    if encoding == Encoding::Ucs2 {
        // Make room for the ellipsis by dropping one more word (or character).
        let last = kept.chars().next_back().map_or(0, char::len_utf8);
        let shorter = word_cut(kept).unwrap_or_else(|| clean_cut(text, kept.len() - last));
        let shorter = text[..shorter].trim_end();
        let with_ellipsis = format!("{shorter}…");
        if !shorter.is_empty() && fits(&with_ellipsis, max_segments) {
            return with_ellipsis;
        }
    }
    kept.to_string()
}

/// The end of the last sentence (after `.`, `!`, `?`, or at a line break) that lies in the
/// second half of `room`.
fn sentence_cut(room: &str) -> Option<usize> {
    let half = room.len() / 2;
    let mut best = None;
    let mut prev: Option<char> = None;
    for (i, c) in room.char_indices() {
        if c.is_whitespace() && matches!(prev, Some('.' | '!' | '?' | '…')) && i >= half {
            best = Some(i);
        }
        if c == '\n' && i >= half {
            best = Some(i);
        }
        prev = Some(c);
    }
    best
}

/// The last space in the second half of `room`.
fn word_cut(room: &str) -> Option<usize> {
    let half = room.len() / 2;
    room.char_indices()
        .rev()
        .take_while(|(i, _)| *i >= half)
        .find(|(_, c)| c.is_whitespace())
        .map(|(i, _)| i)
}

/// `end` (a character boundary of `text`) moved back until no combining mark, joiner or
/// variation selector is separated from the character it belongs to.
fn clean_cut(text: &str, mut end: usize) -> usize {
    while end > 0 {
        let next = text[end..].chars().next();
        let before = text[..end].chars().next_back();
        if next.is_some_and(is_extender) || before == Some('\u{200D}') {
            end -= before.map_or(1, char::len_utf8);
        } else {
            break;
        }
    }
    end
}

/// Characters that belong to the character before them.
fn is_extender(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'      // combining diacritical marks
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{200D}'                 // zero-width joiner
        | '\u{FE00}'..='\u{FE0F}'    // variation selectors
        | '\u{1F3FB}'..='\u{1F3FF}'  // skin tones
        | '\u{E0020}'..='\u{E007F}') // tag characters (flags)
}

/// A carrier compliance keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// STOP and its synonyms: never message this number again until it opts back in.
    OptOut,
    /// START, YES, UNSTOP. `YES` is also the ordinary answer to a question, so an opt-in
    /// only means something for a number that is opted out; otherwise treat it as text.
    OptIn,
    /// HELP, INFO: answer with who is texting and how to stop.
    Help,
}

/// Classify a message that is a single keyword; anything else (including "cancel my
/// appointment") is `None`. Case and surrounding whitespace and punctuation are ignored.
pub fn keyword(body: &str) -> Option<Keyword> {
    let word = body.trim_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() || word.len() > 16 || word.chars().any(|c| !c.is_ascii_alphabetic()) {
        return None;
    }
    match word.to_ascii_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "REVOKE" | "OPTOUT" => {
            Some(Keyword::OptOut)
        }
        "START" | "YES" | "UNSTOP" => Some(Keyword::OptIn),
        "HELP" | "INFO" => Some(Keyword::Help),
        _ => None,
    }
}

/// The form Twilio posts for an inbound SMS (the fields frontdesk reads), as a load
/// generator or a test sends it.
pub fn inbound_form(message_sid: &str, from: &str, to: &str, body: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("Body", body),
        ("From", from),
        ("MessageSid", message_sid),
        ("NumMedia", "0"),
        ("To", to),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_accents_fold_to_gsm_and_keep_two_segments() {
        let es = "¿Cambio su visita del jue 3 de dic, 8 AM-12 PM al mié 9 de dic, 12 PM-4 PM? \
                  Responda SÍ para confirmar o dígame qué otro día le queda mejor. También \
                  puedo ofrecerle otros horarios de la próxima semana.";
        assert_eq!(
            segments(es).encoding,
            Encoding::Ucs2,
            "the sample needs UCS-2 as written"
        );
        let folded = fold_to_gsm(es);
        let info = segments(&folded);
        assert_eq!(info.encoding, Encoding::Gsm7, "{folded}");
        assert!(
            folded.contains("Responda SI")
                && folded.contains("¿")
                && folded.contains("ñ") == es.contains('ñ')
        );
        // Sent whole, not cut: it fits two GSM-7 segments once folded.
        assert_eq!(fit_sms(es, 2), folded);
        // Emoji have no stand-in: the text stays UCS-2.
        assert_eq!(
            segments(&fold_to_gsm("ants 🐜 again")).encoding,
            Encoding::Ucs2
        );
        assert!(matches!(
            fold_to_gsm("plain text"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    fn check(text: &str, encoding: Encoding, segs: usize, units: usize) {
        let info = segments(text);
        assert_eq!(
            (info.encoding, info.segments, info.units),
            (encoding, segs, units),
            "text {text:?}"
        );
    }

    #[test]
    fn gsm7_segments() {
        use Encoding::Gsm7;
        check("", Gsm7, 0, 0);
        check("Hello", Gsm7, 1, 5);
        check(&"a".repeat(160), Gsm7, 1, 160);
        check(&"a".repeat(161), Gsm7, 2, 161);
        check(&"a".repeat(306), Gsm7, 2, 306);
        check(&"a".repeat(307), Gsm7, 3, 307);
        check("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", Gsm7, 1, 42);
        check("{}[]~|^€\\", Gsm7, 1, 18);
        check(&"€".repeat(80), Gsm7, 1, 160);
        check(&"€".repeat(81), Gsm7, 2, 162);
        // 152 septets then an extension character: it cannot straddle two parts.
        let straddle = format!("{}{}{}", "a".repeat(152), "€", "a".repeat(10));
        check(&straddle, Gsm7, 2, 164);
        let straddle = format!("{}{}", "a".repeat(152), "€".repeat(77));
        check(&straddle, Gsm7, 3, 306);
    }

    #[test]
    fn ucs2_segments() {
        use Encoding::Ucs2;
        check("café ☕", Ucs2, 1, 6);
        check("`", Ucs2, 1, 1);
        check("ç", Ucs2, 1, 1); // lowercase ç is not GSM-7 (only Ç is)
        check("🐜", Ucs2, 1, 2);
        check(&"ê".repeat(69), Ucs2, 1, 69);
        check(&"ê".repeat(70), Ucs2, 1, 70);
        check(&"ê".repeat(71), Ucs2, 2, 71);
        check(&"ê".repeat(134), Ucs2, 2, 134);
        check(&"ê".repeat(135), Ucs2, 3, 135);
        check(&"🐜".repeat(35), Ucs2, 1, 70);
        check(&"🐜".repeat(36), Ucs2, 2, 72);
        // 66 units then an emoji: the surrogate pair moves whole into part two.
        let straddle = format!("{}🐜{}", "ê".repeat(66), "ê".repeat(10));
        check(&straddle, Ucs2, 2, 78);
        // One non-GSM character switches the whole message.
        check(&format!("{}ê", "a".repeat(100)), Ucs2, 2, 101);
        assert_eq!(segments("a🐜b").chars, 3);
    }

    #[test]
    fn fitting_leaves_short_text_alone() {
        assert_eq!(
            fit_sms("Your visit is Tuesday.", 1),
            "Your visit is Tuesday."
        );
        assert_eq!(fit_sms("", 2), "");
        assert_eq!(fit_sms("anything", 0), "");
    }

    #[test]
    fn fitting_prefers_sentence_ends() {
        let text = format!(
            "{} We will call you tomorrow morning. {}",
            "a".repeat(120),
            "b ".repeat(50)
        );
        let fitted = fit_sms(&text, 1);
        assert_eq!(
            fitted,
            format!("{} We will call you tomorrow morning.", "a".repeat(120))
        );
        assert!(fits(&fitted, 1));
    }

    #[test]
    fn fitting_cuts_gsm_at_a_word_without_switching_to_ucs2() {
        let text = "word ".repeat(100);
        let fitted = fit_sms(&text, 1);
        assert_eq!(fitted, "word ".repeat(32).trim_end());
        assert_eq!(segments(&fitted).encoding, Encoding::Gsm7);
    }

    #[test]
    fn fitting_ucs2_adds_an_ellipsis_at_a_word_cut() {
        // `ĉ` has no GSM-7 stand-in: the text stays UCS-2.
        let text = "ĉambro ".repeat(40);
        let fitted = fit_sms(&text, 1);
        assert!(fitted.ends_with("ĉambro…"), "{fitted:?}");
        assert!(fits(&fitted, 1), "{fitted:?}");
        assert!(segments(&fitted).units >= 60, "cut too much: {fitted:?}");
    }

    #[test]
    fn fitting_never_splits_a_character_or_emoji_sequence() {
        let family = "👨\u{200D}👩\u{200D}👧";
        let text = family.repeat(40);
        let fitted = fit_sms(&text, 1);
        assert!(fits(&fitted, 1));
        assert!(!fitted.ends_with('\u{200D}'), "{fitted:?}");
        let base = fitted.trim_end_matches('…');
        assert!(base.ends_with('👧'), "{fitted:?}");

        let accents = "e\u{0301}".repeat(100);
        let fitted = fit_sms(&accents, 1);
        assert!(fits(&fitted, 1));
        assert!(
            fitted.trim_end_matches('…').ends_with('\u{0301}'),
            "{fitted:?}"
        );
    }

    #[test]
    fn fitting_respects_the_character_limit() {
        let text = "a ".repeat(2000);
        let fitted = fit_sms(&text, 20);
        assert!(segments(&fitted).chars <= MAX_SMS_CHARS);
        assert!(segments(&fitted).chars > MAX_SMS_CHARS - 4);
    }

    #[test]
    fn fitting_odd_inputs_never_panics_and_always_fits() {
        let inputs = [
            "x".repeat(5000),
            "🐜".repeat(500),
            "\u{0301}".repeat(300),
            "\u{200D}".repeat(300),
            ". ".repeat(400),
            "\n".repeat(400),
            "€".repeat(400),
            format!("{}{}", "a".repeat(159), "🐜"),
            " ".repeat(500),
            "a\u{0}b".repeat(300),
        ];
        for text in &inputs {
            for max in [1, 2, 3, 10] {
                let fitted = fit_sms(text, max);
                assert!(fits(&fitted, max), "max {max} text {text:?} -> {fitted:?}");
                assert!(text.starts_with(fitted.trim_end_matches('…')));
            }
        }
    }

    #[test]
    fn keywords() {
        let table: &[(&str, Option<Keyword>)] = &[
            ("STOP", Some(Keyword::OptOut)),
            ("stop", Some(Keyword::OptOut)),
            ("  Stop.  ", Some(Keyword::OptOut)),
            ("STOP!!!", Some(Keyword::OptOut)),
            ("\"stop\"", Some(Keyword::OptOut)),
            ("¡Stop!", Some(Keyword::OptOut)),
            ("stopall", Some(Keyword::OptOut)),
            ("Unsubscribe", Some(Keyword::OptOut)),
            ("cancel", Some(Keyword::OptOut)),
            ("END", Some(Keyword::OptOut)),
            ("quit", Some(Keyword::OptOut)),
            ("revoke", Some(Keyword::OptOut)),
            ("optout", Some(Keyword::OptOut)),
            ("start", Some(Keyword::OptIn)),
            ("Yes", Some(Keyword::OptIn)),
            ("yes!", Some(Keyword::OptIn)),
            ("UNSTOP", Some(Keyword::OptIn)),
            ("help", Some(Keyword::Help)),
            ("Help?", Some(Keyword::Help)),
            ("info", Some(Keyword::Help)),
            ("cancel my appointment", None),
            ("please stop", None),
            ("stop texting me", None),
            ("yes please", None),
            ("help me", None),
            ("opt out", None),
            ("opt-out", None),
            ("stopp", None),
            ("st0p", None),
            ("ＳＴＯＰ", None),
            ("", None),
            ("   ", None),
            ("!!!", None),
            ("🐜", None),
            ("stop\u{0}", Some(Keyword::OptOut)),
        ];
        for (body, expected) in table {
            assert_eq!(keyword(body), *expected, "body {body:?}");
        }
    }
}
