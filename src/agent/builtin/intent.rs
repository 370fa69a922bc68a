//! What the customer wants, as a list of intents in the order they were mentioned.
//!
//! Each intent has cue phrases and veto phrases (see `phrase` for the pattern language). A cue
//! is dropped when a veto overlaps it ("cancel that" is a refusal, not a cancellation), when a
//! negation shortly precedes it in the same clause ("I don't want to cancel"), or when a more
//! specific intent's cue overlaps it ("this bill is wrong" is a dispute, not a balance
//! question). Emergencies also come from combinations: a stinging insect and an indoor place,
//! or a sting and a reaction.

use std::ops::Range;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::normalize::Token;
use super::pests::Pest;
use super::phrase::{PatternId, PatternSet};

/// Something the customer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Reschedule,
    /// Cancel a visit or a plan.
    Cancel,
    /// A price for a service.
    Quote,
    /// New service.
    Book,
    /// Balance, invoices, the bill.
    Balance,
    BillingDispute,
    Discount,
    /// Contract or plan terms, the price of a plan.
    Renegotiate,
    /// A person, not the agent.
    Human,
    /// Stinging insects indoors, an allergic reaction, structural risk.
    Emergency,
    Hours,
    /// What the company treats.
    Services,
    /// When the next visit is, whether the technician is coming.
    AppointmentStatus,
    Greeting,
    Thanks,
    Goodbye,
    ListAppointments,
    Unknown,
}

impl Intent {
    pub const ALL: &'static [Intent] = &[
        Intent::Reschedule,
        Intent::Cancel,
        Intent::Quote,
        Intent::Book,
        Intent::Balance,
        Intent::BillingDispute,
        Intent::Discount,
        Intent::Renegotiate,
        Intent::Human,
        Intent::Emergency,
        Intent::Hours,
        Intent::Services,
        Intent::AppointmentStatus,
        Intent::Greeting,
        Intent::Thanks,
        Intent::Goodbye,
        Intent::ListAppointments,
        Intent::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Reschedule => "reschedule",
            Intent::Cancel => "cancel",
            Intent::Quote => "quote",
            Intent::Book => "book",
            Intent::Balance => "balance",
            Intent::BillingDispute => "billing_dispute",
            Intent::Discount => "discount",
            Intent::Renegotiate => "renegotiate",
            Intent::Human => "human",
            Intent::Emergency => "emergency",
            Intent::Hours => "hours",
            Intent::Services => "services",
            Intent::AppointmentStatus => "appointment_status",
            Intent::Greeting => "greeting",
            Intent::Thanks => "thanks",
            Intent::Goodbye => "goodbye",
            Intent::ListAppointments => "list_appointments",
            Intent::Unknown => "unknown",
        }
    }

    /// Social intents that carry no request of their own.
    pub fn is_social(self) -> bool {
        matches!(self, Intent::Greeting | Intent::Thanks | Intent::Goodbye)
    }
}

impl std::fmt::Display for Intent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

