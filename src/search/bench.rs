//! Search benchmark: synthetic customers with realistic names and streets, queries that
//! misspell a name and give part of the street (as callers and CSRs type them), and the
//! figures that matter: build time, index size, process memory, latency percentiles and how
//! often the intended customer comes first. The same queries can be run through the
//! PostgreSQL trigram search for comparison. Generation is seeded and deterministic.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{SearchError, SearchIndex};
use crate::domain::{CustomerId, CustomerStatus, PhoneE164, PropertyKind, TenantId, ZoneId};
use crate::seed::rng::SplitMix64;
use crate::store::{display_name, CustomerDoc, NewCustomer, NewProperty, Store, StoreError};

// Comma-separated lists (an empty entry means "no second word").
const FIRST_NAMES: &str = "\
    James,Mary,John,Patricia,Robert,Jennifer,Michael,Linda,William,Elizabeth,David,\
    Barbara,Richard,Susan,Joseph,Jessica,Thomas,Sarah,Charles,Karen,Christopher,Nancy,\
    Daniel,Lisa,Matthew,Betty,Anthony,Margaret,Mark,Sandra,Donald,Ashley,Steven,\
    Kimberly,Paul,Emily,Andrew,Donna,Joshua,Michelle,Kenneth,Dorothy,Kevin,Carol,Brian,\
    Amanda,George,Melissa,Edward,Deborah,Ronald,Stephanie,Timothy,Rebecca,Jason,Sharon,\
    Jeffrey,Laura,Ryan,Cynthia,Jacob,Kathleen,Gary,Amy,Nicholas,Shirley,Eric,Angela,\
    Jonathan,Helen,Stephen,Anna,Larry,Brenda,Justin,Pamela,Scott,Nicole,Brandon,\
    Samantha,Benjamin,Katherine,Samuel,Emma,Gregory,Ruth,Frank,Christine,Alexander,\
    Catherine,Raymond,Debra,Patrick,Rachel,Jack,Carolyn,Dennis,Janet,Jerry,Virginia,\
    Tyler,Maria,Aaron,Heather,Jose,Diane,Adam,Julie,Henry,Joyce,Nathan,Victoria,Douglas,\
    Kelly,Zachary,Christina,Peter,Joan,Kyle,Evelyn,Walter,Lauren,Ethan,Judith,Jeremy,\
    Olivia,Harold,Martha,Keith,Cheryl,Christian,Megan,Roger,Andrea,Noah,Hannah,Gerald,\
    Jacqueline,Carl,Ann,Terry,Jean,Sean,Alice,Austin,Kathryn,Arthur,Gloria,Lawrence,\
    Teresa,Jesse,Doris,Dylan,Sara,Bryan,Janice,Joe,Julia,Jordan,Marie,Billy,Madison,\
    Bruce,Grace,Albert,Judy,Willie,Theresa,Gabriel,Beverly,Logan,Denise,Alan,Marilyn,\
    Juan,Amber,Wayne,Danielle,Roy,Rose,Ralph,Brittany,Randy,Diana,Eugene,Abigail,\
    Vincent,Natalie,Russell,Jane,Louis,Lori,Bobby,Alexis,Philip,Tiffany,Johnny,Kayla,\
    Luis,Carlos,Miguel,Jorge,Rosa,Guadalupe,Minh,Wei,Priya,Aisha";

