//! Acceptance tests of customer search: misspelled names with part of the street among
//! thousands of look-alikes, tenant isolation, replacement and removal, hostile query
//! strings, and rebuilding from a real store (SQLite; the PostgreSQL trigram comparison is
//! an integration test, `tests/it/search.rs`).

use super::bench::synthetic_customers;
use super::*;
use crate::domain::{BusinessHours, Policy, TenantTz};
use crate::domain::{CustomerStatus, PhoneE164, PropertyKind, ZoneId};
use crate::store::{NewCustomer, NewProperty, NewTenant};

const T1: TenantId = TenantId(1);
const T2: TenantId = TenantId(2);

/// (id, name, street, city, zip, phone)
type Person = (
    i64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const PEOPLE: &[Person] = &[
    (
        1,
        "John Smith",
        "1402 Oak Hollow Dr",
        "Austin",
        "78745",
        "+15125550101",
    ),
    (
        2,
        "Jon Smith",
        "88 Elm St",
        "Austin",
        "78704",
        "+15125550102",
    ),
    (
        3,
        "Jon Smyth",
        "1402 Oakmont Ct",
        "Round Rock",
        "78664",
        "+15125550103",
    ),
    (
        4,
        "Jane Smythe",
        "7 Oak Hollow Dr",
        "Austin",
        "78745",
        "+15125550104",
    ),
    (
        5,
        "Maria Gonzalez",
        "310 Mesquite Trl",
        "San Antonio",
        "78209",
        "+12105550133",
    ),
    (
        6,
        "Kathleen O'Brien",
        "55 Shamrock Ln",
        "Austin",
        "78731",
        "+15125550106",
    ),
    (
        7,
        "Minh Nguyen",
        "2200 Parmer Lane",
        "Austin",
        "78727",
        "+15125550107",
    ),
    (
        8,
        "Stephen Schneider",
        "19 Whispering Pines Dr",
        "Cedar Park",
        "78613",
        "+15125550108",
    ),
    (
        9,
        "Steven Snyder",
        "21 Whispering Pines Dr",
        "Cedar Park",
        "78613",
        "+15125550109",
    ),
    (
        10,
        "Katherine Wojcik",
        "4410 Bluebonnet Blvd",
        "Pflugerville",
        "78660",
        "+15125550110",
    ),
    (
        11,
        "Acme Property Management",
        "600 Congress Ave",
        "Austin",
        "78701",
        "+15125550111",
    ),
    (
        12,
        "Bob Dubois",
        "12 Bayou Rd",
        "Houston",
        "77002",
        "+17135550112",
    ),
    (
        13,
        "Priya Patel",
        "8 Magnolia Cv",
        "Georgetown",
        "78626",
        "+15125550113",
    ),
    (
        14,
        "Priya Patil",
        "80 Magnolia Ct",
        "Georgetown",
        "78628",
        "+15125550114",
    ),
    (
        15,
        "José Núñez",
        "1500 Riverside Dr",
        "Austin",
        "78741",
        "+15125550115",
    ),
    (
        16,
        "Michael McDonald",
        "301 Heritage Way",
        "Round Rock",
        "78681",
        "+15125550116",
    ),
    (
        17,
        "Michelle MacDonald",
        "303 Heritage Way",
        "Round Rock",
        "78681",
        "+15125550117",
    ),
    (
        18,
        "Elizabeth Hernandez",
        "9 Canyon Creek Rd",
        "San Marcos",
        "78666",
        "+15125550118",
    ),
    (
        19,
        "Beth Fernandez",
        "9 Canyon Ridge Rd",
        "San Marcos",
        "78666",
        "+15125550119",
    ),
    (
        20,
        "Christopher Anderson",
        "77 Lakeview Pkwy",
        "Katy",
        "77494",
        "+12815550120",
    ),
    (
        21,
        "Kristopher Andersen",
        "77 Lakeshore Pkwy",
        "Katy",
        "77450",
        "+12815550121",
    ),
    (
        22,
        "Thomas Wright",
        "5 Eagle Pass",
        "Plano",
        "75024",
        "+19725550122",
    ),
    (
        23,
        "Aisha Okafor",
        "1200 Sunset Blvd",
        "Phoenix",
        "85001",
        "+16025550123",
    ),
    (
        24,
        "Wei Chen",
        "33 Lotus Ct",
        "Plano",
        "75025",
        "+19725550124",
    ),
    (
        25,
        "Wei Cheng",
        "33 Lotus Ln",
        "Plano",
        "75025",
        "+19725550125",
    ),
    (
        26,
        "Larry Hoffman",
        "4000 Windy Ridge Rd",
        "Tampa",
        "33602",
        "+18135550126",
    ),
    (
        27,
        "Harriet Hoffmann",
        "4001 Windy Ridge Rd",
        "Tampa",
        "33602",
        "+18135550127",
    ),
    (
        28,
        "Gabriel Garza",
        "18 Pecan Grove Ct",
        "New Braunfels",
        "78130",
        "+18305550128",
    ),
    (
        29,
        "Gabriela Garza",
        "18 Pecan Grove Ct",
        "New Braunfels",
        "78130",
        "+18305550129",
    ),
    (
        30,
        "Ana Lopez",
        "1402 Oak Hollow Dr",
        "Houston",
        "77019",
        "+17135550130",
    ),
];

fn person_doc(p: &Person) -> CustomerDoc {
    let (id, name, street, city, zip, phone) = *p;
    let email = format!("{}@example.net", name.to_lowercase().replace(' ', "."));
    CustomerDoc {
        id: CustomerId(id),
        name: name.to_string(),
        addresses: vec![(street.into(), city.into(), zip.into())],
        phones: vec![phone.into()],
        emails: vec![email],
    }
}

/// The hand-made people plus 3,000 generated look-alikes (same name and street lists).
fn populated_index() -> SearchIndex {
    let index = SearchIndex::new_in_ram().expect("index");
    let people: Vec<CustomerDoc> = PEOPLE.iter().map(person_doc).collect();
    index.upsert_many(T1, &people).expect("upsert people");
    let distractors: Vec<CustomerDoc> = synthetic_customers(3000, 7)
        .iter()
        .enumerate()
        .map(|(i, c)| c.to_doc(CustomerId(1000 + i as i64)))
        .collect();
    index
        .upsert_many(T1, &distractors)
        .expect("upsert distractors");
    index
}

fn ids(hits: &[SearchHit]) -> Vec<i64> {
    hits.iter().map(|h| h.customer_id.0).collect()
}

#[test]
fn misspelled_name_and_part_of_the_street_find_the_customer_first() {
    let index = populated_index();
    let cases: &[(&str, i64)] = &[
        ("jhon smith oak hollow", 1),
        ("smyth oakmont", 3),
        ("jane smithe oak", 4),
        ("gonzales mesquite", 5),
        ("5550133", 5),
        ("1402 oak hollow 78745", 1),
        ("1402 oak hollow drive houston", 30),
        ("(512) 555-0104", 4),
        ("+1 512 555 0101", 1),
        ("kathleen obrien", 6),
        ("o'brian shamrock", 6),
        ("minh nguyen parmer ln", 7),
        ("steven schnieder whispering", 8),
        ("snyder 21 whispering pines", 9),
        ("katherine wojick", 10),
        ("acme propery congress", 11),
        ("bob.dubois@example.net", 12),
        ("priya patel magnolia cove", 13),
        ("priya patil magnolia court", 14),
        ("jose nunez riverside", 15),
        ("Núñez", 15),
        ("micheal mcdonald heritage", 16),
        ("michelle macdonald 303", 17),
        ("elizabeth hernandes canyon creek", 18),
        ("kristopher andersen lakeshore", 21),
        ("christopher anderson lakeview", 20),
        ("wei cheng lotus lane", 25),
        ("hofman windy ridge 4000", 26),
        ("harriet hofman windy", 27),
        ("gabriela garza pecan", 29),
        ("gabriel garza pecan", 28),
        ("aisha okafr sunset", 23),
    ];
    let mut failures = Vec::new();
    for (q, expected) in cases {
        let hits = index.search(T1, q, 5).expect("search");
        if hits.first().map(|h| h.customer_id.0) != Some(*expected) {
            failures.push(format!("{q:?}: expected {expected}, got {:?}", ids(&hits)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn typo_only_queries_reach_the_intended_spelling() {
    let index = SearchIndex::new_in_ram().expect("index");
    let people: Vec<CustomerDoc> = PEOPLE.iter().map(person_doc).collect();
    index.upsert_many(T1, &people).expect("upsert");
    let cases: &[(&str, i64)] = &[("gonzales", 5), ("wojick", 10), ("okafr", 23), ("smyht", 3)];
    for (q, expected) in cases {
        let hits = index.search(T1, q, 10).expect("search");
        assert_eq!(
            hits.first().map(|h| h.customer_id.0),
            Some(*expected),
            "{q}: {:?}",
            ids(&hits)
        );
    }
}

#[test]
fn equal_scores_break_ties_by_customer_id_and_report_matched_fields() {
    let index = SearchIndex::new_in_ram().expect("index");
    let people: Vec<CustomerDoc> = PEOPLE.iter().map(person_doc).collect();
    index.upsert_many(T1, &people).expect("upsert");
    let hits = index.search(T1, "oak hollow dr", 10).expect("search");
    assert_eq!(ids(&hits)[..3], [1, 4, 30]);
    assert_eq!(hits[0].score, hits[1].score);
    assert_eq!(hits[0].matched, ["street"]);
    let hits = index.search(T1, "jhon 78745", 1).expect("search");
    assert_eq!(ids(&hits), [1]);
    assert_eq!(hits[0].matched, ["name", "zip"]);
    // Scores fall monotonically.
    let hits = index.search(T1, "smith", 10).expect("search");
    assert_eq!(
        ids(&hits)[..3],
        [1, 2, 3],
        "exact before one typo, then by id"
    );
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn every_query_stays_inside_its_tenant() {
    let index = SearchIndex::new_in_ram().expect("index");
    let john = person_doc(&PEOPLE[0]);
    let mut twin = john.clone();
    twin.id = CustomerId(501);
    let mut only_t2 = person_doc(&PEOPLE[4]);
    only_t2.id = CustomerId(502);
    index.upsert(T1, &john).expect("t1");
    index.upsert_many(T2, &[twin, only_t2]).expect("t2");

    for q in ["john smith", "jhon smith oak hollow", "5550101", "1402"] {
        assert_eq!(ids(&index.search(T1, q, 10).expect("t1")), [1], "{q}");
        assert_eq!(ids(&index.search(T2, q, 10).expect("t2")), [501], "{q}");
    }
    assert!(index.search(T1, "gonzalez", 10).expect("t1").is_empty());
    assert_eq!(ids(&index.search(T2, "gonzalez", 10).expect("t2")), [502]);
    assert!(index
        .search(TenantId(3), "smith", 10)
        .expect("t3")
        .is_empty());
    // The same customer id in two tenants is two documents; removing one keeps the other.
    let mut same_id = john.clone();
    same_id.name = "John Carter".into();
    index.upsert(T2, &same_id).expect("t2 same id");
    index.remove(T1, CustomerId(1)).expect("remove");
    assert!(index.search(T1, "john", 10).expect("t1").is_empty());
    assert_eq!(ids(&index.search(T2, "carter", 10).expect("t2")), [1]);
}

#[test]
fn upsert_replaces_and_remove_deletes() {
    let index = SearchIndex::new_in_ram().expect("index");
    let mut doc = person_doc(&PEOPLE[0]);
    index.upsert(T1, &doc).expect("upsert");
    assert_eq!(ids(&index.search(T1, "smith", 10).expect("search")), [1]);

    doc.name = "John Brown".into();
    doc.emails = vec!["jb@example.org".into()];
    doc.addresses = vec![("9 Pine St".into(), "Dallas".into(), "75201".into())];
    index.upsert(T1, &doc).expect("rename");
    assert_eq!(ids(&index.search(T1, "john brown", 10).expect("new")), [1]);
    assert!(index.search(T1, "smith", 10).expect("old name").is_empty());
    assert!(index
        .search(T1, "oak hollow", 10)
        .expect("old street")
        .is_empty());
    assert_eq!(index.count(T1).expect("count"), 1);

    index.remove(T1, CustomerId(1)).expect("remove");
    index
        .remove(T1, CustomerId(77))
        .expect("removing an unknown id is fine");
    assert!(index.search(T1, "black", 10).expect("removed").is_empty());
    assert_eq!(index.count(T1).expect("count"), 0);
}

#[test]
fn odd_queries_neither_fail_nor_match_everything() {
    let index = SearchIndex::new_in_ram().expect("index");
    let people: Vec<CustomerDoc> = PEOPLE.iter().map(person_doc).collect();
    index.upsert_many(T1, &people).expect("upsert");
    let long = "a".repeat(500);
    let many = "smith ".repeat(100);
    let mixed = "é🐜".repeat(200);
    let empty_ones = [
        "",
        "   ",
        "!!!",
        "\"",
        "*",
        "-",
        "::",
        "^",
        "\\",
        "\u{0}",
        "🐜🐜🐜",
        "()",
        "[ TO ]",
        long.as_str(),
        mixed.as_str(),
    ];
    for q in empty_ones {
        let hits = index.search(T1, q, 10).expect(q);
        assert!(hits.is_empty(), "{q:?} matched {:?}", ids(&hits));
    }
    let syntax = [
        "smith~2",
        "name:smith",
        "(smith OR",
        "smith AND",
        "+smith -jon",
        "\"smith\"",
        "smith^3",
        "sm*th",
        "smith?",
        "{smith}",
        "smith/oak",
        many.as_str(),
        "Ω≈ç√ smith",
    ];
    for q in syntax {
        let hits = index.search(T1, q, 10).expect(q);
        assert!(!hits.is_empty(), "{q:?} should still find the Smiths");
    }
    for q in [
        "+1 (512)",
        "0",
        "00000000000000000000000000000000000000",
        "1 2 3 4 5 6 7 8 9",
    ] {
        index.search(T1, q, 10).expect(q);
    }
    assert!(index.search(T1, "smith", 0).expect("limit 0").is_empty());
    assert!(
        index
            .search(T1, "smith", usize::MAX)
            .expect("huge limit")
            .len()
            <= MAX_LIMIT
    );
}

fn tenant(slug: &str) -> NewTenant {
    NewTenant {
        slug: slug.into(),
        name: format!("{slug} pest control"),
        timezone: TenantTz::parse("America/Chicago").expect("tz"),
        business_hours: BusinessHours::default(),
        policy: Policy::default(),
        phone_numbers: Vec::new(),
        on_call_number: None,
        office_phone: None,
        branding: serde_json::Value::Null,
    }
}

fn new_customer(p: &Person, zone: ZoneId) -> NewCustomer {
    let (_, name, street, city, zip, phone) = *p;
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    NewCustomer {
        first_name: first.into(),
        last_name: last.into(),
        company: None,
        status: CustomerStatus::Active,
        autopay: false,
        phones: vec![PhoneE164::parse(phone).expect("phone")],
        emails: vec![format!("{}@example.net", first.to_lowercase())],
        properties: vec![NewProperty {
            street: street.into(),
            city: city.into(),
            state: "TX".into(),
            zip: zip.into(),
            zone_id: zone,
            sq_ft: Some(1800),
            kind: PropertyKind::Residential,
        }],
    }
}

#[tokio::test]
async fn rebuild_loads_a_tenant_from_the_store_and_drops_stale_documents() {
    let store = Store::connect("sqlite::memory:", 1).await.expect("store");
    let a = store
        .insert_tenant(&tenant("acme"), 0)
        .await
        .expect("tenant a");
    let b = store
        .insert_tenant(&tenant("bugs"), 0)
        .await
        .expect("tenant b");
    let zone_a = store.insert_zone(a, "N", "North").await.expect("zone a");
    let zone_b = store.insert_zone(b, "S", "South").await.expect("zone b");
    let for_a: Vec<NewCustomer> = PEOPLE[..4]
        .iter()
        .map(|p| new_customer(p, zone_a))
        .collect();
    let ids_a = store
        .insert_customers(a, &for_a, 0)
        .await
        .expect("customers a");
    // More than one page of the rebuild for tenant b.
    let for_b: Vec<NewCustomer> = synthetic_customers(2500, 3)
        .iter()
        .map(|c| c.to_new_customer(zone_b))
        .collect();
    store
        .insert_customers(b, &for_b, 0)
        .await
        .expect("customers b");

    let index = SearchIndex::new_in_ram().expect("index");
    let mut stale = person_doc(&PEOPLE[4]);
    stale.id = CustomerId(99_999);
    index.upsert(a, &stale).expect("stale doc");

    assert_eq!(index.rebuild(&store, a).await.expect("rebuild a"), 4);
    assert_eq!(index.rebuild(&store, b).await.expect("rebuild b"), 2500);
    assert_eq!(index.count(a).expect("count a"), 4);
    assert_eq!(index.count(b).expect("count b"), 2500);

    let hits = index.search(a, "jhon smith oak hollow", 3).expect("search");
    assert_eq!(hits.first().map(|h| h.customer_id), Some(ids_a[0]));
    assert!(index.search(a, "gonzalez", 10).expect("stale").is_empty());
    let hits = index.search(a, "5550104", 3).expect("phone");
    assert_eq!(hits.first().map(|h| h.customer_id), Some(ids_a[3]));

    // Rebuilding again is idempotent and leaves the other tenant alone.
    assert_eq!(index.rebuild(&store, a).await.expect("again"), 4);
    assert_eq!(index.count(a).expect("count a"), 4);
    assert_eq!(index.count(b).expect("count b"), 2500);
}

#[tokio::test]
async fn writes_made_during_a_rebuild_win_over_what_it_read() {
    let store = Store::connect("sqlite::memory:", 1).await.expect("store");
    let t = store
        .insert_tenant(&tenant("acme"), 0)
        .await
        .expect("tenant");
    let zone = store.insert_zone(t, "N", "North").await.expect("zone");
    let rows: Vec<NewCustomer> = PEOPLE[..3].iter().map(|p| new_customer(p, zone)).collect();
    let stored = store
        .insert_customers(t, &rows, 0)
        .await
        .expect("customers");
    let index = SearchIndex::new_in_ram().expect("index");

    let rebuild = index.rebuild(&store, t);
    tokio::pin!(rebuild);
    let first_poll = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(rebuild.as_mut(), cx))
    })
    .await;
    assert!(first_poll.is_pending(), "the rebuild waits on the store");

    // Meanwhile the API renames one customer and deletes another, store first, then index.
    let mut renamed = person_doc(&PEOPLE[0]);
    renamed.id = stored[0];
    renamed.name = "John Renamed".into();
    renamed.emails = vec!["jr@example.org".into()];
    index.upsert(t, &renamed).expect("upsert during rebuild");
    index.remove(t, stored[1]).expect("remove during rebuild");
    assert!(matches!(
        index.rebuild(&store, t).await,
        Err(SearchError::RebuildInProgress(busy)) if busy == t
    ));

    assert_eq!(rebuild.await.expect("rebuild"), 3);
    assert_eq!(
        ids(&index.search(t, "renamed", 5).expect("new name")),
        [stored[0].0]
    );
    assert!(!ids(&index.search(t, "smith", 5).expect("old name")).contains(&stored[0].0));
    assert!(!ids(&index.search(t, "jon smith elm", 5).expect("removed")).contains(&stored[1].0));
    assert_eq!(index.count(t).expect("count"), 2);
    // Once finished, the tenant can be rebuilt again; now the store's version wins.
    assert_eq!(index.rebuild(&store, t).await.expect("again"), 3);
    assert_eq!(
        ids(&index.search(t, "john smith oak", 1).expect("store")),
        [stored[0].0]
    );
}

#[test]
fn an_index_on_disk_survives_reopening() {
    let dir = std::env::temp_dir().join(format!("frontdesk-search-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let index = SearchIndex::open_in_dir(&dir).expect("create");
        index.upsert(T1, &person_doc(&PEOPLE[0])).expect("upsert");
        index.commit().expect("commit");
    }
    let index = SearchIndex::open_in_dir(&dir).expect("reopen");
    assert_eq!(
        ids(&index.search(T1, "jhon smith", 5).expect("search")),
        [1]
    );
    assert!(index.size_bytes().expect("size") > 0);
    drop(index);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[tokio::test]
async fn a_rebuild_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let store = Store::connect("sqlite::memory:", 1).await.expect("store");
    let index = SearchIndex::new_in_ram().expect("index");
    let rebuild = index.rebuild(&store, T1);
    assert_send(&rebuild);
    assert_eq!(rebuild.await.expect("empty store"), 0);
}

#[test]
fn the_index_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SearchIndex>();
    let index = std::sync::Arc::new(SearchIndex::new_in_ram().expect("index"));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let index = index.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let mut doc = person_doc(&PEOPLE[(t * 25 + i) % PEOPLE.len()]);
                    doc.id = CustomerId((t * 100 + i) as i64 + 1);
                    index.upsert(T1, &doc).expect("upsert");
                    // Each thread sees its own write at once.
                    let hits = index.search(T1, &doc.name, MAX_LIMIT).expect("search");
                    assert!(hits.iter().any(|h| h.customer_id == doc.id));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(index.count(T1).expect("count"), 100);
}

#[test]
fn synthetic_queries_mostly_find_their_target_first() {
    let report = bench::bench_queries(5_000, 200, 11, None).expect("bench");
    assert_eq!(report.docs, 5_000);
    assert_eq!(report.queries, 200);
    eprintln!("{report}");
    assert!(report.top1 * 100 >= report.queries * 85, "{report}");
    assert!(report.top5 * 100 >= report.queries * 95, "{report}");
}