struct Rule {
    intent: Intent,
    cues: &'static [&'static str],
    vetoes: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        intent: Intent::Reschedule,
        cues: &[
            "reschedule*",
            "postpone*",
            "push ~2 back|out|forward",
            "move|moving|bump|shift|switch ~2 @appt",
            "move|moving|bump|shift|switch|push|change the|my|our ~2 st|street|dr|drive|ave|avenue|rd|road|ln|lane|blvd|boulevard|ct|court|way|cir|pl|pkwy|trl|cv|loop @appt",
            "move|moving|bump|shift|switch|push|change one|some|both|all of the|my|our ~1 @appt",
            "move|bump|shift|push it|this|that|me|us|them|things ~2 to|back|up|forward|over|till|until|later|earlier|around|out",
            "move|bump|shift|push ~2 @appt ~2 out|back|later",
            "move|bump|shift|push to|until|till|til",
            "change|changing|switch ~2 @appt",
            "change|switch|swap ~2 date|day|time|timeslot|slot|window|dates|times|days",
            "different|another|other|new|diff day|date|time|slot|window|week",
            "cant|cannot|wont|not|unable ~2 make it",
            "cant|cannot|wont|not ~2 be home|there|around|available",
            "cant|cannot|wont|not ~2 be in town",
            "wont be able to make",
            "something came up",
            "out of town",
            "come|do ~4 instead of",
            "come|do|be ~4 instead $",
            "switch|swap|switching|change|changing ~1 to ~2 morning|afternoon|evening|mornings|afternoons|am|pm|@weekday|tomorrow|today|earlier|later",
            "make it ~4 instead of",
            "later date",
            "reprogram*",
            "cambiar ~3 cita|fecha|dia|hora|horario",
            "mover|pasar ~3 cita",
            "otro dia",
            "otra fecha|hora|dia",
            "otro horario",
            "no voy a poder|estar",
            "no estare|estaremos",
        ],
        vetoes: &[
            "move|moved|moving in|out|into|away",
            "move|moved|moving to a new|another house|home|place|address",
            "change of address",
        ],
    },
    Rule {
        intent: Intent::Cancel,
        cues: &[
            "cancel*",
            "cancel* ~3 contract|plan|agreement|subscription|service|services",
            "stop|end|terminate|discontinue|quit ~2 service|services|plan|contract|treatments|agreement|subscription|program|spraying|coming",
            "going|go|switching|switch with|to ~2 another|different|other company|provider|exterminator",
            "terminate*",
            "discontinu*",
            "dont ~2 need|want ~3 service|services|plan|treatments|anymore",
            "no longer ~2 need|want ~3 service|services|plan|treatments|you|anymore",
            "no longer need*|want*",
            "ya no ~2 quiero|necesito",
            "dar|darme de baja",
        ],
        vetoes: &["cancel that $", "cancel that please $", "cancel that thanks $"],
    },
    Rule {
        intent: Intent::Quote,
        cues: &[
            "how much",
            "price|prices|pricing|priced",
            "cost|costs|costing",
            "quote|quotes",
            "estimate|estimates",
            "rates",
            "rate for",
            "what do|does you|yall|it ~2 charge",
            "charge for",
            "how expensive",
            "cuanto|cuanta|cuantos",
            "precio*",
            "cuesta*",
            "cotiza*",
            "cobran|cobra",
            "presupuesto",
        ],
        vetoes: &[
            "how much longer|time|more time",
            "how much do|did|does i|we ~2 owe",
            "cuanto|cuanta ~2 debo|debemos|tiempo|falta|tarda|tardan",
        ],
    },
    Rule {
        intent: Intent::Book,
        cues: &[
            "book|booking",
            "schedule|scheduling",
            "set up ~2 @appt|appointment|service|treatment|inspection|visit",
            "sign up|signup",
            "need|want|like|get|request|requesting ~3 service|treatment|spray|spraying|inspection|exterminator|technician|tech",
            "need|want|like|get|request|requesting ~3 pest control",
            "need|want|like|get|request|requesting ~3 someone|somebody to come",
            "send ~2 someone|somebody|tech|technician|exterminator|out",
            "come out|by|over",
            "start|starting ~2 service|plan|treatments",
            "new customer",
            "new service",
            "get rid of",
            "treat|spray ~2 my|the|our house|home|yard|property|place|apartment|lawn|attic|garage|kitchen",
            "agendar",
            "programar ~3 cita|servicio",
            "necesito|necesitamos ~3 servicio|fumigacion|fumigar|exterminador|tecnico|cita",
            "necesito|necesitamos ~3 que vengan",
            "quiero|queremos ~3 servicio|fumigacion|fumigar|cita",
            "fumigar|fumigacion",
            "hacer|sacar una cita",
            "pueden venir",
            "can|could you|yall|someone come",
            "can|could the|a|your @tech come",
            "have someone come",
        ],
        vetoes: &[
            "book it|that $",
            "my|your|the|our|his|her|busy|work schedule",
            "on schedule",
            "did ~3 come",
            "never ~2 came|come",
            "came out",
            "@appt ~2 scheduled",
            "scheduled for",
            "already scheduled|booked",
        ],
    },
    Rule {
        intent: Intent::Balance,
        cues: &[
            "balance|balances",
            "invoice*",
            "bill|bills|billing",
            "owe",
            "amount due",
            "due date",
            "pay ~2 bill|invoice|balance|account",
            "make a payment",
            "payment|payments",
            "statement|statements",
            "receipt|receipts",
            "saldo",
            "factura*",
            "debo",
            "pagar",
            "estado de cuenta",
            "autopay",
            "pay|paying ~3 card|online|text|phone",
            "paid",
        ],
        vetoes: &["this is|its|im bill", "name is bill", "soy bill"],
    },
    Rule {
        intent: Intent::BillingDispute,
        cues: &[
            "charged|billed ~3 twice|double|again|wrong|incorrectly|extra",
            "why is|s|was|did my|the|this ~1 bill|invoice|charge|statement|payment",
            "charged|billed too much",
            "double|over charged|charge|billed|billing",
            "charged me ~2 twice|again|for",
            "overcharg*",
            "bill|invoice|charge|charges|statement|amount ~3 wrong|incorrect|mistake|error",
            "wrong|incorrect|extra|unauthorized|duplicate|bogus ~2 charge|charges|bill|amount|invoice",
            "refund*",
            "dispute*",
            "didnt|never|not ~2 authorize|authorized|approve|approved|agree",
            "shouldnt have been ~2 charged|billed",
            "why ~4 charged|billed",
            "charged for ~3 never|didnt|not",
            "quoted ~5 charged|billed",
            "not what i was quoted",
            "cobr* doble",
            "cobr* dos veces",
            "cobr* de mas",
            "me cobraron",
            "reembolso",
            "cobro|cargo ~2 incorrecto|equivocado|doble",
            "factura ~3 mal|incorrecta|equivocada",
            "chargeback",
        ],
        vetoes: &[],
    },
    Rule {
        intent: Intent::Discount,
        cues: &[
            "discount*",
            "offer|give|have|get ~3 discount*|coupon*|deal|deals|specials",
            "# %|percent off",
            "% off",
            "coupon*",
            "promo*",
            "any deals|specials",
            "special offer|deal|price|rate",
            "cheaper",
            "knock ~3 off",
            "price break",
            "waive*",
            "descuento*",
            "mas barato",
            "oferta*",
            "rebaja*",
        ],
        vetoes: &[],
    },
    Rule {
        intent: Intent::Renegotiate,
        cues: &[
            "renegotiat*",
            "negotiat*",
            "contract|contracts|contrato",
            "terms",
            "lower|reduce|decrease|drop ~3 plan|rate|price|monthly|payment|contract|cost|bill",
            "plan price|cost|rate|pricing",
            "price|cost|rate|pricing of ~2 plan|contract|agreement",
            "change|switch|downgrade|upgrade|modify ~2 plan|contract|agreement|frequency|subscription",
            "downgrade*",
            "too expensive",
            "price match",
            "match ~3 price|quote|offer",
            "competitor*",
            "renegociar",
            "cambiar ~2 contrato|plan",
            "less often|frequently",
            "instead of ~1 monthly|quarterly|annual|yearly|bimonthly|biweekly",
            "monthly|quarterly|annual|yearly|bimonthly plan ~2 instead",
        ],
        vetoes: &[],
    },
    Rule {
        intent: Intent::Human,
        cues: &[
            "human|humano|humana",
            "real|live|actual|regular person|persona|human|agent|rep|representative|people",
            "talk|speak|chat|hablar ~3 person|someone|somebody|agent|rep|representative|manager|supervisor|operator|staff|employee|human|humano|people|anybody|anyone|owner|office|alguien|persona|gerente|agente",
            "representative*",
            "representante",
            "manager|gerente",
            "supervisor*",
            "operator|operador*",
            "agent|agente",
            "customer service",
            "call me back",
            "call me",
            "give me a call",
            "have someone call",
            "can someone call",
            "una persona",
            "not a bot|robot|machine|computer",
            "llamenme|llamame",
            "complaint|complain|queja|quejarme",
        ],
        vetoes: &[
            "estate|travel|insurance|leasing agent",
            "property|office|apartment|building manager|managers",
            "call me when|before|if|after|once",
        ],
    },
    Rule {
        intent: Intent::Emergency,
        cues: &[
            "emergency|emergencia|emergencies",
            "allerg*",
            "alerg*",
            "anaphyla*",
            "epipen|epipens",
            "epi pen",
            "cant|cannot breathe",
            "trouble|hard|difficulty|difficult breathing",
            "hard to breathe",
            "throat ~2 swell*|swollen|closing|tight",
            "face|tongue|lips ~2 swell*|swollen",
            "no puedo respirar",
            "structural",
            "collaps*",
            "ceiling|floor|floors|beam|beams|joist|joists|wall|walls|roof|porch|deck|stairs|foundation ~3 sagging|sag|sags|caving|cave|falling|buckling|giving|crumbling|gave",
            "about to fall|cave",
            "techo ~3 cayendo|hundiendo|colapsa*|cae",
            "se esta cayendo",
        ],
        vetoes: &[
            "allergic|allergy|allergies|alergico|alergica ~3 spray|sprays|chemical|chemicals|product|products|treatment|pesticide|pesticides|ingredients",
        ],
    },
    Rule {
        intent: Intent::Hours,
        cues: &[
            "hours|horario|horarios",
            "are you|yall|ya ~2 open",
            "you open",
            "open on|today|tomorrow|saturday|saturdays|sunday|sundays|weekends|now|late|early|till|until",
            "what time ~4 open|close|closed|opens|closes",
            "when ~3 open|close|opens|closes",
            "are you|yall closed",
            "closed on|today|tomorrow|for",
            "que hora ~3 abren|cierran",
            "abren|abiertos|cierran",
        ],
        vetoes: &[
            "# hours",
            "hours ago|away|later|notice",
            "few|couple|many|several|two|three|four|24|48|72 ~2 hours",
            "an hour",
            "open the? invoice|invoices|balance|bill|ticket|window|door|gate",
        ],
    },
    Rule {
        intent: Intent::Services,
        cues: &[
            "what ~3 do|does you|yall|ya|company ~2 treat|cover|handle|service|offer|do",
            "what ~3 do|does you|yall|ya|company ~2 spray for",
            "what ~3 do|does you|yall|ya|company ~2 get rid of",
            "what ~3 do|does you|yall|ya|company ~2 deal with",
            "what ~3 do|does you|yall|ya|company ~2 take care of",
            "what services",
            "what kind|kinds|type|types of ~2 services|pests|bugs|treatments|pest",
            "what pests",
            "services ~2 offer|provide",
            "do|does you|yall|ya|company ~3 treat|handle|service|cover|do|offer|remove|kill|serve|provide",
            "do|does you|yall|ya|company ~3 take care of",
            "do|does you|yall|ya|company ~3 get rid of",
            "do|does you|yall|ya|company ~3 deal with",
            "do|does you|yall|ya|company ~3 spray for",
            "do|does you|yall|ya|company ~3 work on",
            "que servicios",
            "tienen|hacen|ofrecen|dan ~2 servicio|servicios|tratamiento|tratamientos",
            "tratan|trata",
            "ofrecen",
            "hacen ~3 control|fumigacion",
            "eliminan",
        ],
        vetoes: &["do you do ~2 saturday|saturdays|sunday|sundays|weekends|evenings|mornings"],
    },
    Rule {
        intent: Intent::AppointmentStatus,
        cues: &[
            "when|whens is|s|will|does|do my|the|our ~1 next? @appt",
            "when|whens is|are|will|does the|my|our? @tech ~2 coming|come|arrive|arriving|show|showing",
            "when|whens is|are|will|does the|my|our? @tech ~2 get|be here",
            "what time|day|date ~2 is|s|will|does my|the|our next? @appt",
            "what time|day ~3 @tech ~2 coming|come|arrive|arriving|show",
            "what time|day ~3 @tech ~2 get|be here",
            "is|are the|my|our @tech ~3 coming|way|here|close|late",
            "eta",
            "running late",
            "on the|their|his|her way",
            "where is|s|are the|my|our? @tech",
            "wheres the|my|our? @tech",
            "still coming|on|scheduled|happening",
            "is my @appt ~3 still|confirmed|on|happening|today|tomorrow",
            "my next @appt",
            "do i|we have ~3 @appt ~3 today|tomorrow|scheduled|booked",
            "do i|we have ~3 @appt ~3 coming up",
            "do i|we have anything|something ~2 scheduled|booked|planned|coming",
            "need|want|whats|what|know|check|confirm ~1 my|the|our @appt time|date|day|window",
            "nobody ~2 showed|came|come",
            "no one ~2 showed|came|come",
            "never showed|came",
            "didnt show|come",
            "confirming ~2 @appt",
            "cuando ~3 cita|servicio|tecnico|viene|vienen|llega|llegan",
            "no ~2 llego|vino|vinieron|llegaron",
            "a que hora ~3 viene|vienen|llega|llegan|tecnico|cita",
            "ya viene",
            "viene el tecnico",
            "mi proxima cita",
        ],
        vetoes: &["book|schedule ~2 next", "how much longer"],
    },
    Rule {
        intent: Intent::ListAppointments,
        cues: &[
            "list|show|see|view|check ~3 appointments|visits|bookings|services|citas",
            "all ~2 my|our appointments|visits|services|bookings",
            "my appointments|visits|bookings",
            "what|which appointments|visits|bookings",
            "upcoming ~2 appointments|visits|services|treatments|bookings",
            "do i|we have any ~2 appointments|visits|services",
            "when are my appointments|visits|services",
            "mis citas",
            "que citas",
            "how many appointments",
        ],
        vetoes: &[],
    },
    Rule {
        intent: Intent::Greeting,
        cues: &[
            "hi|hello|hey|hiya|howdy|hola|heya|hellow|hii|hiii|heyy|heyyy|greetings",
            "good morning|afternoon|evening|day",
            "buenos dias",
            "buenas tardes|noches|dias",
            "buenas $",
        ],
        vetoes: &[],
    },
    Rule {
        intent: Intent::Thanks,
        cues: &[
            "thanks|thank|thankyou|gracias|merci",
            "appreciate*",
            "much appreciated",
        ],
        vetoes: &[
            "no thanks|thank|gracias",
            "thanks|thank you? but no",
            "no ~2 gracias",
        ],
    },
    Rule {
        intent: Intent::Goodbye,
        cues: &[
            "bye|goodbye|adios|chao|chau|ciao",
            "see you|ya later|soon|then|tomorrow",
            "see you|ya $",
            "see you|ya on|next? @weekday",
            "talk ~3 later|soon",
            "good night|goodnight",
            "have a good|great|nice|blessed ~2 night|day|evening|weekend|one",
            "thats all|it $",
            "nothing else",
            "all set",
            "hasta luego|pronto|manana",
            "take care",
        ],
        vetoes: &[],
    },
];

