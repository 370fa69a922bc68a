//! Dates and times said the Spanish way: a window label "Thu Dec 3, 8 AM–12 PM" becomes
//! "jueves 3 de diciembre, 8–12 h".

const DAYS: &[(&str, &str)] = &[
    ("Mon", "lunes"),
    ("Tue", "martes"),
    ("Wed", "miércoles"),
    ("Thu", "jueves"),
    ("Fri", "viernes"),
    ("Sat", "sábado"),
    ("Sun", "domingo"),
];

const MONTHS: &[(&str, &str)] = &[
    ("Jan", "enero"),
    ("Feb", "febrero"),
    ("Mar", "marzo"),
    ("Apr", "abril"),
    ("May", "mayo"),
    ("Jun", "junio"),
    ("Jul", "julio"),
    ("Aug", "agosto"),
    ("Sep", "septiembre"),
    ("Oct", "octubre"),
    ("Nov", "noviembre"),
    ("Dec", "diciembre"),
];

fn find(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// "12 PM" → "12", "4 PM" → "16", "8:30 AM" → "8:30".
fn hour_24(t: &str) -> Option<String> {
    let (clock, ampm) = t.trim().split_once(' ')?;
    let (h, m) = match clock.split_once(':') {
        Some((h, m)) => (h.parse::<u32>().ok()?, Some(m)),
        None => (clock.parse::<u32>().ok()?, None),
    };
    let h = match (ampm, h) {
        ("AM", 12) => 0,
        ("AM", h) => h,
        ("PM", 12) => 12,
        ("PM", h) => h + 12,
        _ => return None,
    };
    Some(match m {
        Some(m) => format!("{h}:{m}"),
        None => h.to_string(),
    })
}

/// A window label in Spanish; anything not in the label format is returned unchanged.
pub fn window_es(label: &str) -> String {
    convert(label).unwrap_or_else(|| label.to_string())
}

fn convert(label: &str) -> Option<String> {
    let (date, times) = label.split_once(", ")?;
    let mut parts = date.split_whitespace();
    let (wd, mon, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let wd = find(DAYS, wd)?;
    let mon = find(MONTHS, mon)?;
    let day: u32 = day.parse().ok()?;
    // Labels are written with a hyphen; older ones (and texts quoting them) with an en dash.
    let (a, b) = times.split_once(['-', '–'])?;
    Some(format!(
        "{wd} {day} de {mon}, {}–{} h",
        hour_24(a)?,
        hour_24(b)?
    ))
}

/// Every window label inside `text` put in Spanish (for texts built from English labels).
pub fn dates_es(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (abbr, _) in DAYS {
            if rest.starts_with(abbr) {
                // The label ends after the second "AM"/"PM".
                let mut seen = 0;
                let mut end = None;
                for (i, _) in rest.char_indices() {
                    if rest[i..].starts_with("AM") || rest[i..].starts_with("PM") {
                        seen += 1;
                        if seen == 2 {
                            end = Some(i + 2);
                            break;
                        }
                    }
                    if i > 40 {
                        break;
                    }
                }
                if let Some(end) = end {
                    if let Some(es) = convert(&rest[..end]) {
                        out.push_str(&es);
                        rest = &rest[end..];
                        continue 'outer;
                    }
                }
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_replies_carry_spanish_dates() {
        assert_eq!(
            window_es("Thu Dec 3, 8 AM–12 PM"),
            "jueves 3 de diciembre, 8–12 h"
        );
        assert_eq!(
            window_es("Tue Mar 10, 12 PM–4 PM"),
            "martes 10 de marzo, 12–16 h"
        );
        assert_eq!(
            window_es("Tue Mar 10, 12 PM-4 PM"),
            "martes 10 de marzo, 12–16 h"
        );
        assert_eq!(
            dates_es("del Mon Mar 9, 8 AM–12 PM al Tue Mar 10, 12 PM–4 PM?"),
            "del lunes 9 de marzo, 8–12 h al martes 10 de marzo, 12–16 h?"
        );
        assert_eq!(window_es("not a label"), "not a label");
    }
}
