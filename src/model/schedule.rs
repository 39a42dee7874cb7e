//! Working hours and slots: when each clinician sees patients, in the
//! clinic's time zone, and the bookable times derived from them.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::ids::{QueueId, UserId, VisitId};
use crate::model::timestamp::Timestamp;
use crate::model::validation::FieldError;

/// The visit length when a clinician has no schedule of their own.
pub const DEFAULT_VISIT_MINUTES: i64 = 20;
/// Most working-hour blocks one schedule holds.
pub const MAX_BLOCKS: usize = 28;

/// One block of weekly hours: `weekday` 1 (Monday) to 7 (Sunday), local
/// times `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// ISO weekday: 1 is Monday, 7 is Sunday.
    pub weekday: u8,
    /// Local start, `HH:MM`.
    #[schema(example = "09:00")]
    pub start: String,
    /// Local end, `HH:MM` (`24:00` for midnight).
    #[schema(example = "12:00")]
    pub end: String,
}

/// Working hours in minutes after local midnight, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoursBlock {
    pub weekday: u8,
    pub start_minute: i64,
    pub end_minute: i64,
}

impl HoursBlock {
    pub fn to_api(self) -> WorkingHours {
        let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
        WorkingHours {
            weekday: self.weekday,
            start: hhmm(self.start_minute),
            end: hhmm(self.end_minute),
        }
    }
}

fn minutes(value: &str, field: String, allow_midnight_end: bool) -> Result<i64, FieldError> {
    if allow_midnight_end && value == "24:00" {
        return Ok(1440);
    }
    NaiveTime::parse_from_str(value, "%H:%M")
        .map(|t| i64::from(t.hour_minutes()))
        .map_err(|_| FieldError::new(field, "must be a time HH:MM such as 09:30"))
}

trait HourMinutes {
    fn hour_minutes(&self) -> u32;
}

impl HourMinutes for NaiveTime {
    fn hour_minutes(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

/// The body of `PUT /clinicians/{id}/schedule`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// An IANA time zone, such as `America/Chicago`.
    #[schema(example = "America/Chicago")]
    pub time_zone: String,
    /// Minutes per visit, 5 to 240.
    pub visit_minutes: i64,
    /// The queue booked visits join.
    pub queue_id: QueueId,
    /// Whether patients may book this clinician from the public page.
    #[serde(default = "yes")]
    pub self_booking: bool,
    pub hours: Vec<WorkingHours>,
}

fn yes() -> bool {
    true
}

/// A schedule whose values are known good.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSchedule {
    pub time_zone: Tz,
    pub visit_minutes: i64,
    pub queue_id: QueueId,
    pub self_booking: bool,
    pub hours: Vec<HoursBlock>,
}

impl ScheduleInput {
    /// Checks every value, and that no two blocks of a day overlap.
    pub fn check(&self) -> Result<CheckedSchedule, FieldError> {
        let time_zone: Tz = self.time_zone.parse().map_err(|_| {
            FieldError::new(
                "time_zone",
                "must be an IANA time zone such as America/Chicago",
            )
        })?;
        if !(5..=240).contains(&self.visit_minutes) {
            return Err(FieldError::new(
                "visit_minutes",
                "must be from 5 to 240 minutes",
            ));
        }
        if self.hours.len() > MAX_BLOCKS {
            return Err(FieldError::new(
                "hours",
                format!("lists at most {MAX_BLOCKS} blocks"),
            ));
        }
        let mut hours = Vec::with_capacity(self.hours.len());
        for (i, block) in self.hours.iter().enumerate() {
            if !(1..=7).contains(&block.weekday) {
                return Err(FieldError::new(
                    format!("hours[{i}].weekday"),
                    "must be 1 (Monday) to 7 (Sunday)",
                ));
            }
            let start = minutes(&block.start, format!("hours[{i}].start"), false)?;
            let end = minutes(&block.end, format!("hours[{i}].end"), true)?;
            if end <= start {
                return Err(FieldError::new(
                    format!("hours[{i}].end"),
                    "must be after the start",
                ));
            }
            hours.push(HoursBlock {
                weekday: block.weekday,
                start_minute: start,
                end_minute: end,
            });
        }
        hours.sort_by_key(|b| (b.weekday, b.start_minute));
        for pair in hours.windows(2) {
            if pair[0].weekday == pair[1].weekday && pair[1].start_minute < pair[0].end_minute {
                return Err(FieldError::new(
                    "hours",
                    format!(
                        "two blocks of weekday {} overlap; join them into one",
                        pair[0].weekday
                    ),
                ));
            }
        }
        Ok(CheckedSchedule {
            time_zone,
            visit_minutes: self.visit_minutes,
            queue_id: self.queue_id.clone(),
            self_booking: self.self_booking,
            hours,
        })
    }
}