const LAST_NAMES: &str = "\
    Smith,Johnson,Williams,Brown,Jones,Garcia,Miller,Davis,Rodriguez,Martinez,Hernandez,\
    Lopez,Gonzalez,Wilson,Anderson,Thomas,Taylor,Moore,Jackson,Martin,Lee,Perez,\
    Thompson,White,Harris,Sanchez,Clark,Ramirez,Lewis,Robinson,Walker,Young,Allen,King,\
    Wright,Scott,Torres,Nguyen,Hill,Flores,Green,Adams,Nelson,Baker,Hall,Rivera,\
    Campbell,Mitchell,Carter,Roberts,Gomez,Phillips,Evans,Turner,Diaz,Parker,Cruz,\
    Edwards,Collins,Reyes,Stewart,Morris,Morales,Murphy,Cook,Rogers,Gutierrez,Ortiz,\
    Morgan,Cooper,Peterson,Bailey,Reed,Kelly,Howard,Ramos,Kim,Cox,Ward,Richardson,\
    Watson,Brooks,Chavez,Wood,James,Bennett,Gray,Mendoza,Ruiz,Hughes,Price,Alvarez,\
    Castillo,Sanders,Patel,Myers,Long,Ross,Foster,Jimenez,Powell,Jenkins,Perry,Russell,\
    Sullivan,Bell,Coleman,Butler,Henderson,Barnes,Gonzales,Fisher,Vasquez,Simmons,\
    Romero,Jordan,Patterson,Alexander,Hamilton,Graham,Reynolds,Griffin,Wallace,Moreno,\
    West,Cole,Hayes,Bryant,Herrera,Gibson,Ellis,Tran,Medina,Aguilar,Stevens,Murray,Ford,\
    Castro,Marshall,Owens,Harrison,Fernandez,McDonald,Woods,Washington,Kennedy,Wells,\
    Vargas,Henry,Chen,Freeman,Webb,Tucker,Guzman,Burns,Crawford,Olson,Simpson,Porter,\
    Hunter,Gordon,Mendez,Silva,Shaw,Snyder,Mason,Dixon,Munoz,Hunt,Hicks,Holmes,Palmer,\
    Wagner,Black,Robertson,Boyd,Rose,Stone,Salazar,Fox,Warren,Mills,Meyer,Rice,Schmidt,\
    Garza,Daniels,Ferguson,Nichols,Stephens,Soto,Weaver,Ryan,Gardner,Payne,Grant,Dunn,\
    Kelley,Spencer,Hawkins,Arnold,Pierce,Vazquez,Hansen,Peters,Santos,Hart,Bradley,\
    Knight,Elliott,Cunningham,Duncan,Armstrong,Hudson,Carroll,Lane,Riley,Andrews,Ray,\
    Berry,Perkins,Hoffman,Smyth,Smythe,O'Brien,Schneider,Kowalski,Nakamura,Okafor,\
    Larsen,Dubois";

const STREET_FIRST: &str = "\
    Oak,Cedar,Pine,Maple,Elm,Willow,Birch,Hickory,Pecan,Magnolia,Cypress,Juniper,\
    Mesquite,Live Oak,Red Bud,Sycamore,Aspen,Spruce,Walnut,Chestnut,Laurel,Holly,\
    Dogwood,Poplar,Sage,Bluebonnet,Eagle,Falcon,Hawk,Quail,Deer,Fox,Bear,Wolf,Stone,\
    River,Lake,Spring,Meadow,Prairie,Valley,Canyon,Mission,Ranch,Shadow,Sunset,Sunrise,\
    Silver,Golden,Crystal,Hidden,Quiet,Lost,Windy,Rolling,Misty,Stoney,Amber,Copper,\
    Granite,Highland,Lakeview,Brook,Creek,Forest,Harbor,Heritage,Liberty,Pioneer,\
    Frontier";

const STREET_SECOND: &str = "\
    ,,,Hollow,Ridge,Creek,Hill,Park,Grove,Glen,Bend,Crest,View,Point,Trace,Run,Springs,\
    Meadow,Field,Wood,Brook,Vista,Pass,Bluff,Mont,Haven,Landing,Crossing";

const STREET_SUFFIXES: &str = "\
    St,Dr,Ln,Ct,Ave,Rd,Blvd,Way,Cir,Trl,Pl,Cv,Loop,Pkwy";

const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Austin", "TX", "787", "512"),
    ("Round Rock", "TX", "786", "512"),
    ("Pflugerville", "TX", "786", "512"),
    ("Cedar Park", "TX", "786", "512"),
    ("Georgetown", "TX", "786", "512"),
    ("San Marcos", "TX", "786", "512"),
    ("San Antonio", "TX", "782", "210"),
    ("New Braunfels", "TX", "781", "830"),
    ("Houston", "TX", "770", "713"),
    ("Katy", "TX", "774", "281"),
    ("Dallas", "TX", "752", "214"),
    ("Plano", "TX", "750", "972"),
    ("Fort Worth", "TX", "761", "817"),
    ("Phoenix", "AZ", "850", "602"),
    ("Mesa", "AZ", "852", "480"),
    ("Tampa", "FL", "336", "813"),
    ("Orlando", "FL", "328", "407"),
    ("Atlanta", "GA", "303", "404"),
    ("Charlotte", "NC", "282", "704"),
    ("Nashville", "TN", "372", "615"),
];