/// When cues of two intents overlap, the first wins.
const PRECEDENCE: &[(Intent, Intent)] = &[
    (Intent::BillingDispute, Intent::Balance),
    (Intent::BillingDispute, Intent::Quote),
    (Intent::BillingDispute, Intent::Discount),
    (Intent::BillingDispute, Intent::Renegotiate),
    (Intent::Balance, Intent::Quote),
    (Intent::Renegotiate, Intent::Quote),
    (Intent::Renegotiate, Intent::Discount),
    (Intent::Renegotiate, Intent::Reschedule),
    (Intent::Renegotiate, Intent::Book),
    (Intent::Renegotiate, Intent::Balance),
    (Intent::Cancel, Intent::Renegotiate),
    (Intent::Cancel, Intent::Book),
    (Intent::Reschedule, Intent::Book),
    (Intent::ListAppointments, Intent::AppointmentStatus),
    (Intent::Services, Intent::Book),
    (Intent::Discount, Intent::Quote),
    (Intent::Goodbye, Intent::Greeting),
    (Intent::AppointmentStatus, Intent::Book),
    (Intent::AppointmentStatus, Intent::Reschedule),
    (Intent::AppointmentStatus, Intent::Hours),
    (Intent::Human, Intent::Book),
    (Intent::Hours, Intent::Book),
    (Intent::Discount, Intent::Services),
];

