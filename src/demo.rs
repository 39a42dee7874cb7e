//! The demo clinic of `serve --demo`: staff of every role, a queue, a few
//! patients and their booked visits, seeded once into an empty store. Demo passwords are fixed and
//! printed so the first run can sign in at once; never use them for care.

use chrono::NaiveDate;
use secrecy::SecretString;

use crate::audit::Actor;
use crate::auth::{self, JoinLinks, Role};
use crate::ehr::{self, Address, Insurance, NewPatient, Sex};
use crate::model::clock::Clock;
use crate::model::codes::PostalCode;
use crate::model::validation::Text;
use crate::store::{self, Store};
use crate::visits::{self, NewVisit, VisitStatus};

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
    /// A fresh join link for a booked demo visit, while one is left.
    pub join_url: Option<String>,
}

/// The demo queue's name.
pub const DEMO_QUEUE: &str = "General telehealth";

/// Seeds the demo clinic if the store holds no patients and no staff but
/// (perhaps) the first admin.
pub async fn seed(store: &Store, clock: &Clock, links: &JoinLinks) -> anyhow::Result<DemoClinic> {
    let staff = DEMO_STAFF
        .iter()
        .map(|(u, r, _, _)| ((*u).to_owned(), *r))
        .collect();
    let mut tx = store.begin_read().await?;
    let users = store::count_users(&mut tx).await?;
    let patients = store::search_patients(&mut tx, None, 1).await?;
    store::commit(tx).await?;
    if users > 1 || !patients.is_empty() {
        let join_url = join_link(store, clock, links).await?;
        return Ok(DemoClinic {
            seeded_now: false,
            staff,
            join_url,
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
            clock.now(),
        )
        .await
        {
            Ok(_) | Err(auth::CreateUserError::Store(store::StoreError::Duplicate(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let actor = Actor::system(clock.now());
    let queue = visits::create_queue(
        store,
        clock,
        &Text::parse(DEMO_QUEUE).expect("demo text is valid"),
    )
    .await?;
    let reasons = [
        "Sore throat and fever",
        "Follow-up: blood pressure",
        "Rash on forearm",
    ];
    for (new, reason) in demo_patients().iter().zip(reasons) {
        let patient = ehr::create_patient(store, &actor, new).await?;
        let visit = NewVisit {
            patient_id: patient.id,
            queue_id: queue.id.clone(),
            clinician_id: None,
            scheduled_start: None,
            reason: Text::parse(reason).expect("demo text is valid"),
            priority: None,
        };
        visits::create_visit(store, clock, &actor, &visit, links).await?;
    }
    seed_calendar(store, clock, &actor, links).await?;
    let join_url = join_link(store, clock, links).await?;
    Ok(DemoClinic {
        seeded_now: true,
        staff,
        join_url,
    })
}

/// The queue booked appointments join.
pub const DEMO_APPOINTMENT_QUEUE: &str = "Booked appointments";

/// Working hours for each demo clinician (weekdays 09:00 to 17:00, Chicago
/// time, 20-minute visits, open to self-booking) and a week of
/// appointments, so the calendar is not empty.
async fn seed_calendar(
    store: &Store,
    clock: &Clock,
    actor: &Actor,
    links: &JoinLinks,
) -> anyhow::Result<()> {
    use crate::schedule::{self, NewAppointment, ScheduleInput, SlotStatus, WorkingHours};
    let queue = visits::create_queue(
        store,
        clock,
        &Text::parse(DEMO_APPOINTMENT_QUEUE).expect("demo text is valid"),
    )
    .await?;
    let mut tx = store.begin_read().await?;
    let clinicians = store::list_users(&mut tx, Some(Role::Clinician)).await?;
    let patients = store::search_patients(&mut tx, None, 10).await?;
    store::commit(tx).await?;
    let hours: Vec<WorkingHours> = (1..=5)
        .map(|weekday| WorkingHours {
            weekday,
            start: "09:00".to_owned(),
            end: "17:00".to_owned(),
        })
        .collect();
    let input = ScheduleInput {
        time_zone: "America/Chicago".to_owned(),
        visit_minutes: 20,
        queue_id: queue.id.clone(),
        self_booking: true,
        hours,
    };
    let reasons = ["Annual check-in", "Medication review", "Follow-up: cough"];
    let now = clock.now();
    let week = crate::model::timestamp::Timestamp(now.millis() + 7 * 24 * 3600 * 1000);
    for (c, clinician) in clinicians.iter().enumerate() {
        schedule::set_schedule(store, clock, actor, &clinician.id, &input).await?;
        let free = schedule::slots(store, clock, Some(&clinician.id), now, week).await?;
        // Two visits a day: the third and the eighth slot of each day.
        let mut days: Vec<(chrono::NaiveDate, usize)> = Vec::new();
        for slot in free.iter().filter(|s| s.status == SlotStatus::Free) {
            let day = slot.start.to_datetime().date_naive();
            let seen = match days.iter_mut().find(|(d, _)| *d == day) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.1
                }
                None => {
                    days.push((day, 1));
                    1
                }
            };
            if seen != 3 && seen != 8 {
                continue;
            }
            let i = days.len() + seen + c;
            let appointment = NewAppointment {
                patient_id: patients[i % patients.len()].id.clone(),
                clinician_id: clinician.id.clone(),
                start: slot.start,
                reason: Text::parse(reasons[i % reasons.len()]).expect("demo text is valid"),
            };
            schedule::book(store, clock, actor, links, &appointment).await?;
        }
    }
    Ok(())
}

/// A new join link for the first demo visit still booked: patient tokens
/// are not stored, so each start mints one.
async fn join_link(
    store: &Store,
    clock: &Clock,
    links: &JoinLinks,
) -> anyhow::Result<Option<String>> {
    let queues = visits::list_queues(store).await?;
    let Some(queue) = queues.iter().find(|q| q.name == DEMO_QUEUE) else {
        return Ok(None);
    };
    let view = visits::queue_view(store, &queue.id, 1).await?;
    let Some(entry) = view
        .entries
        .iter()
        .find(|e| e.status == VisitStatus::Scheduled)
    else {
        return Ok(None);
    };
    let mut tx = store.begin_read().await?;
    let visit = store::get_visit(&mut tx, &entry.visit_id).await?;
    store::commit(tx).await?;
    Ok(visit.map(|visit| {
        links
            .issue(&visit.id, &visit.patient_id, 0, clock.now())
            .url
    }))
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
