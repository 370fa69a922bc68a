//! Customer search against PostgreSQL: the trigram comparison runs the same misspelled
//! queries as the tantivy index, which rebuilds from the PostgreSQL store.

use frontdesk::domain::{BusinessHours, Policy, TenantTz};
use frontdesk::search::bench::{bench_trigram, misspelled_queries, synthetic_customers};
use frontdesk::search::SearchIndex;
use frontdesk::store::{NewCustomer, NewTenant, Store};

use crate::common::TestDb;

fn tenant(slug: &str) -> NewTenant {
    NewTenant {
        slug: slug.into(),
        name: format!("{slug} pest control"),
        timezone: TenantTz::parse("America/Chicago").expect("tz"),
        business_hours: BusinessHours {
            mon: None,
            tue: None,
            wed: None,
            thu: None,
            fri: None,
            sat: None,
            sun: None,
        },
        policy: Policy::default(),
        phone_numbers: Vec::new(),
        on_call_number: None,
        office_phone: None,
        branding: serde_json::Value::Null,
    }
}

#[tokio::test]
async fn trigram_comparison_runs_the_same_queries_on_postgres() {
    let db = TestDb::postgres().await;
    let store = db.store();
    let t = store
        .insert_tenant(&tenant("trgm"), 0)
        .await
        .expect("tenant");
    let zone = store.insert_zone(t, "N", "North").await.expect("zone");
    let customers = synthetic_customers(500, 5);
    let rows: Vec<NewCustomer> = customers.iter().map(|c| c.to_new_customer(zone)).collect();
    let ids = store.insert_customers(t, &rows, 0).await.expect("insert");
    let queries = misspelled_queries(&customers, 30, 5);

    let report = bench_trigram(&store, t, &queries, &ids)
        .await
        .expect("trigram")
        .expect("postgres has trigram search");
    assert_eq!(report.engine, "pg_trgm");
    assert_eq!(report.docs, 500);
    assert_eq!(report.queries, 30);
    assert!(report.top5 > 0, "{report}");

    let index = SearchIndex::new_in_ram().expect("index");
    assert_eq!(
        index
            .rebuild(&store, t)
            .await
            .expect("rebuild from postgres"),
        500
    );
    let hits = index.search(t, &queries[0].text, 5).expect("search");
    assert!(hits.iter().any(|h| h.customer_id == ids[queries[0].target]));

    let sqlite = Store::connect("sqlite::memory:", 1).await.expect("sqlite");
    assert!(bench_trigram(&sqlite, t, &queries, &ids)
        .await
        .expect("sqlite")
        .is_none());
    db.finish().await;
}