/// A small deterministic generator (the seeded worlds' SplitMix64, drawn by remainder): the
/// same seed gives the same data.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    /// A number in `0..n` (`0` when `n` is zero).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.0.next_u64() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }
}

/// One generated customer with a single residential property.
#[derive(Debug, Clone)]
pub struct SyntheticCustomer {
    pub first: String,
    pub last: String,
    pub street_number: u32,
    /// The street without its number, e.g. `Oak Hollow Dr`.
    pub street_name: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub phone: PhoneE164,
    pub email: String,
}

impl SyntheticCustomer {
    pub fn street(&self) -> String {
        format!("{} {}", self.street_number, self.street_name)
    }

    /// The customer as the search index sees it, under the given id.
    pub fn to_doc(&self, id: CustomerId) -> CustomerDoc {
        CustomerDoc {
            id,
            name: display_name(&self.first, &self.last, None),
            addresses: vec![(self.street(), self.city.clone(), self.zip.clone())],
            phones: vec![self.phone.as_str().to_string()],
            emails: vec![self.email.clone()],
        }
    }

    /// The customer as the store inserts it, its property in the given zone.
    pub fn to_new_customer(&self, zone: ZoneId) -> NewCustomer {
        NewCustomer {
            first_name: self.first.clone(),
            last_name: self.last.clone(),
            company: None,
            status: CustomerStatus::Active,
            autopay: false,
            phones: vec![self.phone.clone()],
            emails: vec![self.email.clone()],
            properties: vec![NewProperty {
                street: self.street(),
                city: self.city.clone(),
                state: self.state.clone(),
                zip: self.zip.clone(),
                zone_id: zone,
                sq_ft: None,
                kind: PropertyKind::Residential,
            }],
        }
    }
}

/// `n` customers drawn from common US first and last names, two-word street names and
/// cities with their zip prefixes and area codes.
pub fn synthetic_customers(n: usize, seed: u64) -> Vec<SyntheticCustomer> {
    let list = |s: &'static str| -> Vec<&'static str> { s.split(',').collect() };
    let first_names = list(FIRST_NAMES);
    let last_names = list(LAST_NAMES);
    let street_first = list(STREET_FIRST);
    let street_second = list(STREET_SECOND);
    let street_suffixes = list(STREET_SUFFIXES);
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let first = rng.pick(&first_names).to_string();
        let last = rng.pick(&last_names).to_string();
        let second = rng.pick(&street_second);
        let street_name = [rng.pick(&street_first), second, rng.pick(&street_suffixes)]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let (city, state, zip3, area) = CITIES[rng.below(CITIES.len())];
        let zip = format!("{zip3}{:02}", rng.below(100));
        let exchange = 200 + rng.below(800);
        let line = rng.below(10_000);
        let Ok(phone) = PhoneE164::parse(&format!("+1{area}{exchange}{line:04}")) else {
            continue;
        };
        let local: String = format!("{}.{}", first, last)
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let email = format!("{local}{}@example.com", rng.below(1000));
        out.push(SyntheticCustomer {
            first,
            last,
            street_number: 1 + rng.below(9_999) as u32,
            street_name,
            city: city.to_string(),
            state: state.to_string(),
            zip,
            phone,
            email,
        });
    }
    out
}

/// A query and the customer (an index into the synthetic list) it is meant to find.
#[derive(Debug, Clone)]
pub struct BenchQuery {
    pub text: String,
    pub target: usize,
}

/// One typo of the kind people make: two letters swapped, one dropped, one doubled, or one
/// replaced by the next letter of the alphabet. Words shorter than four letters are kept.
pub fn misspell(word: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = word.to_lowercase().chars().collect();
    if chars.len() < 4 {
        return chars.into_iter().collect();
    }
    // Keep the first letter: people rarely get it wrong.
    let i = 1 + rng.below(chars.len() - 2);
    match rng.below(4) {
        0 => chars.swap(i, i + 1),
        1 => {
            chars.remove(i);
        }
        2 => chars.insert(i, chars[i]),
        _ => {
            let c = chars[i];
            chars[i] = if c.is_ascii_lowercase() && c != 'z' {
                char::from(c as u8 + 1)
            } else {
                'a'
            };
        }
    }
    chars.into_iter().collect()
}

