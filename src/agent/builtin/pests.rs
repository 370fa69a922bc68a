//! Pests named in plain words, English or Spanish, singular or plural, slang or misspelt:
//! "those little roaches", "skeeters", "bed-bugs", "yellow jackets", "chinches", "termits".

use serde::{Deserialize, Serialize};

use super::normalize::Token;

/// A pest a customer can name. The snake_case names are what the service catalog lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pest {
    Ants,
    Cockroaches,
    Mice,
    Rats,
    /// "Rodents" without saying which.
    Rodents,
    Mosquitoes,
    Termites,
    Wasps,
    YellowJackets,
    Hornets,
    Bees,
    BedBugs,
    Spiders,
    Scorpions,
    Fleas,
    Ticks,
    Silverfish,
    Crickets,
}

impl Pest {
    pub const ALL: &'static [Pest] = &[
        Pest::Ants,
        Pest::Cockroaches,
        Pest::Mice,
        Pest::Rats,
        Pest::Rodents,
        Pest::Mosquitoes,
        Pest::Termites,
        Pest::Wasps,
        Pest::YellowJackets,
        Pest::Hornets,
        Pest::Bees,
        Pest::BedBugs,
        Pest::Spiders,
        Pest::Scorpions,
        Pest::Fleas,
        Pest::Ticks,
        Pest::Silverfish,
        Pest::Crickets,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pest::Ants => "ants",
            Pest::Cockroaches => "cockroaches",
            Pest::Mice => "mice",
            Pest::Rats => "rats",
            Pest::Rodents => "rodents",
            Pest::Mosquitoes => "mosquitoes",
            Pest::Termites => "termites",
            Pest::Wasps => "wasps",
            Pest::YellowJackets => "yellow_jackets",
            Pest::Hornets => "hornets",
            Pest::Bees => "bees",
            Pest::BedBugs => "bed_bugs",
            Pest::Spiders => "spiders",
            Pest::Scorpions => "scorpions",
            Pest::Fleas => "fleas",
            Pest::Ticks => "ticks",
            Pest::Silverfish => "silverfish",
            Pest::Crickets => "crickets",
        }
    }

    /// Insects whose stings make an indoor swarm or nest an emergency.
    pub fn stings(self) -> bool {
        matches!(
            self,
            Pest::Wasps | Pest::YellowJackets | Pest::Hornets | Pest::Bees
        )
    }
}

impl std::fmt::Display for Pest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a word names a pest on its own.
pub fn is_pest_word(w: &str) -> bool {
    single_word(w).is_some()
}

fn single_word(w: &str) -> Option<Pest> {
    Some(match w {
        "ant" | "ants" | "hormiga" | "hormigas" => Pest::Ants,
        "roach" | "roaches" | "cockroach" | "cockroaches" | "cucaracha" | "cucarachas" => {
            Pest::Cockroaches
        }
        "mouse" | "mice" | "mices" | "raton" | "ratones" => Pest::Mice,
        "rat" | "rats" | "rata" | "ratas" => Pest::Rats,
        "rodent" | "rodents" | "roedor" | "roedores" => Pest::Rodents,
        "mosquito" | "mosquitos" | "mosquitoes" | "mosquitoe" | "zancudo" | "zancudos" => {
            Pest::Mosquitoes
        }
        "termite" | "termites" | "termita" | "termitas" | "comejen" | "comejenes" | "swarmers" => {
            Pest::Termites
        }
        "wasp" | "wasps" | "avispa" | "avispas" | "dauber" | "daubers" => Pest::Wasps,
        "yellowjacket" | "yellowjackets" => Pest::YellowJackets,
        "hornet" | "hornets" | "avispon" | "avispones" => Pest::Hornets,
        "bee" | "bees" | "bumblebee" | "bumblebees" | "honeybee" | "honeybees" | "abeja"
        | "abejas" => Pest::Bees,
        "bedbug" | "bedbugs" | "chinche" | "chinches" => Pest::BedBugs,
        "spider" | "spiders" | "arana" | "aranas" | "recluse" | "recluses" | "tarantula"
        | "tarantulas" => Pest::Spiders,
        "scorpion" | "scorpions" | "alacran" | "alacranes" | "escorpion" | "escorpiones" => {
            Pest::Scorpions
        }
        "flea" | "fleas" | "pulga" | "pulgas" => Pest::Fleas,
        "tick" | "ticks" | "garrapata" | "garrapatas" => Pest::Ticks,
        "silverfish" => Pest::Silverfish,
        "cricket" | "crickets" | "grillo" | "grillos" => Pest::Crickets,
        _ => return None,
    })
}

