//! The admin's work: managing staff accounts, and reading and checking
//! the audit trail.

use bedside::store::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{STAFF_PASSWORD, TestApp, ada, assert_json, assert_problem, spawn_app};

async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("PATCH")
}

async fn account(app: &TestApp, admin: &str, username: &str) -> Value {
    let accounts = app.get_list("/api/v1/users/accounts", admin).await;
    accounts
        .into_iter()
        .find(|a| a["username"] == username)
        .unwrap_or_else(|| panic!("{username} is listed"))
}

async fn audit(app: &TestApp, admin: &str, query: &str) -> (Vec<Value>, i64) {
    let response = app
        .get(&format!("/api/v1/audit?{query}"), Some(admin))
        .await;
    let total = response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (assert_json(response, StatusCode::OK).await, total)
}

#[tokio::test]
async fn an_admin_manages_staff_and_each_change_is_audited() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let admin_id = app.user_id(&admin, "admin").await;
    let body = json!({"username": "sam", "password": STAFF_PASSWORD, "role": "scheduler", "display_name": "Sam"});
    let created: Value = assert_json(
        app.post("/api/v1/users", Some(&admin), &body).await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        account(&app, &admin, "sam").await["last_sign_in_at"],
        Value::Null
    );
    let sam = app.token("sam", STAFF_PASSWORD).await;
    let listed = account(&app, &admin, "sam").await;
    assert!(listed["last_sign_in_at"].is_string(), "{listed}");
    assert_eq!(listed["active"], true);
    assert_eq!(listed["mfa_enrolled"], false);

    // Role: a clinician needs an NPI; with one the change is made.
    let path = format!("/api/v1/users/{id}");
    let problem = assert_problem(
        patch(&app, &path, &admin, &json!({"role": "clinician"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "npi");
    let changed: Value = assert_json(
        patch(
            &app,
            &path,
            &admin,
            &json!({"role": "clinician", "npi": "1234567893"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["role"], "clinician");
    assert_eq!(
        app.get_json("/api/v1/auth/me", &sam).await["role"],
        "clinician"
    );
    // Only admins, and never to themselves.
    assert_problem(
        patch(&app, &path, &sam, &json!({"role": "admin"})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        patch(
            &app,
            &format!("/api/v1/users/{admin_id}"),
            &admin,
            &json!({"role": "billing"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_problem(
        patch(
            &app,
            &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
            &admin,
            &json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // A new password ends the old sessions and replaces the old password.
    let password_path = format!("/api/v1/users/{id}/password");
    let short = assert_problem(
        app.post(&password_path, Some(&admin), &json!({"password": "short"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(short["field"], "password");
    let reset = app
        .post(
            &password_path,
            Some(&admin),
            &json!({"password": "a-new-password-2"}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get("/api/v1/auth/me", Some(&sam)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        app.login("sam", STAFF_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let sam = app.token("sam", "a-new-password-2").await;

    // Deactivation: the session ends and sign-in is refused.
    let deactivated: Value = assert_json(
        app.post(&format!("{path}/deactivate"), Some(&admin), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deactivated["active"], false);
    assert_problem(
        app.get("/api/v1/auth/me", Some(&sam)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        app.login("sam", "a-new-password-2").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(account(&app, &admin, "sam").await["active"], false);
    assert_problem(
        app.post(
            &format!("/api/v1/users/{admin_id}/deactivate"),
            Some(&admin),
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;

    let (events, total) = audit(&app, &admin, &format!("user_id={admin_id}&action=")).await;
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e["resource_id"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.deactivate",
            "user.password_reset",
            "user.update",
            "user.create"
        ]
    );
    assert!(total >= 4);
}

#[tokio::test]
async fn the_audit_log_filters_and_pages() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let clinician = app.staff_token("dr.grey", "clinician").await;
    let clinician_id = app.user_id(&clinician, "dr.grey").await;
    let patient = app.create_patient(&clinician, &ada()).await;
    let id = patient["id"].as_str().unwrap();
    for _ in 0..3 {
        app.get(&format!("/api/v1/patients/{id}"), Some(&clinician))
            .await;
    }
    let other = app.create_patient(&admin, &ada()).await;

    let (page, total) = audit(&app, &admin, &format!("patient_id={id}&page_size=2")).await;
    assert_eq!((page.len(), total), (2, 4));
    assert_eq!(page[0]["action"], "patient.read");
    // That read is itself in the patient's trail now, at the top.
    let (last, total) = audit(&app, &admin, &format!("patient_id={id}&page_size=2&page=3")).await;
    assert_eq!(total, 5);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0]["action"], "patient.create");
    assert!(last[0]["seq"].as_i64() < page[1]["seq"].as_i64());
    let (reads, total) = audit(
        &app,
        &admin,
        &format!("user_id={clinician_id}&action=patient.read"),
    )
    .await;
    assert_eq!(total, 3);
    assert!(reads.iter().all(|e| e["patient_id"] == id));
    let (created, _) = audit(&app, &admin, "action=patient.create").await;
    let created: Vec<&Value> = created.iter().map(|e| &e["patient_id"]).collect();
    assert_eq!(created, [&other["id"], &patient["id"]]);

    let today = chrono::Utc::now().date_naive();
    let (_, all_today) = audit(
        &app,
        &admin,
        &format!("from={today}&to={today}&action=patient.read"),
    )
    .await;
    assert_eq!(all_today, 3);
    let tomorrow = today.succ_opt().unwrap();
    let (none, zero) = audit(&app, &admin, &format!("from={tomorrow}")).await;
    assert_eq!((none.len(), zero), (0, 0));

    for (query, field) in [
        ("from=yesterday", "from"),
        ("page=0", "page"),
        ("page_size=abc", "page_size"),
        ("user_id=bob", "user_id"),
        ("patient_id=nope", "patient_id"),
    ] {
        let problem = assert_problem(
            app.get(&format!("/api/v1/audit?{query}"), Some(&admin))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["field"], field, "{query}");
    }
    let problem = assert_problem(
        app.get(
            &format!("/api/v1/audit?from={tomorrow}&to={today}"),
            Some(&admin),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["field"], "to");
}

#[tokio::test]
async fn the_chain_check_counts_the_trail_and_finds_a_tampered_row() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let patient = app.create_patient(&admin, &ada()).await;
    let id = patient["id"].as_str().unwrap();
    app.get(&format!("/api/v1/patients/{id}"), Some(&admin))
        .await;
    app.get(&format!("/api/v1/patients/{id}"), Some(&admin))
        .await;
    let report = app.get_json("/api/v1/audit/verify", &admin).await;
    assert_eq!(report["valid"], true);
    assert_eq!(report["events_checked"], 3);

    let pool = app.store.pool();
    let drop_guard = match app.store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_events_no_update",
        Backend::Postgres => "DROP TRIGGER audit_events_no_change ON audit_events",
    };
    sqlx::query(drop_guard).execute(pool).await.unwrap();
    sqlx::query("UPDATE audit_events SET action = 'patient.search' WHERE seq = 2")
        .execute(pool)
        .await
        .unwrap();
    let report = app.get_json("/api/v1/audit/verify", &admin).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_broken_seq"], 2);
    assert_eq!(report["events_checked"], 1);
}

#[tokio::test]
async fn clinic_settings_an_admin_sets_are_what_patients_see() {
    use crate::clinic::Clinic;
    let app = spawn_app().await;
    let clinic = Clinic::open(&app).await;
    let before = app.get_json("/api/v1/clinic", &clinic.scheduler).await;
    assert_eq!(before["region"], "US");
    assert!(before.get("name").is_none(), "{before}");

    let path = "/api/v1/clinic/settings";
    let put = |token: &str, body: Value| {
        app.client
            .put(app.url(path))
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    assert_problem(
        put(&clinic.scheduler, json!({"name": "Mine"}))
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    for (body, field) in [
        (json!({"contact_email": "not an email"}), "contact_email"),
        (json!({"contact_phone": "call us"}), "contact_phone"),
        (json!({"region": "FR"}), "region"),
    ] {
        let problem = assert_problem(
            put(&clinic.admin, body).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["field"], field);
    }
    let saved: Value = assert_json(
        put(
            &clinic.admin,
            json!({"name": "Riverside Clinic", "region": "GB", "contact_phone": "+44 20 7946 0000", "contact_email": "desk@riverside.example"}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(saved["name"], "Riverside Clinic");
    let public: Value = assert_json(app.get("/api/v1/clinic", None).await, StatusCode::OK).await;
    assert_eq!(public["name"], "Riverside Clinic");
    assert_eq!(public["region"], "GB");
    assert_eq!(public["emergency_number"], "999");
    assert_eq!(public["contact_email"], "desk@riverside.example");
    let (events, _) = audit(&app, &clinic.admin, "action=clinic.update").await;
    assert_eq!(events.len(), 1);

    // The after-visit summary names the clinic as set.
    let visit = clinic.in_consult(&app, "Ada").await;
    assert_json::<Value>(
        app.close(&visit, &clinic.clinician, &crate::summary::closing())
            .await,
        StatusCode::OK,
    )
    .await;
    let summary = app
        .get_json(
            &format!("/api/v1/visits/{}/summary", visit.id),
            &clinic.clinician,
        )
        .await;
    assert_eq!(summary["clinic"]["name"], "Riverside Clinic");
    assert_eq!(summary["clinic"]["phone"], "+44 20 7946 0000");
}
