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
    fn pairs_are_one_pest() {
        let found: Vec<Pest> = find(&tokenize("bed-bugs and yellow jackets"))
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(found, [Pest::BedBugs, Pest::YellowJackets]);
    }
}