/// A clinician's stored schedule, as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Schedule {
    pub clinician_id: UserId,
    pub clinician_name: String,
    pub time_zone: String,
    pub visit_minutes: i64,
    pub queue_id: QueueId,
    pub self_booking: bool,
    pub hours: Vec<WorkingHours>,
    pub updated_at: Timestamp,
}

/// A stored schedule with its typed parts, for deriving slots.
#[derive(Debug, Clone)]
pub struct StoredSchedule {
    pub clinician_id: UserId,
    pub clinician_name: String,
    pub schedule: CheckedSchedule,
    pub updated_at: Timestamp,
}

impl StoredSchedule {
    pub fn to_api(&self) -> Schedule {
        Schedule {
            clinician_id: self.clinician_id.clone(),
            clinician_name: self.clinician_name.clone(),
            time_zone: self.schedule.time_zone.name().to_owned(),
            visit_minutes: self.schedule.visit_minutes,
            queue_id: self.schedule.queue_id.clone(),
            self_booking: self.schedule.self_booking,
            hours: self.schedule.hours.iter().map(|b| b.to_api()).collect(),
            updated_at: self.updated_at,
        }
    }
}

/// A booked time of one clinician, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub clinician_id: UserId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub visit_id: VisitId,
}

/// Whether a slot can be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    Free,
    Busy,
}

/// One bookable time of one clinician.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Slot {
    pub clinician_id: UserId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: SlotStatus,
    /// The clinic's IANA time zone the slot was cut in: pages show the
    /// time in it, whatever zone the reader's device is in.
    #[schema(example = "America/Chicago")]
    pub time_zone: String,
}

/// A booked visit on the calendar: the day and week views.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarEntry {
    pub visit_id: VisitId,
    pub patient_id: crate::model::ids::PatientId,
    pub patient_name: String,
    pub clinician_id: Option<UserId>,
    pub clinician_name: Option<String>,
    pub queue_id: QueueId,
    pub queue_name: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub reason: String,
    pub status: crate::model::visit::VisitStatus,
    pub priority: crate::model::visit::Priority,
    /// The IANA time zone to show the visit's time in: its clinician's
    /// working hours', else those of a clinician of its queue, else any
    /// clinician's (the clinic's), else `UTC`.
    #[schema(example = "America/Chicago")]
    pub time_zone: String,
}

/// The slots of `schedule` starting in `[from, to)` and after `now`: each
/// block cut into visit-length pieces in the clinic's local time, busy
/// where a booking overlaps. A local time that does not exist (the spring
/// DST gap) is skipped; an ambiguous one takes its first occurrence.
pub fn derive_slots(
    clinician: &UserId,
    schedule: &CheckedSchedule,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    booked: &[Booking],
) -> Vec<Slot> {
    let tz = schedule.time_zone;
    let length = Duration::minutes(schedule.visit_minutes);
    let first_day = local_date(tz, from) - Duration::days(1);
    let last_day = local_date(tz, to) + Duration::days(1);
    let mut slots = Vec::new();
    let mut day = first_day;
    while day <= last_day {
        let weekday = day.weekday().number_from_monday() as u8;
        for block in schedule.hours.iter().filter(|b| b.weekday == weekday) {
            let mut minute = block.start_minute;
            while minute + schedule.visit_minutes <= block.end_minute {
                if let Some(start) = local_instant(tz, day, minute) {
                    let end = Timestamp(start.0 + length.num_milliseconds());
                    if start >= from && start < to && start > now {
                        let busy = booked.iter().any(|b| {
                            b.clinician_id == *clinician && b.start < end && start < b.end
                        });
                        slots.push(Slot {
                            clinician_id: clinician.clone(),
                            start,
                            end,
                            status: if busy {
                                SlotStatus::Busy
                            } else {
                                SlotStatus::Free
                            },
                            time_zone: tz.name().to_owned(),
                        });
                    }
                }
                minute += schedule.visit_minutes;
            }
        }
        day += Duration::days(1);
    }
    slots.sort_by_key(|s| s.start);
    slots
}

/// The local calendar date of an instant.
pub fn local_date(tz: Tz, at: Timestamp) -> NaiveDate {
    at.to_datetime().with_timezone(&tz).date_naive()
}

