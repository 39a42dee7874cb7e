//! The demo clinic of `serve --demo`: staff of every role and a few
//! patients, seeded once into an empty store. Demo passwords are fixed and
//! printed so the first run can sign in at once; never use them for care.

use chrono::NaiveDate;
use secrecy::SecretString;

use crate::audit::Actor;
use crate::auth::{self, Role};
use crate::codes::PostalCode;
use crate::ehr::{self, Address, Insurance, NewPatient, Sex};
use crate::store::{self, Store};
use crate::validation::Text;

/// The one password of every demo account.
pub const DEMO_PASSWORD: &str = "bedside-demo";

/// Demo staff: username, role, display name, NPI.
pub const DEMO_STAFF: &[(&str, Role, &str, Option<&str>)] = &[
    ("admin", Role::Admin, "Demo Administrator", None),
    ("scheduler", Role::Scheduler, "Sam Scheduler", None),
    (
        "dr.grey",
        Role::Clinician,
        "Dr. Meredith Grey",
        Some("1234567893"),
    ),
    (
        "dr.house",
        Role::Clinician,
        "Dr. Gregory House",
        Some("1245319599"),
    ),
    ("billing", Role::Billing, "Bea Billing", None),
];

/// What `--demo` prints.
#[derive(Debug)]
pub struct DemoClinic {
    pub seeded_now: bool,
    pub staff: Vec<(String, Role)>,
}

/// Seeds the demo clinic if the store holds no patients and no staff but
/// (perhaps) the first admin.
pub async fn seed(store: &Store) -> anyhow::Result<DemoClinic> {
    let staff = DEMO_STAFF
        .iter()
        .map(|(u, r, _, _)| ((*u).to_owned(), *r))
        .collect();
    let mut tx = store.begin_read().await?;
    let users = store::count_users(&mut tx).await?;
    let patients = store::search_patients(&mut tx, None, 1).await?;
    store::commit(tx).await?;
    if users > 1 || !patients.is_empty() {
        return Ok(DemoClinic {
            seeded_now: false,
            staff,
        });
    }
    for (username, role, display_name, npi) in DEMO_STAFF {
        match auth::create_user(
            store,
            username,
            SecretString::from(DEMO_PASSWORD),
            *role,
            display_name,
            *npi,
        )
        .await
        {
            Ok(_) | Err(auth::CreateUserError::Store(store::StoreError::Duplicate(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let actor = Actor::system();
    for new in demo_patients() {
        ehr::create_patient(store, &actor, &new).await?;
    }
    Ok(DemoClinic {
        seeded_now: true,
        staff,
    })
}

fn demo_patients() -> Vec<NewPatient> {
    let text = |s: &str| Text::parse(s).expect("demo text is valid");
    let patient =
        |given: &str, family: &str, born: (i32, u32, u32), sex, insured: bool| NewPatient {
            given_name: text(given),
            family_name: text(family),
            birth_date: NaiveDate::from_ymd_opt(born.0, born.1, born.2)
                .expect("demo date is valid"),
            sex,
            email: None,
            phone: None,
            address: Some(Address {
                line: text("12 Elm Street"),
                city: text("Springfield"),
                state: text("IL"),
                postal_code: PostalCode::parse("62701").expect("demo ZIP is valid"),
            }),
            insurance: insured.then(|| Insurance {
                payer_id: text("DEMOPAYER"),
                payer_name: text("Demo Health Plan"),
                member_id: text(&format!("M{}", born.0)),
                group_number: Some(text("G100")),
            }),
        };
    vec![
        patient("Ada", "Lovelace", (1985, 12, 10), Sex::Female, true),
        patient("Alan", "Turing", (1972, 6, 23), Sex::Male, true),
        patient("Grace", "Hopper", (1946, 12, 9), Sex::Female, false),
    ]
}