/// `n` queries over `customers`: a misspelled first or last name (or both) with part of the
/// street, sometimes the house number or the zip.
pub fn misspelled_queries(customers: &[SyntheticCustomer], n: usize, seed: u64) -> Vec<BenchQuery> {
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut out = Vec::with_capacity(n);
    if customers.is_empty() {
        return out;
    }
    for _ in 0..n {
        let target = rng.below(customers.len());
        let c = &customers[target];
        let street_words: Vec<&str> = c.street_name.split(' ').collect();
        let street_part = street_words[..street_words.len().saturating_sub(1).max(1)].join(" ");
        let text = match rng.below(4) {
            0 => format!(
                "{} {} {}",
                misspell(&c.first, &mut rng),
                c.last,
                street_part
            ),
            1 => format!(
                "{} {} {}",
                c.first,
                misspell(&c.last, &mut rng),
                street_part
            ),
            2 => format!(
                "{} {} {}",
                misspell(&c.last, &mut rng),
                c.street_number,
                street_part
            ),
            _ => format!(
                "{} {} {} {}",
                misspell(&c.first, &mut rng),
                misspell(&c.last, &mut rng),
                street_part,
                c.zip
            ),
        };
        out.push(BenchQuery {
            text: text.to_lowercase(),
            target,
        });
    }
    out
}

/// What one benchmark run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub engine: &'static str,
    pub docs: usize,
    pub queries: usize,
    /// Time to index every document and commit (index only).
    pub build: Option<Duration>,
    /// Bytes the index takes (index only).
    pub index_bytes: Option<u64>,
    /// Resident memory of the whole process at the end, where the OS reports it.
    pub rss_bytes: Option<u64>,
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
    /// Queries whose intended customer came first / within the first five.
    pub top1: usize,
    pub top5: usize,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        writeln!(
            f,
            "{}: {} docs, {} queries",
            self.engine, self.docs, self.queries
        )?;
        if let Some(b) = self.build {
            writeln!(f, "  build      {:.2?}", b)?;
        }
        if let Some(b) = self.index_bytes {
            writeln!(f, "  index size {:.1} MiB", mib(b))?;
        }
        if let Some(b) = self.rss_bytes {
            writeln!(f, "  rss        {:.1} MiB", mib(b))?;
        }
        writeln!(
            f,
            "  latency    p50 {:.2?}  p99 {:.2?}  mean {:.2?}",
            self.p50, self.p99, self.mean
        )?;
        let pct = |k: usize| 100.0 * k as f64 / self.queries.max(1) as f64;
        write!(
            f,
            "  found      first {:.1}%  top-5 {:.1}%",
            pct(self.top1),
            pct(self.top5)
        )
    }
}

/// Resident set size of this process (Linux only).
pub fn rss_bytes() -> Option<u64> {
    crate::instance::memory_bytes("self", "VmRSS")
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub(crate) struct Timings {
    latencies: Vec<Duration>,
    top1: usize,
    top5: usize,
}

impl Timings {
    pub(crate) fn new(n: usize) -> Timings {
        Timings {
            latencies: Vec::with_capacity(n),
            top1: 0,
            top5: 0,
        }
    }

    pub(crate) fn record(
        &mut self,
        took: Duration,
        ranked: &[CustomerId],
        expected: Option<CustomerId>,
    ) {
        self.latencies.push(took);
        let pos = expected.and_then(|e| ranked.iter().position(|id| *id == e));
        self.top1 += usize::from(pos == Some(0));
        self.top5 += usize::from(pos.is_some_and(|p| p < 5));
    }

    pub(crate) fn report(mut self, engine: &'static str, docs: usize) -> BenchReport {
        self.latencies.sort();
        let n = self.latencies.len();
        let total: Duration = self.latencies.iter().sum();
        BenchReport {
            engine,
            docs,
            queries: n,
            build: None,
            index_bytes: None,
            rss_bytes: rss_bytes(),
            p50: percentile(&self.latencies, 0.50),
            p99: percentile(&self.latencies, 0.99),
            mean: total / u32::try_from(n.max(1)).unwrap_or(u32::MAX),
            top1: self.top1,
            top5: self.top5,
        }
    }
}

/// Index `n_docs` synthetic customers (ids 1..=n, one tenant; in memory, or in `dir`), then
/// time `n_queries` misspelled-name-plus-street queries at 10 hits each.
pub fn bench_queries(
    n_docs: usize,
    n_queries: usize,
    seed: u64,
    dir: Option<&Path>,
) -> Result<BenchReport, SearchError> {
    let customers = synthetic_customers(n_docs, seed);
    let queries = misspelled_queries(&customers, n_queries, seed);
    let tenant = TenantId(1);
    let index = match dir {
        Some(d) => SearchIndex::open_in_dir(d)?,
        None => SearchIndex::new_in_ram()?,
    };
    let started = Instant::now();
    for (chunk_no, chunk) in customers.chunks(10_000).enumerate() {
        let first_id = chunk_no * 10_000 + 1;
        let docs: Vec<CustomerDoc> = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| c.to_doc(CustomerId((first_id + i) as i64)))
            .collect();
        index.upsert_many(tenant, &docs)?;
    }
    index.commit()?;
    let build = started.elapsed();
    index_report(&index, tenant, &queries, customers.len(), build, |target| {
        Some(CustomerId(target as i64 + 1))
    })
}

