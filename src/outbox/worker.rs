//! The message worker. Each round queues the reminders now due, then sends
//! what is due one message at a time: claim it under a lease (a token and
//! an expiry) in one transaction, hand it to the mail server or SMS
//! provider, then settle it in another transaction that only the lease's
//! holder can. A crash before the hand-over leaves the message to be taken
//! again when the lease lapses; nothing is lost, and a message marked sent
//! is never sent again. Failed attempts are retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::compose::{Facts, appointment_time, compose};
use super::email::Mailer;
use super::sms::{Delivery, SmsProvider, Twilio, e164};
use super::{OutboxSettings, queue_due_reminders};
use crate::audit::{Actor, AuditEntry};
use crate::auth::JoinLinks;
use crate::model::clock::Clock;
use crate::model::message::{Channel, ClaimedMessage, MessageKind, mask_address};
use crate::model::summary::ClinicContact;
use crate::model::timestamp::Timestamp;
use crate::store::{self, Settled, Store, StoreError};

/// How long a claim holds before another worker may take the message.
pub const LEASE: Duration = Duration::from_secs(120);
/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// The first retry waits this long; each further one twice as long.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The span the daily cap of texts counts over.
const CAP_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// When attempt `attempts` (counting from 1) failed, how long to wait.
pub fn backoff(attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(MAX_BACKOFF)
}

/// Everything sending needs: the transports and how to mint a join link.
#[derive(Debug, Clone)]
pub struct Sender {
    pub store: Store,
    pub clock: Clock,
    pub settings: Arc<OutboxSettings>,
    mailer: Option<Mailer>,
    sms: Option<Arc<dyn SmsProvider>>,
    /// Mints the join link a message carries.
    links: JoinLinks,
    /// The clinic named in messages, with its phone.
    clinic: Option<ClinicContact>,
}

impl Sender {
    pub fn new(
        store: Store,
        clock: Clock,
        settings: Arc<OutboxSettings>,
        links: JoinLinks,
        clinic: Option<ClinicContact>,
    ) -> anyhow::Result<Self> {
        let mailer = settings
            .email
            .as_ref()
            .map(Mailer::new)
            .transpose()
            .map_err(|_| anyhow::anyhow!("Failed to set up TLS for BEDSIDE_SMTP_URL"))?;
        let sms = settings
            .sms
            .clone()
            .map(|s| Arc::new(Twilio::new(s)) as Arc<dyn SmsProvider>);
        Ok(Self {
            store,
            clock,
            settings,
            mailer,
            sms,
            links,
            clinic,
        })
    }

    /// Claims and sends the next due message; `None` when none is due.
    #[tracing::instrument(skip_all)]
    pub async fn send_next(&self) -> Result<Option<Delivery>, StoreError> {
        let now = self.clock.now();
        let lease_token = uuid::Uuid::new_v4().to_string();
        let mut tx = self.store.begin().await?;
        let claimed = store::claim_next_message(
            &mut tx,
            self.store.backend(),
            now,
            &lease_token,
            now + LEASE,
        )
        .await?;
        store::commit(tx).await?;
        let Some(message) = claimed else {
            return Ok(None);
        };
        let delivery = self.deliver(&message).await;
        self.settle(&message, &delivery).await?;
        Ok(Some(delivery))
    }