/// Words that, shortly before a cue in the same clause, negate it.
const NEGATORS: &[&str] = &[
    "dont", "not", "never", "didnt", "doesnt", "wont", "nothing", "without",
];

struct Compiled {
    intent: Intent,
    /// Ids in `Tables::set`.
    cues: Range<PatternId>,
    vetoes: Range<PatternId>,
}

struct Tables {
    rules: Vec<Compiled>,
    /// Every rule's cues, then its vetoes, rule after rule.
    set: PatternSet,
}

fn tables() -> &'static Tables {
    static T: LazyLock<Tables> = LazyLock::new(|| {
        let mut sources: Vec<&'static str> = Vec::new();
        let mut rules = Vec::new();
        for r in RULES {
            let cues = sources.len()..sources.len() + r.cues.len();
            sources.extend(r.cues);
            let vetoes = sources.len()..sources.len() + r.vetoes.len();
            sources.extend(r.vetoes);
            rules.push(Compiled {
                intent: r.intent,
                cues,
                vetoes,
            });
        }
        Tables {
            rules,
            set: PatternSet::parse(sources),
        }
    });
    &T
}

/// Every literal word used in cue and veto phrases.
#[cfg(test)]
pub(crate) fn vocabulary() -> Vec<&'static str> {
    let set = &tables().set;
    (0..set.len())
        .flat_map(|id| set.pattern(id).words())
        .collect()
}

