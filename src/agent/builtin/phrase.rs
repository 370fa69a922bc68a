//! A small phrase language for matching normalised tokens, so the cue tables elsewhere read
//! like the messages they describe.
//!
//! A pattern is a space-separated list of elements:
//! - `word` matches a token whose normalised form is `word`; `word*` matches a prefix;
//! - `a|b|c` matches any of the alternatives; `@name` matches a named word class;
//! - a trailing `?` makes an element optional;
//! - `~` skips up to three words (`~5` up to five) without crossing a clause break;
//! - `#` matches a number; `$` matches the end of a clause without consuming anything.
//!
//! A table of patterns is compiled once into a `PatternSet`, which indexes each pattern by
//! what the first token of a match can be (a word, a prefix, a number, or anything when the
//! pattern opens with a gap). A message then tries only the patterns that can start at each
//! of its tokens; the matches are exactly those of trying every pattern everywhere.

use std::collections::HashMap;

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

    /// The end of a non-empty match starting at `start`, if there is one.
    pub fn match_at(&self, toks: &[Token], start: usize) -> Option<usize> {
        match_from(&self.elems, toks, start).filter(|&end| end > start)
    }

    /// Every non-overlapping non-empty match, left to right, as `(start, end)`, trying the
    /// pattern at `starts` (ascending).
    fn find_all_from(
        &self,
        toks: &[Token],
        starts: impl Iterator<Item = usize>,
    ) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut next = 0;
        for i in starts {
            if i < next {
                continue;
            }
            if let Some(end) = self.match_at(toks, i) {
                out.push((i, end));
                next = end;
            }
        }
        out
    }

    /// The first non-empty match trying the pattern at `starts`, as `(start, end)`.
    fn find_from(
        &self,
        toks: &[Token],
        mut starts: impl Iterator<Item = usize>,
    ) -> Option<(usize, usize)> {
        starts.find_map(|i| self.match_at(toks, i).map(|end| (i, end)))
    }

    /// Every non-overlapping match, left to right, as `(start, end)`: trying the pattern at
    /// every token, what `PatternSet::find_all` must agree with.
    #[cfg(test)]
    pub fn find_all(&self, toks: &[Token]) -> Vec<(usize, usize)> {
        self.find_all_from(toks, 0..toks.len())
    }

    /// The first match, as `(start, end)`.
    #[cfg(test)]
    pub fn find(&self, toks: &[Token]) -> Option<(usize, usize)> {
        self.find_from(toks, 0..toks.len())
    }
}

/// Which tokens can be the first token of a non-empty match.
#[derive(Debug, Default)]
struct FirstTokens {
    words: Vec<&'static str>,
    prefixes: Vec<&'static str>,
    number: bool,
    any: bool,
}

impl Pattern {
    /// Every token a non-empty match can start with passes this filter. The elements before
    /// the first one that must consume a token are optional or consume nothing: their
    /// alternatives count too; a gap can start anywhere; after `$` nothing can consume the
    /// token (it is a clause break or the end), so the match would be empty.
    fn first_tokens(&self) -> FirstTokens {
        let mut first = FirstTokens::default();
        for e in &self.elems {
            match e {
                Elem::Words { alts, optional } => {
                    for a in alts {
                        match a {
                            Atom::Word(w) => first.words.push(w),
                            Atom::Prefix(p) => first.prefixes.push(p),
                        }
                    }
                    if !optional {
                        break;
                    }
                }
                Elem::Number { optional } => {
                    first.number = true;
                    if !optional {
                        break;
                    }
                }
                Elem::Gap(0) => {}
                Elem::Gap(_) => {
                    first.any = true;
                    break;
                }
                Elem::End => break,
            }
        }
        first
    }
}

/// A pattern's place in its `PatternSet`, in the order the set was built from.
pub type PatternId = usize;

/// Patterns compiled once and indexed by the first token of their matches.
#[derive(Debug)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
    /// Pattern ids (ascending) whose match can start with this exact normalised word.
    by_word: HashMap<&'static str, Vec<u32>>,
    /// (prefix, pattern id) for matches that can start with a word of this prefix, sorted.
    by_prefix: Vec<(&'static str, u32)>,
    /// Pattern ids (ascending) whose match can start with a number.
    by_number: Vec<u32>,
    /// Pattern ids (ascending) whose match can start with any token but a clause break.
    anywhere: Vec<u32>,
}

