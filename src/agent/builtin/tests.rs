//! Table-driven tests of the whole reading, with the clock fixed at Monday 2026-11-23 20:15
//! (tenant local time).

use chrono::{NaiveDate, NaiveTime};

use super::*;
use Intent::*;

fn ctx() -> Context {
    let now = NaiveDate::from_ymd_opt(2026, 11, 23)
        .and_then(|d| d.and_hms_opt(20, 15, 0))
        .expect("valid test clock");
    Context::new(now)
}

fn u(text: &str) -> Understanding {
    understand(text, &ctx())
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

/// Checks every row of a table and fails once, listing each row for which `check` says what
/// went wrong.
fn check_table<T>(table: &[T], check: impl Fn(&T) -> Option<String>) {
    let failures: Vec<String> = table.iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[test]
fn intents() {
    let table: &[(&str, &[Intent])] = &[
        // reschedule
        ("Can I move my appointment to Friday?", &[Reschedule]),
        ("need to reschedule", &[Reschedule]),
        ("mvoe my appt to thrusday pls", &[Reschedule]),
        ("can u resched", &[Reschedule]),
        ("I can't make it tomorrow", &[Reschedule]),
        (
            "something came up, can we do a different day",
            &[Reschedule],
        ),
        ("push it back a week", &[Reschedule]),
        ("reschdule my appointmnet", &[Reschedule]),
        ("I won't be home on Friday", &[Reschedule]),
        ("can we change the time", &[Reschedule]),
        ("quiero cambiar mi cita", &[Reschedule]),
        ("necesito reprogramar", &[Reschedule]),
        ("we're moving to a new house next month", &[Unknown]),
        ("I need more time", &[Unknown]),
        // cancel
        ("cancel my appointment", &[Cancel]),
        ("I want to cancel my service", &[Cancel]),
        ("please cancle", &[Cancel]),
        ("stop my service", &[Cancel]),
        ("I'd like to cancel my contract", &[Cancel]),
        ("no longer need the service", &[Cancel]),
        ("don't cancel, just move it to friday", &[Reschedule]),
        ("I don't want to cancel", &[Unknown]),
        ("quiero cancelar el servicio", &[Cancel]),
        ("cancel that", &[Unknown]),
        // quote
        ("how much is mosquito service", &[Quote]),
        ("what do you charge for termites", &[Quote]),
        ("price for bed bug treatment?", &[Quote]),
        ("cuánto cuesta para cucarachas", &[Quote]),
        ("whats the pricing for a one time spray", &[Quote]),
        // book
        ("I'd like to book a treatment for ants", &[Book]),
        ("can someone come out this week", &[Book]),
        ("I need an exterminator", &[Book]),
        ("I have roaches in my kitchen", &[Book]),
        ("spiders everywhere", &[Book]),
        ("wasp nest under the eaves outside", &[Book]),
        ("necesito fumigar mi casa", &[Book]),
        ("can you schedule me for friday", &[Book]),
        ("book it", &[Unknown]),
        // balance
        ("what's my balance", &[Balance]),
        ("can I pay my bill", &[Balance]),
        ("send me my invoices", &[Balance]),
        ("how much do I owe", &[Balance]),
        ("cuánto debo", &[Balance]),
        // billing dispute
        ("I was charged twice", &[BillingDispute]),
        ("this bill is wrong", &[BillingDispute]),
        ("I want a refund", &[BillingDispute]),
        ("why was I charged $150", &[BillingDispute]),
        ("I was quoted 99 but you charged me 150", &[BillingDispute]),
        ("me cobraron dos veces", &[BillingDispute]),
        // discount
        ("can I get a discount", &[Discount]),
        ("do you have a coupon", &[Discount]),
        ("I saw 50% off on your site", &[Discount]),
        ("any deals for seniors?", &[Discount]),
        // renegotiate
        ("I want to renegotiate my contract", &[Renegotiate]),
        ("can you lower my plan price", &[Renegotiate]),
        ("the price of my plan is too high", &[Renegotiate]),
        ("switch my plan to quarterly", &[Renegotiate]),
        // human
        ("let me talk to a real person", &[Human]),
        ("agent", &[Human]),
        ("representative please", &[Human]),
        ("I want to speak with a manager", &[Human]),
        ("hablar con un humano", &[Human]),
        ("operador", &[Human]),
        ("can someone call me back", &[Human]),
        ("I'm the property manager for 3 houses", &[Unknown]),
        // emergency
        ("there are wasps in my bedroom", &[Emergency]),
        ("bees inside the house!!", &[Emergency]),
        ("I got stung and my throat is swelling", &[Emergency]),
        ("my son is allergic to bees", &[Emergency]),
        ("the ceiling is sagging from termites", &[Emergency]),
        ("hay avispas en mi cuarto", &[Emergency]),
        ("not an emergency but I have ants", &[Book]),
        ("yellow jackets flying around in the kitchen", &[Emergency]),
        // hours, services
        ("what are your hours", &[Hours]),
        ("are you open on saturday", &[Hours]),
        ("what time do you close", &[Hours]),
        ("¿a qué hora abren?", &[Hours]),
        ("tech said he'd be there in 2 hours", &[Unknown]),
        ("what do you treat", &[Services]),
        ("do you guys do termite inspections", &[Services]),
        ("do you treat scorpions", &[Services]),
        ("what services do you offer", &[Services]),
        ("¿qué servicios ofrecen?", &[Services]),
        // appointment status, list
        ("when is my next service", &[AppointmentStatus]),
        ("is the tech coming today", &[AppointmentStatus]),
        ("what time is my appointment tomorrow", &[AppointmentStatus]),
        ("where's the technician?", &[AppointmentStatus]),
        ("the tech never showed up", &[AppointmentStatus]),
        ("cuándo viene el técnico", &[AppointmentStatus]),
        ("what appointments do I have", &[ListAppointments]),
        ("show me my upcoming visits", &[ListAppointments]),
        ("list my appointments", &[ListAppointments]),
        // social
        ("hi", &[Greeting]),
        ("Good morning!", &[Greeting]),
        ("hola buenas tardes", &[Greeting]),
        ("thanks!", &[Thanks]),
        ("thx so much", &[Thanks]),
        ("muchas gracias", &[Thanks]),
        ("no thanks", &[Unknown]),
        ("bye", &[Goodbye]),
        ("have a good night", &[Goodbye]),
        ("ok thanks, bye", &[Thanks, Goodbye]),
        ("no problem, thanks", &[Thanks]),
        // two requests in one message
        (
            "move my appt to friday and how much is mosquito service",
            &[Reschedule, Quote],
        ),
        (
            "hi, can I reschedule and also what's my balance",
            &[Greeting, Reschedule, Balance],
        ),
        (
            "cancel my appointment and let me talk to a manager",
            &[Cancel, Human],
        ),
        (
            "how much for termites? and are you open saturday",
            &[Quote, Hours],
        ),
        (
            "I was charged twice and I want to cancel",
            &[BillingDispute, Cancel],
        ),
        (
            "thanks! when is my next visit",
            &[Thanks, AppointmentStatus],
        ),
        (
            "wasps in the bedroom, can someone come asap",
            &[Emergency, Book],
        ),
        // more of how customers write
        (
            "Can I get on a monthly plan instead of quarterly",
            &[Renegotiate],
        ),
        ("You charged my card twice!!", &[BillingDispute]),
        ("why is my bill $300 this month", &[BillingDispute]),
        ("can u come 2morrow instead of thurs?", &[Reschedule]),
        ("pls call me at 512-555-0199", &[Human]),
        ("I want to file a complaint", &[Human]),
        (
            "I'm allergic to the spray you use, what are the ingredients?",
            &[Unknown],
        ),
        ("¿Tienen servicio para termitas?", &[Services]),
        ("Necesito una cita para el sábado en la mañana", &[Book]),
        ("tu técnico no llegó hoy", &[AppointmentStatus]),
        ("termite swarmers in my bathroom", &[Book]),
        ("I'm a veteran, do you offer any discount?", &[Discount]),
        ("We're going with another company", &[Cancel]),
        ("can the tech come after 5", &[Book]),
        ("When r u guys open 2morrow", &[Hours]),
        ("bees swarming inside my kids room HELP", &[Emergency]),
        (
            "my daughter got stung by a wasp and her face is swelling up",
            &[Emergency],
        ),
        ("what's the tech's eta", &[AppointmentStatus]),
        (
            "Buenas noches, quisiera saber mi saldo",
            &[Greeting, Balance],
        ),
        // nothing asked
        ("asdfgh", &[Unknown]),
        ("", &[Unknown]),
        ("yes", &[Unknown]),
        ("nice!", &[Unknown]),
        ("This is Bill Johnson", &[Unknown]),
    ];
    check_table(table, |(text, want)| {
        let got = u(text);
        (got.intents != *want).then(|| format!("{text:?}: want {want:?}, got {}", got.describe()))
    });
}

#[test]
fn yes_no() {
    let table: &[(&str, Option<bool>)] = &[
        ("yes", Some(true)),
        ("yep", Some(true)),
        ("Yeah", Some(true)),
        ("ya", Some(true)),
        ("yup!", Some(true)),
        ("sure", Some(true)),
        ("ok", Some(true)),
        ("okay", Some(true)),
        ("k", Some(true)),
        ("kk", Some(true)),
        ("sounds good", Some(true)),
        ("that works", Some(true)),
        ("perfect", Some(true)),
        ("do it", Some(true)),
        ("go ahead", Some(true)),
        ("please do", Some(true)),
        ("confirm", Some(true)),
        ("👍", Some(true)),
        ("👍🏽", Some(true)),
        ("sí", Some(true)),
        ("si", Some(true)),
        ("claro", Some(true)),
        ("dale", Some(true)),
        ("de acuerdo", Some(true)),
        ("está bien", Some(true)),
        ("Yes please!", Some(true)),
        ("yeah that works for me", Some(true)),
        ("ok thanks", Some(true)),
        ("Y", Some(true)),
        ("yes, friday works", Some(true)),
        ("friday works", Some(true)),
        ("yes I want that one", Some(true)),
        ("yes!! 🙏", Some(true)),
        ("ok 👍", Some(true)),
        ("Morning works", Some(true)),
        ("no", Some(false)),
        ("nope", Some(false)),
        ("nah", Some(false)),
        ("not really", Some(false)),
        ("don't", Some(false)),
        ("cancel that", Some(false)),
        ("never mind", Some(false)),
        ("nvm", Some(false)),
        ("wait", Some(false)),
        ("no gracias", Some(false)),
        ("no thanks", Some(false)),
        ("N", Some(false)),
        ("Nope, not friday", Some(false)),
        ("that doesn't work", Some(false)),
        ("no, not yet", Some(false)),
        ("nah im good", Some(false)),
        ("friday doesn't work", Some(false)),
        ("no problem, thanks", None),
        ("no worries", None),
        ("that's ok", None),
        ("yes but can it be thursday instead", None),
        ("no, how about monday?", None),
        ("ok so when is the tech coming", None),
        ("I'm not sure", None),
        ("there's no one home", None),
        ("thanks", None),
        ("si puedes venir el viernes", None),
        ("yes no", None),
        ("friday works?", None),
    ];
    check_table(table, |(text, want)| {
        let got = u(text);
        (got.yes_no != *want).then(|| format!("{text:?}: want {want:?}, got {}", got.describe()))
    });
}

#[test]
fn counter_proposals_carry_the_new_date() {
    let got = u("yes but can it be thursday instead");
    assert!(got.counter_proposal);
    assert_eq!(got.when.map(|w| w.dates), Some(vec![date(2026, 11, 26)]));
    let got = u("no, how about monday?");
    assert!(got.counter_proposal);
    assert!(!u("yes, friday works").counter_proposal);
    assert!(!u("yes but I also have ants").counter_proposal);
}

#[test]
fn when() {
    let table: &[(&str, Option<&str>)] = &[
        ("tomorrow", Some("Tue 2026-11-24")),
        ("tmrw", Some("Tue 2026-11-24")),
        ("2morrow", Some("Tue 2026-11-24")),
        ("today", Some("Mon 2026-11-23")),
        ("tonight", Some("Mon 2026-11-23 evening")),
        ("2nite", Some("Mon 2026-11-23 evening")),
        ("next tues", Some("Tue 2026-12-01")),
        ("tues", Some("Tue 2026-11-24")),
        ("this friday", Some("Fri 2026-11-27")),
        ("fri", Some("Fri 2026-11-27")),
        ("friday next week", Some("Fri 2026-12-04")),
        ("next week friday", Some("Fri 2026-12-04")),
        ("monday", Some("Mon 2026-11-30")),
        ("the 3rd", Some("Thu 2026-12-03")),
        ("on the 15th", Some("Tue 2026-12-15")),
        ("the 23rd", Some("Mon 2026-11-23")),
        ("Dec 9", Some("Wed 2026-12-09")),
        ("12/9", Some("Wed 2026-12-09")),
        ("12/9/2026", Some("Wed 2026-12-09")),
        ("december 9th", Some("Wed 2026-12-09")),
        ("9th of december", Some("Wed 2026-12-09")),
        ("Nov 20", Some("Sat 2027-11-20")),
        ("1/5", Some("Tue 2027-01-05")),
        ("25/12", Some("Fri 2026-12-25")),
        ("febuary 3rd", Some("Wed 2027-02-03")),
        ("next week", Some("2026-11-30..2026-12-06")),
        ("this week", Some("2026-11-23..2026-11-29")),
        ("this weekend", Some("2026-11-28..2026-11-29")),
        ("wknd", Some("2026-11-28..2026-11-29")),
        ("next month", Some("2026-12-01..2026-12-31")),
        ("sometime in december", Some("2026-12-01..2026-12-31")),
        ("in 2 days", Some("Wed 2026-11-25")),
        ("in a week", Some("Mon 2026-11-30")),
        ("day after tomorrow", Some("Wed 2026-11-25")),
        (
            "monday or tuesday",
            Some("Mon 2026-11-30 or Tue 2026-11-24"),
        ),
        ("mon/wed", Some("Mon 2026-11-30 or Wed 2026-11-25")),
        ("tomorrow morning", Some("Tue 2026-11-24 morning")),
        ("tmrw am", Some("Tue 2026-11-24 morning")),
        ("sat morning", Some("Sat 2026-11-28 morning")),
        ("tuesdy afternoon", Some("Tue 2026-11-24 afternoon")),
        ("thrusday pm", Some("Thu 2026-11-26 afternoon")),
        ("in the am", Some("morning")),
        ("afternoon", Some("afternoon")),
        ("anytime", Some("any")),
        ("after 2", Some("after 14:00")),
        ("after 2:30pm", Some("after 14:30")),
        ("before noon", Some("before 12:00")),
        ("before 10", Some("before 10:00")),
        ("between 2 and 4", Some("after 14:00 before 16:00")),
        ("2-4pm", Some("after 14:00 before 16:00")),
        ("at 3", Some("at 15:00")),
        ("10am", Some("at 10:00")),
        ("friday after 5pm", Some("Fri 2026-11-27 after 17:00")),
        ("asap", Some("asap")),
        ("next available", Some("asap")),
        ("not friday", Some("not 2026-11-27")),
        (
            "can't do tomorrow, how about thursday",
            Some("Thu 2026-11-26 not 2026-11-24"),
        ),
        ("move it from friday to monday", Some("Mon 2026-11-30")),
        ("can we do 10:30?", Some("at 10:30")),
        ("the 8-12 window", Some("after 08:00 before 12:00")),
        (
            "next Tuesday or Wednesday",
            Some("Tue 2026-12-01 or Wed 2026-12-02"),
        ),
        (
            "anytime next week except wednesday",
            Some("2026-11-30..2026-12-06 not 2026-12-02 any"),
        ),
        ("please don't come tomorrow", Some("not 2026-11-24")),
        ("I don't mind friday", Some("Fri 2026-11-27")),
        (
            "can u come 2morrow instead of thurs",
            Some("Tue 2026-11-24"),
        ),
        (
            "can u do tues or wed am",
            Some("Tue 2026-11-24 or Wed 2026-11-25 morning"),
        ),
        ("in 3 weeks", Some("Mon 2026-12-14")),
        ("Dec 1st works", Some("Tue 2026-12-01")),
        ("the 24th of December", Some("Thu 2026-12-24")),
        ("change it from 12/1 to 12/3", Some("Thu 2026-12-03")),
        ("tu técnico no llegó hoy", Some("Mon 2026-11-23")),
        ("no puedo el viernes", Some("not 2026-11-27")),
        // Spanish
        ("mañana", Some("Tue 2026-11-24")),
        ("en la mañana", Some("morning")),
        ("mañana en la mañana", Some("Tue 2026-11-24 morning")),
        ("mañana por la tarde", Some("Tue 2026-11-24 afternoon")),
        ("el viernes", Some("Fri 2026-11-27")),
        ("el próximo viernes", Some("Fri 2026-12-04")),
        ("la próxima semana", Some("2026-11-30..2026-12-06")),
        ("por la tarde", Some("afternoon")),
        ("esta noche", Some("Mon 2026-11-23 evening")),
        ("pasado mañana", Some("Wed 2026-11-25")),
        ("el 15 de diciembre", Some("Tue 2026-12-15")),
        ("el 9/12 por favor", Some("Wed 2026-12-09")),
        ("después de las 3", Some("after 15:00")),
        ("antes del mediodía", Some("before 12:00")),
        ("a las 10", Some("at 10:00")),
        // not dates
        ("good morning", None),
        ("buenos días", None),
        ("I am home", None),
        ("may I ask a question", None),
        ("I live at 12 Oak St", None),
        ("card exp 12/27", None),
        ("hasta mañana", None),
    ];
    check_table(table, |(text, want)| {
        let desc = u(text).when.as_ref().map(WhenSpec::describe);
        (desc.as_deref() != *want).then(|| format!("{text:?}: want {want:?}, got {desc:?}"))
    });
}

#[test]
fn late_night_tomorrow_is_the_day_that_just_began() {
    let now = date(2026, 11, 24)
        .and_hms_opt(1, 30, 0)
        .expect("valid time");
    let got = understand("can you come tomorrow", &Context::new(now));
    assert_eq!(got.when.map(|w| w.dates), Some(vec![date(2026, 11, 24)]));
}

#[test]
fn windows_are_checked_against_the_wish() {
    let t = |h| chrono::NaiveTime::from_hms_opt(h, 0, 0).expect("valid time");
    let w = u("friday morning").when.expect("a when");
    assert!(w.accepts(date(2026, 11, 27), t(8), t(12)));
    assert!(!w.accepts(date(2026, 11, 27), t(12), t(16)));
    assert!(!w.accepts(date(2026, 11, 26), t(8), t(12)));
    let w = u("next week after 2").when.expect("a when");
    assert!(w.accepts(date(2026, 12, 1), t(14), t(18)));
    assert!(!w.accepts(date(2026, 12, 1), t(12), t(16)));
    assert!(!w.accepts(date(2026, 11, 27), t(14), t(18)));
}

#[test]
fn pests() {
    use Pest::*;
    let table: &[(&str, &[Pest])] = &[
        ("ants in the kitchen", &[Ants]),
        ("those little roaches", &[Cockroaches]),
        ("german roaches", &[Cockroaches]),
        ("cockroaches", &[Cockroaches]),
        ("mice in the attic", &[Mice]),
        ("rats", &[Rats]),
        ("skeeters", &[Mosquitoes]),
        ("mosquitos", &[Mosquitoes]),
        ("termites", &[Termites]),
        ("wasps", &[Wasps]),
        ("yellow jackets", &[YellowJackets]),
        ("hornets", &[Hornets]),
        ("bees", &[Bees]),
        ("bed bugs", &[BedBugs]),
        ("bed-bugs", &[BedBugs]),
        ("spiders", &[Spiders]),
        ("scorpions", &[Scorpions]),
        ("fleas", &[Fleas]),
        ("ticks", &[Ticks]),
        ("silverfish", &[Silverfish]),
        ("crickets", &[Crickets]),
        ("hormigas", &[Ants]),
        ("cucarachas", &[Cockroaches]),
        ("ratones", &[Mice]),
        ("mosquitos y chinches", &[Mosquitoes, BedBugs]),
        ("avispas", &[Wasps]),
        ("termitas", &[Termites]),
        ("cockroches", &[Cockroaches]),
        ("termits", &[Termites]),
        ("mosqitos", &[Mosquitoes]),
        ("scorpians", &[Scorpions]),
        ("spyders", &[Spiders]),
        ("bedbugs and fleas and more bedbugs", &[BedBugs, Fleas]),
        ("what are your rates", &[]),
        ("I have a nice house", &[]),
        ("arts and crafts", &[]),
    ];
    check_table(table, |(text, want)| {
        let got = u(text).pests;
        (got != *want).then(|| format!("{text:?}: want {want:?}, got {got:?}"))
    });
}

#[test]
fn language() {
    let table: &[(&str, Lang)] = &[
        ("hola, quiero cambiar mi cita", Lang::Es),
        ("¿cuánto cuesta?", Lang::Es),
        ("gracias", Lang::Es),
        ("tengo cucarachas en la cocina", Lang::Es),
        ("mañana por la tarde", Lang::Es),
        ("hi can I move my appointment", Lang::En),
        ("ok", Lang::En),
        ("the mosquitos are back", Lang::En),
    ];
    for (text, want) in table {
        assert_eq!(u(text).language, *want, "{text}");
    }
}

struct Id {
    text: &'static str,
    name: Option<&'static str>,
    street_number: Option<&'static str>,
    street: &'static [&'static str],
    zip: Option<&'static str>,
    email: Option<&'static str>,
}

#[test]
fn identity_facts() {
    let id = |text, name, street_number, street, zip, email| Id {
        text,
        name,
        street_number,
        street,
        zip,
        email,
    };
    let table = [
        id(
            "this is John Smith",
            Some("John Smith"),
            None,
            &[],
            None,
            None,
        ),
        id(
            "this is john smith",
            Some("John Smith"),
            None,
            &[],
            None,
            None,
        ),
        id(
            "my name is maria lopez",
            Some("Maria Lopez"),
            None,
            &[],
            None,
            None,
        ),
        id("soy Ana García", Some("Ana García"), None, &[], None, None),
        id("me llamo josé", Some("José"), None, &[], None, None),
        id("I'm Sarah", Some("Sarah"), None, &[], None, None),
        id("im looking for help", None, None, &[], None, None),
        id("this is about my bill", None, None, &[], None, None),
        id("this is ridiculous", None, None, &[], None, None),
        id(
            "Hi, this is Bill Johnson at 4512 Oak Hollow Dr, 75001",
            Some("Bill Johnson"),
            Some("4512"),
            &["oak", "hollow"],
            Some("75001"),
            None,
        ),
        id(
            "4512 oak hollow",
            None,
            Some("4512"),
            &["oak", "hollow"],
            None,
            None,
        ),
        id("it's 4512", None, Some("4512"), &[], None, None),
        id("75001", None, Some("75001"), &[], Some("75001"), None),
        id("my zip is 75001", None, None, &[], Some("75001"), None),
        id(
            "I live at 12 Elm St",
            None,
            Some("12"),
            &["elm"],
            None,
            None,
        ),
        id(
            "123 Main St Apt 4B, Dallas TX 75201",
            None,
            Some("123"),
            &["main"],
            Some("75201"),
            None,
        ),
        id("I have 300 spiders", None, None, &[], None, None),
        id(
            "12345 Preston Rd",
            None,
            Some("12345"),
            &["preston"],
            None,
            None,
        ),
        id(
            "email me at J.Smith@Example.com please",
            None,
            None,
            &[],
            None,
            Some("j.smith@example.com"),
        ),
        id(
            "I live on Oak Hollow Drive",
            None,
            None,
            &["oak", "hollow"],
            None,
            None,
        ),
    ];
    check_table(&table, |c| {
        let got = u(c.text);
        let street: Vec<&str> = got.street_words.iter().map(String::as_str).collect();
        (got.name.as_deref() != c.name
            || got.street_number.as_deref() != c.street_number
            || street != c.street
            || got.zip.as_deref() != c.zip
            || got.email.as_deref() != c.email)
            .then(|| format!("{:?}: got {}", c.text, got.describe()))
    });
}

#[test]
fn picks_from_a_list() {
    use AppointmentRef::*;
    let table: &[(&str, Option<AppointmentRef>, bool)] = &[
        ("the first one", Some(Ordinal(1)), false),
        ("#2", Some(Ordinal(2)), false),
        ("the 2nd one", Some(Ordinal(2)), false),
        ("the 2nd", Some(Ordinal(2)), true),
        ("option 3", Some(Ordinal(3)), false),
        ("the second", Some(Ordinal(2)), false),
        ("la primera", Some(Ordinal(1)), false),
        ("the last one", Some(Last), false),
        ("2", Some(Ordinal(2)), false),
        (
            "the one on oak hollow",
            Some(Street(vec!["oak".into(), "hollow".into()])),
            false,
        ),
        (
            "the one at 123 main st",
            Some(Street(vec!["main".into()])),
            false,
        ),
        ("the one on friday", Some(Date(date(2026, 11, 27))), false),
        (
            "move my friday appointment to monday",
            Some(Date(date(2026, 11, 27))),
            false,
        ),
        ("this is the first time I've had ants", None, false),
        ("first", Some(Ordinal(1)), false),
        ("number 2", Some(Ordinal(2)), false),
        (
            "I think it's the Oak Street property",
            Some(Street(vec!["oak".into()])),
            false,
        ),
        (
            "its the one on maple",
            Some(Street(vec!["maple".into()])),
            false,
        ),
        ("on the 15th", None, false),
    ];
    check_table(table, |(text, want, also_date)| {
        let got = u(text);
        (got.appointment_ref != *want || got.ordinal_is_also_date != *also_date).then(|| {
            format!(
                "{text:?}: want {want:?}/{also_date}, got {}",
                got.describe()
            )
        })
    });
    // The date reading of "the 2nd" is there for the caller to choose.
    assert_eq!(
        u("the 2nd").when.map(|w| w.dates),
        Some(vec![date(2026, 12, 2)])
    );
    assert_eq!(
        u("move my friday appointment to monday")
            .when
            .map(|w| w.dates),
        Some(vec![date(2026, 11, 30)])
    );
}

#[test]
fn cards_are_flagged_and_never_read_as_anything_else() {
    let got = u("my card is 4111 1111 1111 1111 exp 12/27 cvv 123");
    assert!(got.card_like);
    assert_eq!(got.street_number, None);
    assert_eq!(got.zip, None);
    assert_eq!(got.when, None);
    assert!(!u("4512 Oak Hollow Dr 75001").card_like);
    assert_eq!(
        mask_secrets("pay with 5555-5555-5555-4444 security code 321"),
        "pay with [card ending 4444] security code [redacted]"
    );
}

#[test]
fn every_cue_word_survives_normalisation() {
    // A cue word that normalisation rewrites could never match.
    let mut broken = Vec::new();
    for w in intent::vocabulary().into_iter().chain(yesno::vocabulary()) {
        if w.chars().any(|c| c.is_alphanumeric()) && !w.contains('*') {
            let norms: Vec<String> = normalize::tokenize(w).into_iter().map(|t| t.norm).collect();
            if norms != [w.to_string()] {
                broken.push(format!("{w} -> {norms:?}"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn indexed_phrase_matching_finds_what_trying_every_pattern_finds() {
    // Messages: the examples each pattern is built to match (alone, after a word, before a
    // clause break), this file's own kind of text, and every scripted eval message.
    let mut texts: Vec<String> = vec![
        "Hi this is John, can you move my appt to Dec 9 morning? 4512 Oak Hollow Dr 75001".into(),
        "yes but can it be thursday instead".into(),
        "no, how about monday. friday works".into(),
        "el viernes no puedo, mejor el lunes por favor".into(),
        "50% off? 👍 ok thanks!! see ya".into(),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let scenarios = crate::eval::scenario::load_all(&[dir]).expect("eval scenarios load");
    texts.extend(scenarios.into_iter().flat_map(|s| s.turns));
    assert!(texts.len() > 200, "eval messages found: {}", texts.len());
    let mut sets = vec![intent::pattern_set()];
    sets.extend(yesno::pattern_sets());
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for set in sets {
        let mut messages: Vec<Vec<normalize::Token>> =
            texts.iter().map(|t| normalize::tokenize(t)).collect();
        for id in 0..set.len() {
            let examples = set.pattern(id).examples();
            // A clause break alone ("!" among the fillers) is never matched by any pattern.
            let only_breaks = examples
                .iter()
                .all(|e| e.iter().all(|t| t.is_clause_break()));
            if !only_breaks && !examples.iter().any(|e| set.pattern(id).find(e).is_some()) {
                failures.push(format!("pattern #{id} matches none of its examples"));
            }
            for example in examples {
                let mut after = normalize::tokenize("so");
                after.extend(example.iter().cloned());
                let mut before = example.clone();
                before.extend(normalize::tokenize(", ok"));
                messages.extend([example, after, before]);
            }
        }
        for toks in &messages {
            checked += 1;
            for d in set.disagreements(toks) {
                let words: Vec<&str> = toks.iter().map(|t| t.norm.as_str()).collect();
                failures.push(format!("{:?}: {d}", words.join(" ")));
            }
        }
    }
    assert!(checked > 1000, "messages checked: {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn describe_is_one_readable_line() {
    let got = u("Hi this is John, can you move my appt to Dec 9 morning? 4512 Oak Hollow Dr 75001");
    assert_eq!(
        got.describe(),
        "lang=en intents=[greeting,reschedule] when={Wed 2026-12-09 morning} street_number=4512 \
         street=\"oak hollow\" zip=75001 name=\"John\""
    );
}

#[test]
fn odd_inputs_never_panic() {
    let long_a = "a".repeat(5000);
    let long_mixed = "mañana 👍🏽 Привет 你好 مرحبا 12/9 #2 4111 ".repeat(200);
    let long_digits = "1234 5678 ".repeat(600);
    let fixed: Vec<&str> = vec![
        "",
        " ",
        "\n\t\r",
        &long_a,
        &long_mixed,
        &long_digits,
        "👍🏽👍🏿🏳️‍🌈👨‍👩‍👧",
        "Привет 你好 مرحبا mañana",
        "e\u{301}\u{301}\u{301}",
        "\u{0}\u{200f}\u{feff}",
        "İSTANBUL ß ǅ",
        "9999999999999999999999999",
        "12/99/9999",
        "31/31",
        "0/0",
        "the 0th",
        "the 99th",
        "99:99",
        "at 99",
        "at 0",
        "after 0:00am",
        "#999999999999",
        "in 99999999999 days",
        "in 60 weeks",
        "Dec 32",
        "Feb 29",
        "2/29",
        "2/29/2100",
        "////",
        "@@@@",
        "a@b@c.com",
        "cvv",
        "cvv 1",
        "security code",
        "código de seguridad",
        "1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1",
        "'''",
        "don'",
        "'s",
        "-",
        "%",
        "# % off",
        "the one on",
        "my name is",
        "this is",
        "from",
        "between 2 and",
        "2-",
        "next",
        "el",
        "la",
        "in a",
        "in a couple of",
        "a.m.",
        "3 a.",
        "3a.m",
        "¿¡",
    ];
    for text in fixed {
        let got = u(text);
        let _ = got.describe();
        let _ = mask_secrets(text);
    }
    // A deterministic stream of awkward strings.
    let alphabet: Vec<char> = "aeñ1 2/:#-.,?!'’👍🏽é\u{301}Жx9@%0".chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..400 {
        let mut s = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 60) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let got = u(&s);
        let _ = got.describe();
        let _ = mask_secrets(&s);
    }
}

#[test]
fn shorthand_is_expanded() {
    let table = [
        ("can u move ur appt", "can you move your appointment"),
        ("pls plz", "please please"),
        ("thx ty", "thanks thanks"),
        ("tmrw tmr 2morrow", "tomorrow tomorrow tomorrow"),
        ("wknd", "weekend"),
        ("resched reskedule", "reschedule reschedule"),
        ("need it rn asap", "need it right now asap"),
        ("2nite", "tonight"),
        ("appnt apt", "appointment appointment"),
        ("apt 4b", "apt 4 b"),
        (
            "cancle my appointmnet tuesdy",
            "cancel my appointment tuesday",
        ),
    ];
    for (text, want) in table {
        assert_eq!(normalized(text), want, "{text}");
    }
}

#[test]
fn serialises_with_stable_names() {
    let got =
        serde_json::to_value(u("bed bugs, can someone come the 2nd one")).expect("serialises");
    assert_eq!(got["intents"], serde_json::json!(["book"]));
    assert_eq!(got["pests"], serde_json::json!(["bed_bugs"]));
    assert_eq!(
        got["appointment_ref"],
        serde_json::json!({"kind": "ordinal", "value": 2})
    );
    assert_eq!(got["language"], serde_json::json!("en"));
}

#[test]
fn weekday_beside_its_date_names_that_date() {
    for text in ["tuesday december 1", "martes 1 de diciembre", "tues 12/1"] {
        let w = u(text).when.expect("a date");
        assert_eq!(w.dates, vec![date(2026, 12, 1)], "{text}");
    }
}

#[test]
fn relative_moves_count_from_the_visit() {
    let table: &[(&str, (i64, i64))] = &[
        ("can u bump my appt out like 7 days", (7, 10)),
        ("push it back a week", (7, 10)),
        ("a few days later", (2, 5)),
        ("same time next month", (28, 31)),
    ];
    for (text, want) in table {
        let w = u(text).when.expect("a move");
        assert_eq!(w.shift_days, Some(*want), "{text}");
        assert!(w.dates.is_empty(), "{text}");
    }
    assert!(u("can u bump my appt out like 7 days").has(Reschedule));
}

#[test]
fn spoken_zip_is_a_knowledge_factor() {
    for text in [
        "seven eight seven five six",
        "7 8 7 5 6",
        "my zip is seven eight seven five six",
    ] {
        assert_eq!(u(text).zip.as_deref(), Some("78756"), "{text}");
    }
    assert_eq!(u("seven eight seven oh four").zip.as_deref(), Some("78704"));
    assert_eq!(
        u("seven eight seven for eight").zip.as_deref(),
        Some("78748")
    );
    assert_eq!(u("its 7 8 7 4 8 to").zip.as_deref(), Some("78748"));
    assert_eq!(u("I want to go for it").zip, None);
    assert_eq!(u("the first one").zip, None);
}

#[test]
fn ya_does_not_switch_to_spanish() {
    for text in ["ya", "ya that works", "ya the first one"] {
        assert_eq!(u(text).language, Lang::En, "{text}");
    }
    assert_eq!(u("ya no puedo el viernes").language, Lang::Es);
}

#[test]
fn a_preference_with_a_fallback_keeps_both() {
    let w = u("thursday afternoon, otherwise friday")
        .when
        .expect("a wish");
    assert_eq!(w.dates, vec![date(2026, 11, 26)]);
    assert_eq!(w.part, Some(DayPart::Afternoon));
    let fb = w.fallback.expect("a fallback");
    assert_eq!(fb.dates, vec![date(2026, 11, 27)]);
    let w = u("Sat AM if you can, if not anything early next week")
        .when
        .expect("a wish");
    assert_eq!(w.dates, vec![date(2026, 11, 28)]);
    assert!(w.fallback.is_some());
    assert!(u("tuesday if not too much trouble")
        .when
        .expect("a wish")
        .fallback
        .is_none());
}

#[test]
fn texting_digits_and_shorthand_read_as_words() {
    let table = [
        (
            "cn u mve my apt 2 tues",
            "can you move my appointment to tuesday",
        ),
        ("hw much 4 moskito srvice", "how much for mosquito service"),
        ("how much 4 ants", "how much for ants"),
        ("pls mv my appt", "please move my appointment"),
        ("okie dokie", "ok dokey"),
        ("in the after noon", "in the afternoon"),
        // Numbers stay numbers where a number is meant.
        ("at 2 tomorrow", "at 2 tomorrow"),
        ("in 2 weeks", "in 2 weeks"),
        ("we have 4 bedrooms", "we have 4 bedrooms"),
        ("move it 2 days", "move it 2 days"),
        ("after noon", "after noon"),
    ];
    for (text, want) in table {
        assert_eq!(normalized(text), want, "{text}");
    }
}

#[test]
fn moves_and_questions_without_the_usual_verbs() {
    let table: &[(&str, &[Intent])] = &[
        ("can we do a week later", &[Reschedule]),
        ("can my appointment be a day later?", &[Reschedule]),
        (
            "could we do a couple days later than my appointment?",
            &[Reschedule],
        ),
        (
            "need to push my appointment a few days later",
            &[Reschedule],
        ),
        ("can you come tomorrow morning instead?", &[Reschedule]),
        (
            "can I switch to the afternoon on monday instead of the morning?",
            &[Reschedule],
        ),
        ("cn u mve my apt 2 tues 3/10 aftrnoon pls", &[Reschedule]),
        ("need my appt time", &[AppointmentStatus]),
        ("do I have anything scheduled?", &[AppointmentStatus]),
        ("hw much 4 moskito srvice", &[Quote]),
        ("can we change my appointment time", &[Reschedule]),
        ("I have to move one of the visits", &[Reschedule]),
        ("move the westgate blvd visit to friday", &[Reschedule]),
        ("move the car so the service guy can park", &[Unknown]),
        ("see you tuesday", &[Goodbye]),
    ];
    for (text, want) in table {
        assert_eq!(u(text).intents, *want, "{text}");
    }
    assert!(!u("switch to a monthly plan").has(Reschedule));
    assert_eq!(u("okie dokie").yes_no, Some(true));
    assert_eq!(u("hw much 4 moskito srvice").pests, vec![Pest::Mosquitoes]);
    assert_eq!(u("how much 4 ants").pests, vec![Pest::Ants]);
}

#[test]
fn day_numbers_without_a_month() {
    // Monday 2026-11-23: Tuesday the 1st and Wednesday the 2nd are in December.
    let table: &[(&str, NaiveDate)] = &[
        ("el martes 1 en la tarde", date(2026, 12, 1)),
        ("miercoles 2", date(2026, 12, 2)),
        ("move it to the tenth", date(2026, 12, 10)),
        ("on the twenty-first", date(2026, 12, 21)),
        ("friday december eleventh", date(2026, 12, 11)),
        (
            "saturday december twelfth in the morning",
            date(2026, 12, 12),
        ),
    ];
    for (text, want) in table {
        let w = u(text).when.expect("a date");
        assert_eq!(w.dates, vec![*want], "{text}");
    }
    // A number that is not that weekday's day, or is a time, leaves the weekday alone.
    let w = u("friday 9am").when.expect("a date");
    assert_eq!(w.dates, vec![date(2026, 11, 27)]);
    assert_eq!(w.at, NaiveTime::from_hms_opt(9, 0, 0));
    let w = u("tuesday 5").when.expect("a date");
    assert_eq!(w.dates, vec![date(2026, 11, 24)]);
    let w = u("move my appointment to the tenth in the after noon")
        .when
        .expect("a date");
    assert_eq!(w.dates, vec![date(2026, 12, 10)]);
    assert_eq!(w.part, Some(DayPart::Afternoon));
}

#[test]
fn moves_counted_from_the_visit_without_a_trailing_word() {
    let table: &[(&str, (i64, i64))] = &[
        ("yeah I need to bump my appointment a week", (7, 10)),
        ("push it 2 days", (2, 5)),
        ("can my appointment be a day later?", (1, 4)),
        ("hi can we move my service to the following week?", (7, 13)),
    ];
    for (text, want) in table {
        let w = u(text).when.expect("a move");
        assert_eq!(w.shift_days, Some(*want), "{text}");
    }
    for text in [
        "move it a day earlier",
        "move it to a day next week",
        "move it up a week",
    ] {
        assert_eq!(u(text).when.and_then(|w| w.shift_days), None, "{text}");
    }
}

#[test]
fn a_visit_named_by_its_street() {
    let got = u("need to move the tillery st service to thursday march 12 afternoon");
    assert_eq!(
        got.appointment_ref,
        Some(AppointmentRef::Street(vec!["tillery".to_string()]))
    );
    assert_eq!(got.street_words, ["tillery"]);
    let got = u("this is Dana, I need to move the visit at tillery street");
    assert_eq!(got.street_words, ["tillery"]);
    assert_eq!(
        u("this is jon smyth, do I have anything scheduled?")
            .name
            .as_deref(),
        Some("Jon Smyth")
    );
    assert_eq!(u("this is taking forever, I need help").name, None);
    let got = u("how much is the quarterly service");
    assert_eq!(got.appointment_ref, None);
    assert!(got.street_words.is_empty());
}