    /// Sends until nothing is due; answers how many were handled.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut handled = 0;
        while self.send_next().await?.is_some() {
            handled += 1;
        }
        Ok(handled)
    }

    /// Whether the daily cap keeps this text back: held until the oldest
    /// text counted is a day old, or dropped when it would go too late to
    /// matter (a delay announced, or after the visit's start).
    async fn over_daily_cap(&self, message: &ClaimedMessage) -> Option<Delivery> {
        let cap = usize::try_from(self.settings.sms_daily_cap).unwrap_or(usize::MAX);
        let now = self.clock.now();
        let since = Timestamp(now.millis() - CAP_WINDOW.as_millis() as i64);
        let counted = async {
            let mut tx = self.store.begin_read().await?;
            let sent =
                store::texts_to_patient_since(&mut tx, &message.patient_id, since, &message.id)
                    .await?;
            store::commit(tx).await?;
            Ok::<_, StoreError>(sent)
        }
        .await;
        let sent = match counted {
            Ok(sent) => sent,
            Err(_) => {
                return Some(Delivery::Temporary(
                    "the texts already sent to this patient could not be counted".to_owned(),
                ));
            }
        };
        if sent.len() < cap {
            return None;
        }
        let until = sent[sent.len() - cap] + CAP_WINDOW;
        let said = format!(
            "{cap} texts already went to this patient in the last 24 hours (BEDSIDE_SMS_DAILY_CAP)"
        );
        let too_late = message.kind == MessageKind::RunningLate
            || message.scheduled_start.is_some_and(|start| until >= start);
        Some(if too_late {
            Delivery::Permanent(format!(
                "not sent: {said}, and it would be too late once another may go"
            ))
        } else {
            Delivery::Held {
                reason: format!(
                    "held: {said}; it goes on {}",
                    appointment_time(until, message.time_zone)
                ),
                until,
            }
        })
    }

    async fn deliver(&self, message: &ClaimedMessage) -> Delivery {
        if let Some(reason) = message.stale(self.clock.now()) {
            return Delivery::Permanent(reason.to_owned());
        }
        if message.channel == Channel::Sms
            && let Some(kept) = self.over_daily_cap(message).await
        {
            return kept;
        }
        let now = self.clock.now();
        let link = matches!(message.kind, MessageKind::Link | MessageKind::Reminder).then(|| {
            self.links
                .issue(
                    &message.visit_id,
                    &message.patient_id,
                    message.current_link_version,
                    now,
                )
                .url
        });
        let clinic = self.clinic.as_ref();
        let composed = compose(&Facts {
            kind: message.kind,
            channel: message.channel,
            given_name: &message.patient_given_name,
            clinic: clinic.map_or("Bedside", |c| c.name.as_str()),
            clinic_phone: clinic.and_then(|c| c.phone.as_deref()),
            starts: message.scheduled_start,
            time_zone: message.time_zone,
            link: link.as_deref(),
            late_minutes: message.late_minutes,
        });
        let masked = mask_address(message.channel, &message.address);
        match message.channel {
            Channel::Email => match &self.mailer {
                Some(mailer) => {
                    mailer
                        .send(
                            &message.id,
                            &message.address,
                            &composed.subject,
                            &composed.body,
                        )
                        .await
                }
                None => self.log_only(message, &masked, "e-mail is not set up (BEDSIDE_SMTP_URL)"),
            },
            Channel::Sms => {
                let Some(to) = e164(&message.address) else {
                    return Delivery::Permanent(
                        "the patient's phone number cannot take text messages".to_owned(),
                    );
                };
                match &self.sms {
                    Some(provider) => provider.send(&to, &composed.body).await,
                    None => self.log_only(
                        message,
                        &masked,
                        "text messages are not set up (BEDSIDE_SMS_PROVIDER)",
                    ),
                }
            }
        }
    }

    /// Without a transport: logged (the demo), else failed with `reason`.
    fn log_only(&self, message: &ClaimedMessage, masked: &str, reason: &str) -> Delivery {
        if self.settings.log_only {
            tracing::info!(
                message.id = %message.id,
                kind = message.kind.as_str(),
                channel = message.channel.as_str(),
                "would send to {masked}"
            );
            Delivery::Sent {
                provider_id: Some("log".to_owned()),
            }
        } else {
            Delivery::Permanent(reason.to_owned())
        }
    }

    async fn settle(
        &self,
        message: &ClaimedMessage,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let given_up;
        let outcome = match delivery {
            Delivery::Sent { provider_id } => Settled::Sent {
                provider_id: provider_id.as_deref(),
            },
            Delivery::Temporary(reason) if message.attempts < MAX_ATTEMPTS => Settled::Retry {
                failure: reason,
                at: now + backoff(message.attempts),
            },
            Delivery::Temporary(reason) => {
                given_up = format!("gave up after {MAX_ATTEMPTS} attempts: {reason}");
                Settled::Failed { failure: &given_up }
            }
            Delivery::Permanent(reason) | Delivery::OptedOut(reason) => {
                Settled::Failed { failure: reason }
            }
            Delivery::Held { reason, until } => Settled::Held { reason, at: *until },
        };
        let mut tx = self.store.begin().await?;
        let settled =
            store::settle_message(&mut tx, &message.id, &message.lease_token, outcome, now).await?;
        if settled && matches!(delivery, Delivery::OptedOut(_)) {
            // The provider says the number replied STOP: no more texts.
            store::set_sms_opt_out(&mut tx, &message.patient_id, true, now).await?;
            let entry = AuditEntry::new(&Actor::system(now), "patient.text_opt_out", "Patient")
                .resource(message.patient_id.as_str())
                .patient(&message.patient_id);
            store::append_audit(&mut tx, &entry).await?;
        }
        store::commit(tx).await?;
        if !settled {
            tracing::warn!(message.id = %message.id, "a message's lease lapsed while it was sent");
        }
        Ok(())
    }

    /// One round: reminders due, then every message due.
    pub async fn round(&self, stopped: &watch::Receiver<bool>) {
        if let Err(error) =
            queue_due_reminders(&self.store, &self.clock, &self.settings.reminder_minutes).await
        {
            tracing::warn!(error = %error, "queueing reminders failed");
        }
        while !*stopped.borrow() {
            match self.send_next().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(error = %error, "the message worker's round failed");
                    break;
                }
            }
        }
    }
}

/// How long [`Worker::stop`] waits for the message in hand.
const STOP_WITHIN: Duration = Duration::from_secs(25);

/// The loop started by `serve`.
#[derive(Debug)]
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Worker {
    /// Starts the loop unless `BEDSIDE_MESSAGE_POLL_SECONDS` is 0.
    pub fn start(sender: Sender) -> Option<Self> {
        let period = sender.settings.poll_every?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = stopped.changed() => return,
                    _ = ticker.tick() => {}
                }
                sender.round(&stopped).await;
            }
        });
        Some(Self { stop, task })
    }

    /// Stops after the message in hand (its lease lets another worker
    /// take it over if this one is cut short).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(STOP_WITHIN, self.task).await.is_err() {
            tracing::warn!("the message worker did not finish in time");
            abort.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(4), Duration::from_secs(240));
        assert_eq!(backoff(20), Duration::from_secs(3600));
    }
}