/// Time `queries` at 10 hits each on an index of `docs` documents built in `build`; `id_of`
/// gives the id a query's intended customer has in the index.
fn index_report(
    index: &SearchIndex,
    tenant: TenantId,
    queries: &[BenchQuery],
    docs: usize,
    build: Duration,
    id_of: impl Fn(usize) -> Option<CustomerId>,
) -> Result<BenchReport, SearchError> {
    let mut timings = Timings::new(queries.len());
    for q in queries {
        let started = Instant::now();
        let hits = index.search(tenant, &q.text, 10)?;
        let took = started.elapsed();
        let ranked: Vec<CustomerId> = hits.iter().map(|h| h.customer_id).collect();
        timings.record(took, &ranked, id_of(q.target));
    }
    let mut report = timings.report("tantivy", docs);
    report.build = Some(build);
    report.index_bytes = Some(index.size_bytes()?);
    Ok(report)
}

/// The index the caller lookup must use (checked against the engine's plan).
pub const PHONE_INDEX: &str = "customer_phones_lookup";

/// What a store benchmark measured: the reports, and the engine's plan for the caller lookup.
#[derive(Debug, Clone)]
pub struct StoreBench {
    pub reports: Vec<BenchReport>,
    pub phone_plan: Vec<String>,
}

/// The comparison on a real store: load `n_docs` synthetic customers into a new tenant with
/// the bulk loader, time caller lookups by phone the way a turn makes them (the phone's
/// customers, then the one customer's properties), rebuild the index from the store
/// (timed), then run the same misspelled queries through the index and (on PostgreSQL,
/// when `trigram`) through trigram search.
pub async fn bench_with_store(
    store: &Store,
    n_docs: usize,
    n_queries: usize,
    seed: u64,
    trigram: bool,
) -> anyhow::Result<StoreBench> {
    use crate::domain::{BusinessHours, Policy, TenantTz};
    let slug = format!("search-bench-{n_docs}-{}", std::process::id());
    let tenant = store
        .insert_tenant(
            &crate::store::NewTenant {
                slug,
                name: "Search Bench".into(),
                timezone: TenantTz::parse("America/Chicago")?,
                business_hours: BusinessHours::default(),
                policy: Policy::default(),
                phone_numbers: vec![],
                on_call_number: None,
                office_phone: None,
                branding: serde_json::json!({}),
            },
            0,
        )
        .await?;
    let zone = store.insert_zone(tenant, "Z", "Zone").await?;
    let customers = synthetic_customers(n_docs, seed);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n_docs);
    for chunk in customers.chunks(20_000) {
        let rows: Vec<NewCustomer> = chunk.iter().map(|c| c.to_new_customer(zone)).collect();
        ids.extend(store.bulk_load_customers(tenant, &rows, 0).await?);
    }
    store.finish_bulk_load().await?;
    tracing::info!(n_docs, elapsed = ?started.elapsed(), "loaded synthetic customers");
    let queries = misspelled_queries(&customers, n_queries, seed);
    let (phone_plan, mut reports) =
        bench_caller_lookup(store, tenant, &customers, &ids, n_queries, seed).await?;

    let index = SearchIndex::new_in_ram()?;
    let started = Instant::now();
    index.rebuild(store, tenant).await?;
    let build = started.elapsed();
    reports.push(index_report(
        &index,
        tenant,
        &queries,
        n_docs,
        build,
        |target| ids.get(target).copied(),
    )?);
    drop(index);
    if trigram {
        if let Some(trgm) = bench_trigram(store, tenant, &queries, &ids).await? {
            reports.push(trgm);
        }
    }
    Ok(StoreBench {
        reports,
        phone_plan,
    })
}

