//! The operator API's acceptance tests, over the served application on both engines: the
//! tenant and its catalog, typo-tolerant customer search and paging, the one-screen customer
//! record (its exact shape, local times with offsets, a merged timeline, and what an agent
//! turn adds to it), and every error a client can provoke, with its stable code and the
//! `{"error":{"code","message"}}` shape.

use std::collections::BTreeSet;

use chrono::DateTime;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::api::{assert_error_body, check, get_ok, send, text_agent, Req};
use crate::common::app::TestApp;
use frontdesk::domain::{CustomerId, Role};

/// The customer ids of a search answer, best first.
fn result_ids(body: &Value) -> Vec<i64> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["customer"]["id"].as_i64().expect("customer id"))
        .collect()
}

async fn search(app: &TestApp, token: &str, q: &str) -> Vec<i64> {
    let path = format!("/api/v1/operator/customers?q={}", q.replace(' ', "+"));
    result_ids(&get_ok(app, &path, token).await)
}

fn record_path(id: CustomerId) -> String {
    format!("/api/v1/operator/customers/{id}/record")
}

fn is_e164(s: &str) -> bool {
    s.len() >= 8
        && s.len() <= 16
        && s.starts_with('+')
        && s[1..].chars().all(|c| c.is_ascii_digit())
        && !s[1..].starts_with('0')
}

/// RFC 3339 with an explicit Central offset (never `Z`), as the API promises.
fn assert_local_time(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{what} `{s}` is not RFC 3339: {e}"));
    assert!(
        s.ends_with("-06:00") || s.ends_with("-05:00"),
        "{what} `{s}` carries the tenant's offset"
    );
}