/// The cue and veto phrases, compiled together.
#[cfg(test)]
pub(crate) fn pattern_set() -> &'static PatternSet {
    &tables().set
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    intent: Intent,
    start: usize,
    end: usize,
}

fn negated(toks: &[Token], start: usize) -> bool {
    for back in 1..=4 {
        let Some(j) = start.checked_sub(back) else {
            break;
        };
        let t = &toks[j];
        if t.is_clause_break() || t.norm == "but" || t.norm == "pero" {
            break;
        }
        if NEGATORS.contains(&t.norm.as_str()) {
            return true;
        }
        // Spanish: "no quiero cancelar", "no necesito".
        if t.norm == "no"
            && toks.get(j + 1).is_some_and(|n| {
                matches!(
                    n.norm.as_str(),
                    "quiero" | "necesito" | "deseo" | "queremos" | "necesitamos"
                )
            })
        {
            return true;
        }
    }
    false
}

fn overlaps(a: &Hit, b: &Hit) -> bool {
    a.start < b.end && b.start < a.end
}

const INDOOR_STRONG: &[&str] = &["inside", "indoors", "dentro", "adentro"];
const INDOOR_WEAK: &[&str] = &[
    "bedroom",
    "bedrooms",
    "kitchen",
    "room",
    "bathroom",
    "nursery",
    "closet",
    "bed",
    "living",
    "livingroom",
    "den",
    "house",
    "home",
    "cuarto",
    "recamara",
    "dormitorio",
    "cocina",
    "sala",
    "bano",
    "casa",
    "crib",
    "ceiling",
    "walls",
    "wall",
];
const OUTDOOR: &[&str] = &[
    "outside", "outdoors", "yard", "eaves", "porch", "garage", "shed", "tree", "trees", "fence",
    "mailbox", "afuera", "patio", "deck", "garden", "soffit", "gutter", "roofline", "playset",
];
const STING_WORDS: &[&str] = &[
    "stung",
    "sting",
    "stings",
    "stinging",
    "bitten",
    "bite",
    "bites",
    "picadura",
    "pico",
    "picaron",
    "picaduras",
];
const REACTION_PREFIXES: &[&str] = &[
    "swell", "swollen", "throat", "breath", "hives", "dizz", "faint", "allerg", "epipen",
    "anaphyla", "hinch", "garganta", "respir", "alergi", "wheez", "vomit",
];