/// Time `n` caller lookups of random customers through the store's API, as a turn makes
/// them: `customers_by_phone` alone, and with the properties of the one customer found
/// (`Agent::resolve_caller`). Fails unless the engine's plan uses [`PHONE_INDEX`].
async fn bench_caller_lookup(
    store: &Store,
    tenant: TenantId,
    customers: &[SyntheticCustomer],
    ids: &[CustomerId],
    n: usize,
    seed: u64,
) -> anyhow::Result<(Vec<String>, Vec<BenchReport>)> {
    let Some(first) = customers.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let plan = store.customers_by_phone_plan(tenant, &first.phone).await?;
    anyhow::ensure!(
        plan.iter().any(|line| line.contains(PHONE_INDEX)),
        "the caller lookup does not use {PHONE_INDEX}: {plan:?}"
    );
    let mut rng = Rng::new(seed ^ 0xCA11);
    let mut by_phone = Timings::new(n);
    let mut identify = Timings::new(n);
    for _ in 0..n {
        let target = rng.below(customers.len());
        let phone = &customers[target].phone;
        let started = Instant::now();
        let found = store.customers_by_phone(tenant, phone).await?;
        let phone_took = started.elapsed();
        if let [one] = found.as_slice() {
            store.properties(tenant, *one).await?;
        }
        let took = started.elapsed();
        by_phone.record(phone_took, &found, ids.get(target).copied());
        identify.record(took, &found, ids.get(target).copied());
    }
    let reports = vec![
        by_phone.report("caller lookup (customers_by_phone)", customers.len()),
        identify.report(
            "caller identification (phone, then properties)",
            customers.len(),
        ),
    ];
    Ok((plan, reports))
}

/// Run the same queries through the PostgreSQL trigram search of a tenant already loaded
/// with the synthetic customers; `ids[i]` is the store id of customer `i` (what
/// `Store::insert_customers` returned). `None` on SQLite, which has no trigram search.
pub async fn bench_trigram(
    store: &Store,
    tenant: TenantId,
    queries: &[BenchQuery],
    ids: &[CustomerId],
) -> Result<Option<BenchReport>, StoreError> {
    if store.backend_name() != "postgres" {
        return Ok(None);
    }
    let mut timings = Timings::new(queries.len());
    for q in queries {
        let started = Instant::now();
        let Some(rows) = store.trigram_search(tenant, &q.text, 10).await? else {
            return Ok(None);
        };
        let took = started.elapsed();
        let ranked: Vec<CustomerId> = rows.iter().map(|(id, _)| *id).collect();
        timings.record(took, &ranked, ids.get(q.target).copied());
    }
    let docs = usize::try_from(store.count_customers(tenant).await?).unwrap_or(0);
    Ok(Some(timings.report("pg_trgm", docs)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::text::edit_distance;

    #[test]
    fn generation_is_deterministic_and_typos_are_one_edit() {
        let a = synthetic_customers(50, 9);
        let b = synthetic_customers(50, 9);
        assert_eq!(a.len(), 50);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.street() == y.street() && x.phone == y.phone));
        assert!(a.iter().all(|c| !c.first.is_empty() && !c.last.is_empty()));
        assert!(a
            .iter()
            .all(|c| c.zip.len() == 5 && c.email.ends_with("@example.com")));

        let mut rng = Rng::new(1);
        for word in ["gonzalez", "smith", "katherine", "lee"] {
            for _ in 0..20 {
                let typo = misspell(word, &mut rng);
                if word.len() < 4 {
                    assert_eq!(typo, word);
                    continue;
                }
                assert_eq!(typo.chars().next(), word.chars().next(), "{typo}");
                let d = edit_distance(typo.as_bytes(), word.as_bytes(), 2);
                assert!(matches!(d, Some(0 | 1)), "{word} -> {typo}");
            }
        }
        let queries = misspelled_queries(&a, 10, 9);
        assert_eq!(queries.len(), 10);
        assert!(queries
            .iter()
            .all(|q| q.target < a.len() && !q.text.is_empty()));
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&ms, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }
}
