//! A small phrase language for matching normalised tokens, so the cue tables elsewhere read
//! like the messages they describe.
//!
//! A pattern is a space-separated list of elements:
//! - `word` matches a token whose normalised form is `word`; `word*` matches a prefix;
//! - `a|b|c` matches any of the alternatives; `@name` matches a named word class;
//! - a trailing `?` makes an element optional;
//! - `~` skips up to three words (`~5` up to five) without crossing a clause break;
//! - `#` matches a number; `$` matches the end of a clause without consuming anything.

use super::normalize::{Token, TokenKind};

#[derive(Debug, Clone)]
enum Atom {
    Word(&'static str),
    Prefix(&'static str),
}

#[derive(Debug, Clone)]
enum Elem {
    Words { alts: Vec<Atom>, optional: bool },
    Gap(usize),
    Number { optional: bool },
    End,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    elems: Vec<Elem>,
}

/// Named word classes for `@name`.
fn class(name: &str) -> &'static [&'static str] {
    match name {
        "appt" => &[
            "appointment",
            "appointments",
            "visit",
            "visits",
            "service",
            "services",
            "treatment",
            "treatments",
            "booking",
            "spray",
            "inspection",
            "cita",
            "citas",
            "servicio",
            "visita",
        ],
        "tech" => &[
            "tech",
            "technician",
            "technicians",
            "guy",
            "guys",
            "exterminator",
            "exterminators",
            "someone",
            "somebody",
            "they",
            "he",
            "she",
            "worker",
            "crew",
            "pest",
            "bug",
            "tecnico",
        ],
        "weekday" => &[
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
            "lunes",
            "martes",
            "miercoles",
            "jueves",
            "viernes",
            "sabado",
            "domingo",
        ],
        _ => &[],
    }
}

impl Pattern {
    pub fn parse(src: &'static str) -> Pattern {
        let mut elems = Vec::new();
        for part in src.split_whitespace() {
            if let Some(rest) = part.strip_prefix('~') {
                elems.push(Elem::Gap(rest.parse().unwrap_or(3)));
                continue;
            }
            if part == "$" {
                elems.push(Elem::End);
                continue;
            }
            let (body, optional) = match part.strip_suffix('?') {
                Some(b) if !b.is_empty() => (b, true),
                _ => (part, false),
            };
            if body == "#" {
                elems.push(Elem::Number { optional });
                continue;
            }
            let mut alts = Vec::new();
            for alt in body.split('|') {
                if let Some(name) = alt.strip_prefix('@') {
                    alts.extend(class(name).iter().map(|w| Atom::Word(w)));
                } else if let Some(p) = alt.strip_suffix('*').filter(|p| !p.is_empty()) {
                    alts.push(Atom::Prefix(p));
                } else {
                    alts.push(Atom::Word(alt));
                }
            }
            elems.push(Elem::Words { alts, optional });
        }
        Pattern { elems }
    }

    /// The literal words of the pattern (for checking they survive normalisation).
    #[cfg(test)]
    pub fn words(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for e in &self.elems {
            if let Elem::Words { alts, .. } = e {
                for a in alts {
                    if let Atom::Word(w) = a {
                        out.push(*w);
                    }
                }
            }
        }
        out
    }

    /// The end of a match starting at `start`, if there is one.
    pub fn match_at(&self, toks: &[Token], start: usize) -> Option<usize> {
        match_from(&self.elems, toks, start)
    }

    /// Every non-overlapping match, left to right, as `(start, end)`.
    pub fn find_all(&self, toks: &[Token]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            match self.match_at(toks, i) {
                Some(end) if end > i => {
                    out.push((i, end));
                    i = end;
                }
                _ => i += 1,
            }
        }
        out
    }

    /// The first match, as `(start, end)`.
    pub fn find(&self, toks: &[Token]) -> Option<(usize, usize)> {
        (0..toks.len()).find_map(|i| {
            self.match_at(toks, i)
                .filter(|&end| end > i)
                .map(|end| (i, end))
        })
    }
}

fn atom_matches(alts: &[Atom], tok: &Token) -> bool {
    if tok.kind == TokenKind::Punct && tok.is_clause_break() {
        return false;
    }
    alts.iter().any(|a| match a {
        Atom::Word(w) => tok.norm == *w,
        Atom::Prefix(p) => tok.kind == TokenKind::Word && tok.norm.starts_with(p),
    })
}

fn match_from(elems: &[Elem], toks: &[Token], i: usize) -> Option<usize> {
    let Some((first, rest)) = elems.split_first() else {
        return Some(i);
    };
    match first {
        Elem::Words { alts, optional } => {
            if toks.get(i).is_some_and(|t| atom_matches(alts, t)) {
                if let Some(end) = match_from(rest, toks, i + 1) {
                    return Some(end);
                }
            }
            if *optional {
                match_from(rest, toks, i)
            } else {
                None
            }
        }
        Elem::Number { optional } => {
            if toks.get(i).is_some_and(|t| t.is_number()) {
                if let Some(end) = match_from(rest, toks, i + 1) {
                    return Some(end);
                }
            }
            if *optional {
                match_from(rest, toks, i)
            } else {
                None
            }
        }
        Elem::Gap(max) => {
            for skip in 0..=*max {
                if skip > 0 {
                    match toks.get(i + skip - 1) {
                        Some(t) if !t.is_clause_break() => {}
                        _ => break,
                    }
                }
                if let Some(end) = match_from(rest, toks, i + skip) {
                    return Some(end);
                }
            }
            None
        }
        Elem::End => {
            if toks.get(i).is_none_or(|t| t.is_clause_break()) {
                match_from(rest, toks, i)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize::tokenize;
    use super::*;

    fn hit(pat: &'static str, text: &str) -> Option<(usize, usize)> {
        Pattern::parse(pat).find(&tokenize(text))
    }

    #[test]
    fn matches_words_alternatives_gaps_and_ends() {
        assert_eq!(hit("move ~ @appt", "can you move my appt"), Some((2, 5)));
        assert_eq!(
            hit("talk|speak to a|an? person", "speak to person"),
            Some((0, 3))
        );
        assert_eq!(hit("resched*", "rescheduling"), Some((0, 1)));
        assert_eq!(hit("# % off", "get 50% off"), Some((1, 4)));
        assert_eq!(hit("cancel that $", "cancel that."), Some((0, 2)));
        assert_eq!(hit("cancel that $", "cancel that appointment"), None);
        assert_eq!(hit("bill ~ wrong", "the bill, wrong"), None);
    }
}