/// The instant of a local time, `minute` after midnight of `day`.
pub fn local_instant(tz: Tz, day: NaiveDate, minute: i64) -> Option<Timestamp> {
    let midnight = day.and_hms_opt(0, 0, 0)?;
    let local = midnight + Duration::minutes(minute);
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| Timestamp(t.timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(zone: &str, hours: &[(u8, &str, &str)]) -> CheckedSchedule {
        ScheduleInput {
            time_zone: zone.to_owned(),
            visit_minutes: 30,
            queue_id: QueueId::new(),
            self_booking: true,
            hours: hours
                .iter()
                .map(|(d, s, e)| WorkingHours {
                    weekday: *d,
                    start: (*s).to_owned(),
                    end: (*e).to_owned(),
                })
                .collect(),
        }
        .check()
        .unwrap()
    }

    fn at(text: &str) -> Timestamp {
        Timestamp(
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_millis(),
        )
    }

    #[test]
    fn hours_are_cut_into_visit_lengths_in_local_time() {
        // Monday 2026-03-02 in Chicago is UTC-6.
        let s = schedule("America/Chicago", &[(1, "09:00", "10:45")]);
        let who = UserId::new();
        let slots = derive_slots(
            &who,
            &s,
            at("2026-03-02T00:00:00Z"),
            at("2026-03-03T00:00:00Z"),
            at("2026-03-01T00:00:00Z"),
            &[],
        );
        let starts: Vec<String> = slots.iter().map(|s| s.start.rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-03-02T15:00:00Z",
                "2026-03-02T15:30:00Z",
                "2026-03-02T16:00:00Z"
            ]
        );
    }

    #[test]
    fn a_booking_makes_the_slots_it_overlaps_busy() {
        let s = schedule("UTC", &[(1, "09:00", "11:00")]);
        let who = UserId::new();
        let booked = [Booking {
            clinician_id: who.clone(),
            start: at("2026-03-02T09:15:00Z"),
            end: at("2026-03-02T09:45:00Z"),
            visit_id: VisitId::new(),
        }];
        let slots = derive_slots(
            &who,
            &s,
            at("2026-03-02T00:00:00Z"),
            at("2026-03-03T00:00:00Z"),
            at("2026-03-01T00:00:00Z"),
            &booked,
        );
        let busy: Vec<bool> = slots.iter().map(|s| s.status == SlotStatus::Busy).collect();
        assert_eq!(busy, [true, true, false, false]);
    }

    #[test]
    fn past_slots_and_the_dst_gap_are_left_out() {
        // 2026-03-08 (a Sunday) at 02:00 Chicago time does not exist.
        let s = schedule("America/Chicago", &[(7, "01:30", "03:30")]);
        let who = UserId::new();
        let slots = derive_slots(
            &who,
            &s,
            at("2026-03-08T00:00:00Z"),
            at("2026-03-09T00:00:00Z"),
            at("2026-03-01T00:00:00Z"),
            &[],
        );
        let starts: Vec<String> = slots.iter().map(|s| s.start.rfc3339()).collect();
        // 01:30 CST and 03:00 CDT; 02:00 and 02:30 never happen that night.
        assert_eq!(starts, ["2026-03-08T07:30:00Z", "2026-03-08T08:00:00Z"]);
        let later = derive_slots(
            &who,
            &s,
            at("2026-03-08T00:00:00Z"),
            at("2026-03-09T00:00:00Z"),
            at("2026-03-08T09:00:00Z"),
            &[],
        );
        assert!(later.is_empty());
    }

    #[test]
    fn overlapping_blocks_and_bad_zones_are_refused() {
        let input = |zone: &str, hours: Vec<(u8, &str, &str)>| ScheduleInput {
            time_zone: zone.to_owned(),
            visit_minutes: 20,
            queue_id: QueueId::new(),
            self_booking: true,
            hours: hours
                .into_iter()
                .map(|(d, s, e)| WorkingHours {
                    weekday: d,
                    start: s.to_owned(),
                    end: e.to_owned(),
                })
                .collect(),
        };
        let err = input("Mars/Olympus", vec![]).check().unwrap_err();
        assert_eq!(err.field, "time_zone");
        let err = input("UTC", vec![(1, "09:00", "12:00"), (1, "11:00", "13:00")])
            .check()
            .unwrap_err();
        assert_eq!(err.field, "hours");
        let err = input("UTC", vec![(8, "09:00", "12:00")])
            .check()
            .unwrap_err();
        assert_eq!(err.field, "hours[0].weekday");
        let err = input("UTC", vec![(1, "9am", "12:00")]).check().unwrap_err();
        assert_eq!(err.field, "hours[0].start");
    }
}