store_test!(
    fn tenant_and_catalog_belong_to_the_token(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let demo = app.token(app.demo.demo, Role::Admin).await;
        let north = app.token(app.demo.northwind, Role::Csr).await;

        let t = get_ok(&app, "/api/v1/operator/tenant", &demo).await;
        for key in [
            "slug",
            "name",
            "timezone",
            "phone_numbers",
            "business_hours",
            "policy",
        ] {
            assert!(t.get(key).is_some(), "tenant has `{key}`: {t}");
        }
        assert_eq!(t["slug"], "demo");
        assert_eq!(t["timezone"], "America/Chicago");
        assert_eq!(t["phone_numbers"], json!(["+15125550000", "+15125550001"]));
        assert!(
            t["policy"].is_object() && t["business_hours"].is_object(),
            "{t}"
        );
        assert!(
            t.get("portal_key").is_none() && t.get("twilio_auth_token").is_none(),
            "no secrets: {t}"
        );

        let n = get_ok(&app, "/api/v1/operator/tenant", &north).await;
        assert_eq!(n["slug"], "northwind");
        assert_eq!(n["timezone"], "America/New_York");
        assert_eq!(n["phone_numbers"], json!(["+16175550000"]));

        let codes = |body: &Value| -> BTreeSet<String> {
            body["services"]
                .as_array()
                .expect("services")
                .iter()
                .map(|s| s["code"].as_str().expect("code").to_string())
                .collect()
        };
        let cat = get_ok(&app, "/api/v1/operator/catalog", &demo).await;
        let demo_codes = codes(&cat);
        assert_eq!(demo_codes.len(), 15, "{demo_codes:?}");
        for s in cat["services"].as_array().expect("services") {
            assert!(
                s["pricing"]["base_cents"].as_i64().is_some_and(|c| c > 0),
                "pricing rule: {s}"
            );
        }
        let north_codes = codes(&get_ok(&app, "/api/v1/operator/catalog", &north).await);
        assert_eq!(
            north_codes,
            ["ANT", "GPO", "GPQ", "RODI", "TERMI"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        app.stop().await;
    }
);

store_test!(
    fn search_finds_the_right_customer_first(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let token = app.token(d.demo, Role::Csr).await;

        let cases: &[(&str, CustomerId)] = &[
            ("jhon smith oak hollow", d.john_smith),
            ("john smtih oak hollow", d.john_smith),
            ("jane smyth oak hollow", d.jane_smythe),
            ("jon smyth shoal creek", d.jon_smyth),
            ("jon smith great hills", d.jon_smith),
            ("racheal kim texas oaks", d.rachel_kim),
            ("hill country property", d.dana_whitfield),
            ("5125550133", d.john_smith),
            ("+15125550155", d.rachel_kim),
        ];
        for (q, want) in cases {
            let ids = search(&app, &token, q).await;
            assert_eq!(
                ids.first(),
                Some(&want.0),
                "`{q}` finds {want} first: {ids:?}"
            );
        }
        // "smyth" and "smith" are different people: each spelling ranks its own first.
        let smyth = search(&app, &token, "jon smyth").await;
        let smith = search(&app, &token, "jon smith").await;
        assert_eq!(smyth.first(), Some(&d.jon_smyth.0), "{smyth:?}");
        assert_eq!(smith.first(), Some(&d.jon_smith.0), "{smith:?}");

        // The other tenant's John Smith shares the phone but is never found from here.
        let north = app.token(d.northwind, Role::Csr).await;
        let ids = search(&app, &north, "5125550133").await;
        assert_eq!(ids.first(), Some(&d.northwind_john_smith.0), "{ids:?}");
        assert!(!ids.contains(&d.john_smith.0), "{ids:?}");
        let ids = search(&app, &token, "john smith").await;
        assert!(!ids.contains(&d.northwind_john_smith.0), "{ids:?}");
        app.stop().await;
    }
);

store_test!(
    fn customers_page_and_reject_bad_paging(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let token = app.token(app.demo.demo, Role::Csr).await;
        let first = get_ok(
            &app,
            "/api/v1/operator/customers?page=1&per_page=20",
            &token,
        )
        .await;
        let total = first["total"].as_i64().expect("total");
        assert_eq!(total, app.demo.counts.customers, "{}", first["total"]);
        assert_eq!(first["page"], 1);
        assert_eq!(first["per_page"], 20);
        let ids = |b: &Value| -> Vec<i64> {
            b["customers"]
                .as_array()
                .expect("customers")
                .iter()
                .map(|c| c["id"].as_i64().expect("id"))
                .collect()
        };
        let page1 = ids(&first);
        assert_eq!(page1.len(), 20);
        let second = get_ok(
            &app,
            "/api/v1/operator/customers?page=2&per_page=20",
            &token,
        )
        .await;
        let page2 = ids(&second);
        assert_eq!(page2.len(), 20);
        assert!(
            page1.iter().all(|id| !page2.contains(id)),
            "pages do not overlap"
        );
        let last_page = (total + 19) / 20;
        let tail = get_ok(
            &app,
            &format!("/api/v1/operator/customers?page={last_page}&per_page=20"),
            &token,
        )
        .await;
        assert_eq!(ids(&tail).len() as i64, total - (last_page - 1) * 20);
        let beyond = get_ok(
            &app,
            &format!(
                "/api/v1/operator/customers?page={}&per_page=20",
                last_page + 1
            ),
            &token,
        )
        .await;
        assert!(ids(&beyond).is_empty());

        for bad in [
            "page=0",
            "page=-1",
            "page=abc",
            "per_page=0",
            "per_page=501",
            "per_page=1.5",
            "page=",
        ] {
            check(
                &app,
                Req::get(format!("/api/v1/operator/customers?{bad}")).token(&token),
                400,
                Some("invalid_query"),
            )
            .await;
        }
        let long = "a".repeat(201);
        check(
            &app,
            Req::get(format!("/api/v1/operator/customers?q={long}")).token(&token),
            400,
            Some("invalid_query"),
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn record_has_every_section_in_its_shape(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let token = app.token(d.demo, Role::Csr).await;
        let rec = get_ok(&app, &record_path(d.rachel_kim), &token).await;

        let keys: BTreeSet<&str> = rec
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let want: BTreeSet<&str> = [
            "customer",
            "properties",
            "service_history",
            "billing",
            "schedule",
            "agreements",
            "portal_activity",
            "conversations",
            "escalations",
            "signatures",
            "field_events",
            "timeline",
        ]
        .into_iter()
        .collect();
        assert_eq!(keys, want);

        let c = &rec["customer"];
        assert_eq!(c["id"], d.rachel_kim.0);
        assert_eq!(c["name"], "Rachel Kim");
        let phones = c["phones"].as_array().expect("phones");
        assert!(
            phones.iter().all(|p| p.as_str().is_some_and(is_e164)),
            "{phones:?}"
        );
        assert!(phones.contains(&json!("+15125550155")));
        assert!(rec["properties"].as_array().is_some_and(|p| !p.is_empty()));
        assert!(rec["service_history"]
            .as_array()
            .is_some_and(|v| !v.is_empty()));

        // Rachel has exactly one upcoming appointment, in local time with its offset.
        let schedule = rec["schedule"].as_array().expect("schedule");
        let upcoming = d.rachel_kim_appointment.expect("seeded appointment");
        let appt = schedule
            .iter()
            .find(|a| a["id"] == upcoming.0)
            .unwrap_or_else(|| panic!("the upcoming visit is on the schedule: {schedule:?}"));
        for item in schedule {
            assert_local_time(&item["window_start"], "window_start");
            assert_local_time(&item["window_end"], "window_end");
            assert!(
                item["status"].is_string() && item["service"].is_string(),
                "{item}"
            );
        }
        assert_eq!(appt["status"], "scheduled");
        let start = DateTime::parse_from_rfc3339(appt["window_start"].as_str().expect("start"))
            .expect("start");
        let end =
            DateTime::parse_from_rfc3339(appt["window_end"].as_str().expect("end")).expect("end");
        assert_eq!((end - start).num_hours(), 4, "a four-hour window");
        assert_eq!(
            appt["window_start"].as_str().map(|s| &s[11..16]),
            Some("08:00"),
            "a morning window"
        );

        // Overdue balance.
        let billing = &rec["billing"];
        assert!(
            billing["balance_cents"].as_i64().expect("balance") > 0,
            "{billing}"
        );
        assert_eq!(billing["overdue"], true, "{billing}");
        assert_eq!(
            billing["overdue_cents"], billing["balance_cents"],
            "{billing}"
        );

        // Portal activity: she viewed the overdue invoice.
        let portal = rec["portal_activity"].as_array().expect("portal");
        assert!(
            portal.iter().any(|e| e["kind"] == "invoice_viewed"),
            "{portal:?}"
        );
        for e in portal {
            assert!(e["kind"].is_string(), "{e}");
            DateTime::parse_from_rfc3339(e["at"].as_str().expect("at")).expect("at parses");
        }

        // One timeline, newest first, merging several kinds.
        let timeline = rec["timeline"].as_array().expect("timeline");
        let ats: Vec<_> = timeline
            .iter()
            .map(|e| DateTime::parse_from_rfc3339(e["at"].as_str().expect("at")).expect("at"))
            .collect();
        assert!(ats.windows(2).all(|w| w[0] >= w[1]), "newest first");
        let kinds: BTreeSet<&str> = timeline.iter().filter_map(|e| e["kind"].as_str()).collect();
        for k in ["visit", "appointment", "invoice", "payment", "portal"] {
            assert!(kinds.contains(k), "timeline has `{k}`: {kinds:?}");
        }
        assert!(rec["conversations"].as_array().is_some_and(Vec::is_empty));
        assert!(rec["escalations"].as_array().is_some_and(Vec::is_empty));

        // The property manager's record holds all her properties.
        let dana = get_ok(&app, &record_path(d.dana_whitfield), &token).await;
        assert_eq!(dana["properties"].as_array().map(Vec::len), Some(12));
        app.stop().await;
    }
);

store_test!(
    fn record_shows_agent_conversations_and_escalations(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let csr = app.token(d.demo, Role::Csr).await;
        let integration = app.token(d.demo, Role::Integration).await;

        let turn = text_agent(
            &app,
            &integration,
            "+15125550155",
            "how much is mosquito service?",
            "op-rec-1",
        )
        .await;
        let conversation = turn["conversation_id"].as_i64().expect("conversation id");
        assert!(turn["reply"].is_string(), "{turn}");
        let turn = text_agent(
            &app,
            &integration,
            "+15125550155",
            "I want to cancel my service",
            "op-rec-2",
        )
        .await;
        assert_eq!(turn["escalated"], true, "{turn}");
        assert_eq!(turn["conversation_id"], conversation);

        let rec = get_ok(&app, &record_path(d.rachel_kim), &csr).await;
        let convs = rec["conversations"].as_array().expect("conversations");
        assert_eq!(convs.len(), 1, "{convs:?}");
        let conv = &convs[0];
        assert_eq!(conv["id"], conversation);
        // An integration's messages are an API conversation, never a carrier SMS thread.
        assert_eq!(conv["channel"], "api");
        let messages = conv["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 4, "two in, two out: {messages:?}");
        assert_eq!(messages[0]["direction"], "inbound");
        assert_eq!(messages[0]["text"], "how much is mosquito service?");
        assert_eq!(messages[1]["direction"], "outbound");
        assert_eq!(messages[3]["text"], turn["reply"]);
        for m in messages {
            DateTime::parse_from_rfc3339(m["at"].as_str().expect("at")).expect("at parses");
        }

        let escalations = rec["escalations"].as_array().expect("escalations");
        assert_eq!(escalations.len(), 1, "{escalations:?}");
        let e = &escalations[0];
        assert!(e["id"].as_i64().is_some_and(|id| id > 0), "{e}");
        assert_eq!(e["reason"], "cancellation");
        assert_eq!(e["status"], "open");
        assert!(e["priority"].is_string(), "{e}");
        assert_eq!(e["conversation_id"], conversation);

        let timeline = rec["timeline"].as_array().expect("timeline");
        let texts: Vec<&str> = timeline
            .iter()
            .filter(|t| t["kind"] == "message")
            .filter_map(|t| t["summary"].as_str())
            .collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(
            texts
                .iter()
                .any(|s| s.contains("I want to cancel my service")),
            "{texts:?}"
        );
        assert!(
            timeline.iter().any(|t| t["kind"] == "escalation"),
            "escalation on the timeline"
        );
        app.stop().await;
    }
);

store_test!(
    fn errors_have_stable_codes_and_shape(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let demo = app.token(d.demo, Role::Csr).await;
        let north = app.token(d.northwind, Role::Admin).await;
        let integration = app.token(d.demo, Role::Integration).await;
        let revoked = app.token(d.demo, Role::Admin).await;
        let owner = app
            .state
            .store
            .token_owner(&frontdesk::auth::hash_token(&revoked))
            .await
            .expect("lookup")
            .expect("token exists");
        app.state
            .store
            .revoke_token(owner.token_id, 1)
            .await
            .expect("revoke");

        let rachel = record_path(d.rachel_kim);
        let mut table: Vec<(Req, u16, &str)> = Vec::new();
        for bad in ["abc", "0", "-1", "1.5", "99999999999999999999"] {
            table.push((
                Req::get(format!("/api/v1/operator/customers/{bad}/record")).token(&demo),
                400,
                "malformed_id",
            ));
            table.push((
                Req::get(format!("/api/v1/operator/customers/{bad}")).token(&demo),
                400,
                "malformed_id",
            ));
        }
        table.extend([
            (
                Req::get("/api/v1/operator/customers/999999/record").token(&demo),
                404,
                "customer_not_found",
            ),
            (
                Req::get("/api/v1/operator/customers/999999").token(&demo),
                404,
                "customer_not_found",
            ),
            // Tenant isolation: the other tenant's ids do not exist from here.
            (
                Req::get(record_path(d.northwind_john_smith)).token(&demo),
                404,
                "customer_not_found",
            ),
            (
                Req::get(record_path(d.john_smith)).token(&north),
                404,
                "customer_not_found",
            ),
            (
                Req::get(format!(
                    "/api/v1/operator/customers/{}",
                    d.northwind_john_smith
                ))
                .token(&demo),
                404,
                "customer_not_found",
            ),
            // Credentials.
            (Req::get(rachel.clone()), 401, "unauthorized"),
            (
                Req::get(rachel.clone()).authorization(&format!("Basic {demo}")),
                401,
                "unauthorized",
            ),
            (
                Req::get(rachel.clone()).authorization(&format!("Token {demo}")),
                401,
                "unauthorized",
            ),
            (
                Req::get(rachel.clone()).authorization("Bearer"),
                401,
                "unauthorized",
            ),
            (
                Req::get(rachel.clone()).authorization("Bearer "),
                401,
                "unauthorized",
            ),
            (
                Req::get(rachel.clone()).token("garbage"),
                401,
                "unauthorized",
            ),
            (
                Req::get(rachel.clone()).token(&format!("fd_{}", "0".repeat(64))),
                401,
                "unauthorized",
            ),
            (
                Req::get(rachel.clone()).token(&revoked),
                401,
                "unauthorized",
            ),
            (
                Req::get("/api/v1/operator/tenant").token(&revoked),
                401,
                "unauthorized",
            ),
            (
                Req::get(rachel.clone()).token(&integration),
                403,
                "forbidden",
            ),
            (
                Req::get("/api/v1/operator/tenant").token(&integration),
                403,
                "forbidden",
            ),
            (
                Req::get("/api/v1/operator/escalations").token(&integration),
                403,
                "forbidden",
            ),
            // Routes and methods.
            (
                Req::get("/api/v1/operator/nope").token(&demo),
                404,
                "route_not_found",
            ),
            (Req::get("/api/v1/nothing-here"), 404, "route_not_found"),
            (
                Req::get(format!("{rachel}/extra")).token(&demo),
                404,
                "route_not_found",
            ),
        ]);
        for (req, status, code) in table {
            check(&app, req, status, Some(code)).await;
        }

        // A wrong method is a JSON error too (405 or 400), never an empty body.
        for req in [
            Req::new(Method::DELETE, "/api/v1/operator/tenant").token(&demo),
            Req::post("/api/v1/operator/catalog", json!({})).token(&demo),
            Req::new(Method::PUT, rachel.clone()).token(&demo),
        ] {
            let (status, body) = send(&app, &req).await;
            assert!(
                matches!(status.as_u16(), 400 | 405),
                "{} {}: {status}",
                req.method,
                req.path
            );
            let code = body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert_error_body(&body, &code, &req.path);
        }

        // An oversized body is refused before it is read.
        let huge = json!({ "text": "x".repeat(300 * 1024) }).to_string();
        check(
            &app,
            Req::new(Method::POST, "/api/v1/operator/conversations/1/reply")
                .token(&demo)
                .raw_body(huge.clone()),
            413,
            Some("payload_too_large"),
        )
        .await;
        check(
            &app,
            Req::new(Method::POST, "/api/v1/messages")
                .token(&integration)
                .raw_body(huge),
            413,
            Some("payload_too_large"),
        )
        .await;

        app.stop().await;
    }
);