/// Emergencies from combinations of words: (position) if found.
fn combined_emergency(toks: &[Token], pests: &[(Pest, usize)]) -> Option<usize> {
    let has = |list: &[&str]| toks.iter().position(|t| list.contains(&t.norm.as_str()));
    let weak_indoor = toks.iter().enumerate().any(|(i, t)| {
        INDOOR_WEAK.contains(&t.norm.as_str())
            // "house"/"home" only as "in the house", "in my home".
            && (!matches!(t.norm.as_str(), "house" | "home" | "casa" | "wall" | "walls" | "ceiling")
                || (i > 1
                    && matches!(toks[i - 1].norm.as_str(), "the" | "my" | "our" | "la" | "mi")
                    && matches!(toks[i - 2].norm.as_str(), "in" | "en" | "into" | "inside")))
    });
    let indoor = has(INDOOR_STRONG).is_some() || (weak_indoor && has(OUTDOOR).is_none());
    let swarm = has(&[
        "swarm", "swarming", "nest", "hive", "enjambre", "panal", "nido",
    ]);
    let stinging = pests.iter().find(|(p, _)| p.stings()).map(|(_, i)| *i);
    let other_pest = pests.iter().any(|(p, _)| !p.stings());
    if indoor {
        if let Some(i) = stinging {
            if !negated(toks, i) {
                return Some(i);
            }
        }
        if let (Some(i), false) = (swarm, other_pest) {
            return Some(i);
        }
    }
    let sting = has(STING_WORDS)?;
    let reaction = toks
        .iter()
        .any(|t| REACTION_PREFIXES.iter().any(|p| t.norm.starts_with(p)));
    reaction.then_some(sting)
}

