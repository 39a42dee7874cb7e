//! The bus over Redis: one pub/sub channel for envelopes, a hash per room
//! for its members, a key per open room and a key per live node.
//!
//! Keys, under a prefix: channel `{p}:bus`, `{p}:room:{visit}` (hash:
//! participant id → member JSON), `{p}:room:{visit}:open`, `{p}:node:{id}`.
//! Commands go through a [`ConnectionManager`], which reconnects by itself;
//! the subscriber runs its own reconnect loop.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use ::redis::{Client, RedisResult, Value};
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::{Bus, BusError, Envelope, MemberRecord};
use crate::protocol::{ParticipantId, VisitId};

/// Envelopes buffered between the subscriber and the hub.
const CAPACITY: usize = 4_096;
/// How long an idle room's directory entry survives a forgotten close.
const ROOM_TTL_SECONDS: u64 = 24 * 60 * 60;
/// Connection and response limit: a node without Redis keeps serving its own
/// sockets, so it must not wait long on it.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscriber checks its connection is still alive.
const SUBSCRIBER_PING: Duration = Duration::from_secs(5);
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// A command connection that reconnects by itself and fails fast while
/// Redis is away. Created without connecting, so a node starts without Redis.
pub fn redis_connection(client: Client) -> RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client, config)
}

/// The bus over Redis; clones share the connection.
#[derive(Clone)]
pub struct RedisBus {
    client: Client,
    redis: ConnectionManager,
    prefix: String,
    subscribed: Arc<AtomicBool>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("prefix", &self.prefix)
            .field("subscribed", &self.subscribed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// A bus whose keys and channel go under `prefix`; the subscriber opens
    /// its own connection from `client`.
    pub fn new(client: Client, redis: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            client,
            redis,
            prefix: prefix.into(),
            subscribed: Arc::new(AtomicBool::new(false)),
        }
    }

    fn channel(&self) -> String {
        format!("{}:bus", self.prefix)
    }

    fn room_key(&self, visit_id: &VisitId) -> String {
        format!("{}:room:{visit_id}", self.prefix)
    }

    fn open_key(&self, visit_id: &VisitId) -> String {
        format!("{}:room:{visit_id}:open", self.prefix)
    }

    fn node_key(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }
}

impl Bus for RedisBus {
    fn publish<'a>(&'a self, envelope: &'a Envelope) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let payload = serde_json::to_string(envelope)?;
            let mut redis = self.redis.clone();
            ::redis::cmd("PUBLISH")
                .arg(self.channel())
                .arg(payload)
                .query_async::<Value>(&mut redis)
                .await?;
            Ok(())
        })
    }

    fn subscribe(&self) -> BoxFuture<'_, BoxStream<'static, Envelope>> {
        Box::pin(async move {
            let (sender, receiver) = mpsc::channel(CAPACITY);
            let (first, first_done) = oneshot::channel();
            tokio::spawn(subscriber(
                self.client.clone(),
                self.channel(),
                Arc::clone(&self.subscribed),
                sender,
                first,
            ));
            // Either way the loop goes on; this only waits for the first try.
            let _ = first_done.await;
            stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|envelope| (envelope, receiver))
            })
            .boxed()
        })
    }

    fn put_member<'a>(
        &'a self,
        visit_id: &'a VisitId,
        member: &'a MemberRecord,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let record = serde_json::to_string(member)?;
            let key = self.room_key(visit_id);
            let mut redis = self.redis.clone();
            ::redis::pipe()
                .cmd("HSET")
                .arg(&key)
                .arg(member.participant_id.as_str())
                .arg(record)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(ROOM_TTL_SECONDS)
                .ignore()
                .query_async::<()>(&mut redis)
                .await?;
            Ok(())
        })
    }

    fn remove_member<'a>(
        &'a self,
        visit_id: &'a VisitId,
        participant_id: &'a ParticipantId,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            ::redis::cmd("HDEL")
                .arg(self.room_key(visit_id))
                .arg(participant_id.as_str())
                .query_async::<Value>(&mut redis)
                .await?;
            Ok(())
        })
    }

    fn members<'a>(
        &'a self,
        visit_id: &'a VisitId,
    ) -> BoxFuture<'a, Result<Vec<MemberRecord>, BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let records: Vec<(String, String)> = ::redis::cmd("HGETALL")
                .arg(self.room_key(visit_id))
                .query_async(&mut redis)
                .await?;
            let members = records
                .iter()
                .map(|(_, record)| serde_json::from_str::<MemberRecord>(record))
                .collect::<Result<Vec<_>, _>>()?;
            let nodes: Vec<String> = members
                .iter()
                .map(|member| member.node.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            if nodes.is_empty() {
                return Ok(members);
            }
            let alive: Vec<Option<String>> = ::redis::cmd("MGET")
                .arg(
                    nodes
                        .iter()
                        .map(|node| self.node_key(node))
                        .collect::<Vec<_>>(),
                )
                .query_async(&mut redis)
                .await?;
            let alive: HashSet<String> = nodes
                .into_iter()
                .zip(alive)
                .filter_map(|(node, flag)| flag.map(|_| node))
                .collect();
            Ok(members
                .into_iter()
                .filter(|member| alive.contains(&member.node))
                .collect())
        })
    }

    fn set_room_open<'a>(
        &'a self,
        visit_id: &'a VisitId,
        open: bool,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            if open {
                ::redis::cmd("SET")
                    .arg(self.open_key(visit_id))
                    .arg(1)
                    .arg("EX")
                    .arg(ROOM_TTL_SECONDS)
                    .query_async::<Value>(&mut redis)
                    .await?;
            } else {
                ::redis::cmd("DEL")
                    .arg(self.open_key(visit_id))
                    .arg(self.room_key(visit_id))
                    .query_async::<Value>(&mut redis)
                    .await?;
            }
            Ok(())
        })
    }

    fn room_open<'a>(&'a self, visit_id: &'a VisitId) -> BoxFuture<'a, Result<bool, BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let open: bool = ::redis::cmd("EXISTS")
                .arg(self.open_key(visit_id))
                .query_async(&mut redis)
                .await?;
            Ok(open)
        })
    }

    fn announce_node<'a>(
        &'a self,
        node: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            ::redis::cmd("SET")
                .arg(self.node_key(node))
                .arg(1)
                .arg("PX")
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
                .query_async::<Value>(&mut redis)
                .await?;
            Ok(())
        })
    }

    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let answers = ::redis::cmd("PING")
                .query_async::<Value>(&mut redis)
                .await
                .is_ok();
            answers && self.subscribed.load(Ordering::Relaxed)
        })
    }
}