/// Where each pattern of a set may start in one message: `(pattern id, token position)`,
/// sorted.
#[derive(Debug, Default)]
pub struct Starts {
    pairs: Vec<(u32, u32)>,
}

impl Starts {
    fn positions(&self, id: PatternId) -> impl Iterator<Item = usize> + '_ {
        let id = id as u32;
        let from = self.pairs.partition_point(|p| p.0 < id);
        self.pairs[from..]
            .iter()
            .take_while(move |p| p.0 == id)
            .map(|p| p.1 as usize)
    }
}

impl PatternSet {
    /// Parse every pattern; ids are their places in `sources`.
    pub fn parse<I: IntoIterator<Item = &'static str>>(sources: I) -> PatternSet {
        let patterns: Vec<Pattern> = sources.into_iter().map(Pattern::parse).collect();
        let mut set = PatternSet {
            by_word: HashMap::new(),
            by_prefix: Vec::new(),
            by_number: Vec::new(),
            anywhere: Vec::new(),
            patterns: Vec::new(),
        };
        for (id, p) in patterns.iter().enumerate() {
            let id = u32::try_from(id).expect("fewer than 2^32 patterns");
            let first = p.first_tokens();
            if first.any {
                set.anywhere.push(id);
                continue;
            }
            for w in first.words {
                let ids = set.by_word.entry(w).or_default();
                if ids.last() != Some(&id) {
                    ids.push(id);
                }
            }
            for p in first.prefixes {
                set.by_prefix.push((p, id));
            }
            if first.number {
                set.by_number.push(id);
            }
        }
        set.by_prefix.sort_unstable();
        set.by_prefix.dedup();
        set.patterns = patterns;
        set
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn pattern(&self, id: PatternId) -> &Pattern {
        &self.patterns[id]
    }

    /// The ids (ascending, once each) of the patterns that may have a non-empty match
    /// starting at `tok`, into `out`.
    pub fn candidates(&self, tok: &Token, out: &mut Vec<u32>) {
        out.clear();
        // Nothing consumes a clause break.
        if tok.is_clause_break() {
            return;
        }
        if let Some(ids) = self.by_word.get(tok.norm.as_str()) {
            out.extend_from_slice(ids);
        }
        if tok.kind == TokenKind::Word {
            if let Some(&b) = tok.norm.as_bytes().first() {
                let from = self
                    .by_prefix
                    .partition_point(|(p, _)| p.as_bytes().first() < Some(&b));
                for (p, id) in &self.by_prefix[from..] {
                    if p.as_bytes().first() != Some(&b) {
                        break;
                    }
                    if tok.norm.starts_with(p) {
                        out.push(*id);
                    }
                }
            }
        }
        if tok.is_number() {
            out.extend_from_slice(&self.by_number);
        }
        out.extend_from_slice(&self.anywhere);
        out.sort_unstable();
        out.dedup();
    }

    /// Where each pattern may start in `toks`.
    pub fn starts(&self, toks: &[Token]) -> Starts {
        let mut pairs = Vec::new();
        let mut ids = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            self.candidates(t, &mut ids);
            let pos = u32::try_from(i).unwrap_or(u32::MAX);
            pairs.extend(ids.iter().map(|&id| (id, pos)));
        }
        pairs.sort_unstable();
        Starts { pairs }
    }

    /// `Pattern::find_all` of pattern `id`, trying only where it may start.
    pub fn find_all(&self, id: PatternId, toks: &[Token], starts: &Starts) -> Vec<(usize, usize)> {
        self.patterns[id].find_all_from(toks, starts.positions(id))
    }

    /// `Pattern::find` of pattern `id`, trying only where it may start.
    pub fn find(&self, id: PatternId, toks: &[Token], starts: &Starts) -> Option<(usize, usize)> {
        self.patterns[id].find_from(toks, starts.positions(id))
    }

    /// Whether any pattern of the set matches anywhere in `toks`.
    pub fn any_match(&self, toks: &[Token]) -> bool {
        let mut ids = Vec::new();
        (0..toks.len()).any(|i| {
            self.candidates(&toks[i], &mut ids);
            ids.iter()
                .any(|&id| self.patterns[id as usize].match_at(toks, i).is_some())
        })
    }
}