/// Pests named in the tokens, each with the index of its first mention, in order.
pub fn find(toks: &[Token]) -> Vec<(Pest, usize)> {
    let mut out: Vec<(Pest, usize)> = Vec::new();
    let mut push = |p: Pest, i: usize| {
        if !out.iter().any(|(q, _)| *q == p) {
            out.push((p, i));
        }
    };
    let word = |i: usize| toks.get(i).map_or("", |t| t.norm.as_str());
    let mut i = 0;
    while i < toks.len() {
        let w = word(i);
        // "bed bugs", "bed-bugs"; "yellow jackets"; "silver fish"; "black widows"; "palmetto bugs".
        let next = if word(i + 1) == "-" { i + 2 } else { i + 1 };
        let two = (w, word(next));
        let pair = match two {
            ("bed", "bug" | "bugs") => Some(Pest::BedBugs),
            ("yellow", "jacket" | "jackets") => Some(Pest::YellowJackets),
            ("silver", "fish") => Some(Pest::Silverfish),
            ("black", "widow" | "widows") => Some(Pest::Spiders),
            ("palmetto" | "water", "bug" | "bugs") => Some(Pest::Cockroaches),
            ("mud", "dauber" | "daubers") => Some(Pest::Wasps),
            _ => None,
        };
        if let Some(p) = pair {
            push(p, i);
            i = next + 1;
            continue;
        }
        if let Some(p) = single_word(w) {
            push(p, i);
        }
        i += 1;
    }
    out
}

/// Nouns naming a service for something ("gopher removal", "bird control").
/// Nouns naming a service for something ("gopher removal", "bird control"). Not "service"
/// or "treatment": those follow any adjective ("other services", "a cheaper treatment").
const SERVICE_NOUNS: &[&str] = &[
    "removal",
    "control",
    "trapping",
    "extermination",
    "problem",
    "problems",
    "infestation",
    "exclusion",
    "relocation",
];

/// Words before a service noun that name no creature ("the quarterly service", "pest
/// control", "a one time treatment").
const NOT_TARGETS: &[&str] = &[
    "the",
    "a",
    "an",
    "my",
    "your",
    "our",
    "this",
    "that",
    "any",
    "some",
    "what",
    "which",
    "for",
    "of",
    "and",
    "or",
    "do",
    "does",
    "need",
    "want",
    "get",
    "got",
    "have",
    "is",
    "are",
    "how",
    "much",
    "pest",
    "pests",
    "bug",
    "bugs",
    "insect",
    "insects",
    "general",
    "one",
    "time",
    "onetime",
    "quarterly",
    "monthly",
    "weekly",
    "annual",
    "yearly",
    "regular",
    "recurring",
    "first",
    "next",
    "last",
    "same",
    "full",
    "whole",
    "basic",
    "standard",
    "premium",
    "initial",
    "follow",
    "free",
    "emergency",
    "urgent",
    "residential",
    "commercial",
    "home",
    "house",
    "yard",
    "outdoor",
    "indoor",
    "interior",
    "exterior",
    "perimeter",
    "spray",
    "heat",
    "new",
    "current",
    "usual",
    "customer",
    "good",
    "great",
    "bad",
    "poor",
    "best",
    "cheap",
    "cheapest",
    "complete",
    "plan",
    "price",
    "quote",
    "about",
    "on",
    "in",
    "at",
    "to",
    "with",
    "from",
    "el",
    "la",
    "de",
    "del",
    "un",
    "una",
    "mi",
    "su",
    "en",
    "por",
    "para",
];

/// Something the customer wants treated or removed that is not a pest named above: the
/// word before a service noun ("gopher removal" → "gopher removal"), when it is a plain word
/// and not a keyword of the model. The caller checks it against the catalog.
pub fn unknown_target(toks: &[Token]) -> Option<String> {
    (1..toks.len()).find_map(|i| {
        let noun = &toks[i];
        let word = &toks[i - 1];
        let ok = SERVICE_NOUNS.contains(&noun.norm.as_str())
            && word.is_word()
            && word.folded.len() >= 3
            && word.folded.chars().all(|c| c.is_ascii_alphabetic())
            && !NOT_TARGETS.contains(&word.folded.as_str())
            && !NOT_TARGETS.contains(&word.norm.as_str())
            && !super::normalize::is_keyword(&word.norm)
            && single_word(&word.norm).is_none()
            && single_word(&word.folded).is_none();
        ok.then(|| format!("{} {}", word.folded, noun.norm))
    })
}

#[cfg(test)]
mod tests {
    use super::super::normalize::tokenize;
    use super::*;

    #[test]
    fn names_round_trip_through_serde() {
        for p in Pest::ALL {
            assert_eq!(
                serde_json::to_value(p).ok(),
                Some(serde_json::Value::String(p.as_str().into()))
            );
        }
    }

    #[test]
    fn unknown_targets_are_the_word_before_a_service_noun() {
        let table = [
            (
                "do you guys do gopher removal? how much",
                Some("gopher removal"),
            ),
            ("need bird control asap", Some("bird control")),
            ("how much is the quarterly service", None),
            ("price for general pest control", None),
            ("mosquito control", None),
            ("roach problem", None),
            ("do you offer any other services", None),
            ("a raccoon problem in the attic", Some("raccoon problem")),
        ];
        for (text, want) in table {
            assert_eq!(unknown_target(&tokenize(text)).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn pairs_are_one_pest() {
        let found: Vec<Pest> = find(&tokenize("bed-bugs and yellow jackets"))
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(found, [Pest::BedBugs, Pest::YellowJackets]);
    }
}