/// Keeps one subscription alive until the hub drops the stream: connect,
/// subscribe, forward, and on any failure wait a little and start again.
async fn subscriber(
    client: Client,
    channel: String,
    subscribed: Arc<AtomicBool>,
    sender: mpsc::Sender<Envelope>,
    first: oneshot::Sender<()>,
) {
    let mut first = Some(first);
    let mut backoff = RECONNECT_MIN;
    loop {
        match connect(&client, &channel).await {
            Ok((sink, messages)) => {
                subscribed.store(true, Ordering::Relaxed);
                backoff = RECONNECT_MIN;
                if let Some(first) = first.take() {
                    let _ = first.send(());
                }
                let stopped = forward(sink, messages, &sender).await;
                subscribed.store(false, Ordering::Relaxed);
                if stopped {
                    return;
                }
                tracing::warn!("bus subscription lost; reconnecting");
            }
            Err(error) => {
                if let Some(first) = first.take() {
                    let _ = first.send(());
                }
                tracing::warn!(%error, "bus subscription failed; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = sender.closed() => return,
        }
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

async fn connect(client: &Client, channel: &str) -> RedisResult<(PubSubSink, PubSubStream)> {
    let connecting = async {
        let pubsub = client.get_async_pubsub().await?;
        let (mut sink, messages) = pubsub.split();
        sink.subscribe(channel).await?;
        Ok((sink, messages))
    };
    tokio::time::timeout(REDIS_TIMEOUT, connecting)
        .await
        .unwrap_or_else(|_| {
            Err(::redis::RedisError::from((
                ::redis::ErrorKind::Io,
                "bus subscription timed out",
            )))
        })
}

/// Forwards until the connection fails (`false`) or the hub is gone (`true`).
async fn forward(
    mut sink: PubSubSink,
    mut messages: PubSubStream,
    sender: &mpsc::Sender<Envelope>,
) -> bool {
    let mut ping = tokio::time::interval(SUBSCRIBER_PING);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { return false };
                let envelope = serde_json::from_slice::<Envelope>(message.get_payload_bytes());
                match envelope {
                    Ok(envelope) => {
                        if sender.send(envelope).await.is_err() {
                            return true;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "undecodable bus envelope ignored"),
                }
            }
            _ = ping.tick() => {
                let answered = tokio::time::timeout(REDIS_TIMEOUT, sink.ping::<Value>()).await;
                if !matches!(answered, Ok(Ok(_))) {
                    return false;
                }
            }
            () = sender.closed() => return true,
        }
    }
}