#[cfg(test)]
fn test_token(norm: &str) -> Token {
    let kind = match norm.chars().next() {
        Some(c) if c.is_ascii_digit() => TokenKind::Number,
        Some(c) if c.is_alphabetic() => TokenKind::Word,
        Some(c) if c.is_ascii_punctuation() => TokenKind::Punct,
        _ => TokenKind::Symbol,
    };
    Token {
        norm: norm.to_string(),
        folded: norm.to_string(),
        raw: norm.to_string(),
        kind,
        glued: false,
    }
}

#[cfg(test)]
impl Pattern {
    /// Token lists the pattern should match: each alternative of each element in turn (the
    /// first one elsewhere), each optional element left out, each gap filled.
    pub fn examples(&self) -> Vec<Vec<Token>> {
        // The choices of each element, as the tokens each choice contributes.
        let choices: Vec<Vec<Vec<String>>> = self
            .elems
            .iter()
            .map(|e| {
                let mut c: Vec<Vec<String>> = match e {
                    Elem::Words { alts, .. } => alts
                        .iter()
                        .map(|a| match a {
                            Atom::Word(w) => vec![w.to_string()],
                            Atom::Prefix(p) => vec![format!("{p}s")],
                        })
                        .collect(),
                    Elem::Number { .. } => vec![vec!["7".to_string()]],
                    Elem::Gap(max) => vec![vec![], vec!["zz".to_string(); (*max).min(2)]],
                    Elem::End => vec![vec![], vec![".".to_string()]],
                };
                if matches!(
                    e,
                    Elem::Words { optional: true, .. } | Elem::Number { optional: true }
                ) {
                    c.push(vec![]);
                }
                if c.is_empty() {
                    c.push(vec![]);
                }
                c
            })
            .collect();
        let mut out = Vec::new();
        for (k, options) in choices.iter().enumerate() {
            for option in options {
                let toks = choices
                    .iter()
                    .enumerate()
                    .flat_map(|(j, c)| if j == k { option.clone() } else { c[0].clone() })
                    .map(|w| test_token(&w))
                    .collect();
                out.push(toks);
            }
        }
        out
    }
}

#[cfg(test)]
impl PatternSet {
    /// Where the indexed matching differs from trying every pattern at every token of
    /// `toks` (empty when they agree).
    pub fn disagreements(&self, toks: &[Token]) -> Vec<String> {
        let mut out = Vec::new();
        let starts = self.starts(toks);
        let mut ids = Vec::new();
        for (id, pat) in self.patterns.iter().enumerate() {
            let (naive, indexed) = (pat.find_all(toks), self.find_all(id, toks, &starts));
            if naive != indexed {
                out.push(format!("find_all #{id}: {naive:?} != {indexed:?}"));
            }
            let (naive, indexed) = (pat.find(toks), self.find(id, toks, &starts));
            if naive != indexed {
                out.push(format!("find #{id}: {naive:?} != {indexed:?}"));
            }
        }
        for i in 0..toks.len() {
            self.candidates(&toks[i], &mut ids);
            for (id, pat) in self.patterns.iter().enumerate() {
                let matches = pat.match_at(toks, i).is_some();
                if matches && !ids.contains(&(id as u32)) {
                    out.push(format!("#{id} matches at {i} but is not a candidate"));
                }
            }
        }
        let naive_any =
            (0..toks.len()).any(|i| self.patterns.iter().any(|p| p.match_at(toks, i).is_some()));
        if naive_any != self.any_match(toks) {
            out.push(format!("any_match: {naive_any} != {}", !naive_any));
        }
        out
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
    let (takes, optional) = match first {
        Elem::Words { alts, optional } => (
            toks.get(i).is_some_and(|t| atom_matches(alts, t)),
            *optional,
        ),
        Elem::Number { optional } => (toks.get(i).is_some_and(|t| t.is_number()), *optional),
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
            return None;
        }
        Elem::End => {
            let at_end = toks.get(i).is_none_or(|t| t.is_clause_break());
            return at_end.then(|| match_from(rest, toks, i)).flatten();
        }
    };
    if takes {
        if let Some(end) = match_from(rest, toks, i + 1) {
            return Some(end);
        }
    }
    optional.then(|| match_from(rest, toks, i)).flatten()
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