/// The intents in a message, in the order they were first mentioned.
pub(crate) fn detect(toks: &[Token], pests: &[(Pest, usize)]) -> Vec<Intent> {
    let mut hits: Vec<Hit> = Vec::new();
    let Tables { rules, set } = tables();
    let starts = set.starts(toks);
    for rule in rules {
        let vetoes: Vec<(usize, usize)> = rule
            .vetoes
            .clone()
            .flat_map(|v| set.find_all(v, toks, &starts))
            .collect();
        for cue in rule.cues.clone() {
            for (start, end) in set.find_all(cue, toks, &starts) {
                let vetoed = vetoes.iter().any(|&(vs, ve)| vs < end && start < ve);
                let social = rule.intent.is_social();
                if vetoed || (!social && negated(toks, start)) {
                    continue;
                }
                hits.push(Hit {
                    intent: rule.intent,
                    start,
                    end,
                });
            }
        }
    }
    if let Some(pos) = combined_emergency(toks, pests) {
        hits.push(Hit {
            intent: Intent::Emergency,
            start: pos,
            end: pos + 1,
        });
    }
    // More specific intents beat the ones they overlap.
    let survivors: Vec<Hit> = hits
        .iter()
        .filter(|h| {
            !hits
                .iter()
                .any(|o| PRECEDENCE.contains(&(o.intent, h.intent)) && overlaps(o, h))
        })
        .copied()
        .collect();
    let mut firsts: Vec<(usize, Intent)> = Vec::new();
    for h in survivors {
        match firsts.iter_mut().find(|(_, i)| *i == h.intent) {
            Some(f) => f.0 = f.0.min(h.start),
            None => firsts.push((h.start, h.intent)),
        }
    }
    // A named pest and nothing else asked: they want service.
    let asked = firsts.iter().any(|(_, i)| !i.is_social());
    if let (false, Some(&(_, pos))) = (asked, pests.first()) {
        firsts.push((pos, Intent::Book));
    }
    firsts.sort_by_key(|(pos, _)| *pos);
    let mut out: Vec<Intent> = firsts.into_iter().map(|(_, i)| i).collect();
    if out.is_empty() {
        out.push(Intent::Unknown);
    }
    out
}
