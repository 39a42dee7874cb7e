//! The bus over Redis: one pub/sub channel for envelopes, a hash per room
//! for its members, a key per open room and a key per live node.
//!
//! Keys, under a prefix: channel `{p}:bus`, `{p}:room:{visit}` (hash:
//! participant id → member JSON), `{p}:room:{visit}:open`, `{p}:node:{id}`
//! (the node's lease), `{p}:node:{id}:members` (its members, for reaping),
//! `{p}:nodes` (every node that announced itself), `{p}:session:{pid}`
//! (hash: the resumable session's JSON and its resume token) and
//! `{p}:resume:{token}` (→ participant id).
//! Commands go through a [`ConnectionManager`], which reconnects by itself;
//! the subscriber runs its own reconnect loop and counts its connections.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use ::redis::{Client, RedisResult, Script, Value};
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::{Bus, BusError, Claimant, Envelope, MemberRecord, SessionRecord};
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
/// How long a session attached to a socket stays claimable; the node holding
/// it shortens this to the resume window when the socket drops.
const SESSION_TTL_SECONDS: u64 = 24 * 60 * 60;

/// KEYS: room hash, node members set. ARGV: participant id, node, entry.
/// Removes the member only if that node still holds it.
const REMOVE_MEMBER: &str = r"
redis.call('SREM', KEYS[2], ARGV[3])
local record = redis.call('HGET', KEYS[1], ARGV[1])
if record and cjson.decode(record).node == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
";

/// KEYS: nodes set, node lease, node members set. ARGV: node, room key
/// prefix. Only the caller whose SREM removed the node reaps it; a member
/// that moved to another node (a resume) stays.
const REAP_NODE: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return {} end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {} end
local out = {}
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local e = cjson.decode(entry)
  local room = ARGV[2] .. e[1]
  local record = redis.call('HGET', room, e[2])
  if record and cjson.decode(record).node == ARGV[1] then
    redis.call('HDEL', room, e[2])
    table.insert(out, e[1])
    table.insert(out, record)
  end
end
redis.call('DEL', KEYS[3])
return out
";

/// KEYS: old resume key. ARGV: session key prefix, resume key prefix, new
/// token, claimant JSON, ttl. The session must belong to the claimant's
/// subject and role; the old token dies, the new one names the session.
const CLAIM_SESSION: &str = r"
local pid = redis.call('GET', KEYS[1])
if not pid then return false end
local key = ARGV[1] .. pid
local record = redis.call('HGET', key, 'record')
if not record then return false end
local old = cjson.decode(record)
local claim = cjson.decode(ARGV[4])
if old.user_id ~= claim.user_id or old.role ~= claim.role then return false end
redis.call('DEL', KEYS[1])
old.node = claim.node
redis.call('HSET', key, 'record', cjson.encode(old), 'token', ARGV[3])
redis.call('EXPIRE', key, ARGV[5])
redis.call('SET', ARGV[2] .. ARGV[3], pid, 'EX', ARGV[5])
return record
";

/// KEYS: session hash. ARGV: record JSON, node, token, ttl, resume key
/// prefix. A session another node took over is left alone.
const SAVE_SESSION: &str = r"
local record = redis.call('HGET', KEYS[1], 'record')
if record and cjson.decode(record).node ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'token', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SET', ARGV[5] .. ARGV[3], cjson.decode(ARGV[1]).participant_id, 'EX', ARGV[4])
return 1
";

/// KEYS: session hash. ARGV: record JSON, node. Only the holding node writes.
const UPDATE_SESSION: &str = r"
local record = redis.call('HGET', KEYS[1], 'record')
if record and cjson.decode(record).node == ARGV[2] then
  redis.call('HSET', KEYS[1], 'record', ARGV[1])
end
return 0
";

/// KEYS: session hash. ARGV: node, resume key prefix. Only the holding node
/// forgets, with its token.
const FORGET_SESSION: &str = r"
local record = redis.call('HGET', KEYS[1], 'record')
if record and cjson.decode(record).node == ARGV[1] then
  local token = redis.call('HGET', KEYS[1], 'token')
  if token then redis.call('DEL', ARGV[2] .. token) end
  redis.call('DEL', KEYS[1])
end
return 0
";

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
    connections: Arc<watch::Sender<u64>>,
    scripts: Arc<Scripts>,
}

struct Scripts {
    remove_member: Script,
    reap_node: Script,
    save_session: Script,
    claim_session: Script,
    update_session: Script,
    forget_session: Script,
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
            connections: Arc::new(watch::channel(0).0),
            scripts: Arc::new(Scripts {
                remove_member: Script::new(REMOVE_MEMBER),
                reap_node: Script::new(REAP_NODE),
                save_session: Script::new(SAVE_SESSION),
                claim_session: Script::new(CLAIM_SESSION),
                update_session: Script::new(UPDATE_SESSION),
                forget_session: Script::new(FORGET_SESSION),
            }),
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

    fn node_members_key(&self, node: &str) -> String {
        format!("{}:node:{node}:members", self.prefix)
    }

    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    fn session_prefix(&self) -> String {
        format!("{}:session:", self.prefix)
    }

    fn resume_prefix(&self) -> String {
        format!("{}:resume:", self.prefix)
    }
}

/// A node's members set holds `[visit, participant]` pairs.
fn member_entry(visit_id: &VisitId, participant_id: &ParticipantId) -> String {
    serde_json::json!([visit_id, participant_id]).to_string()
}

fn seconds(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

impl Bus for RedisBus {
    fn publish<'a>(&'a self, envelope: &'a Envelope) -> BoxFuture<'a, Result<bool, BusError>> {
        Box::pin(async move {
            let payload = serde_json::to_string(envelope)?;
            let mut redis = self.redis.clone();
            let receivers: usize = ::redis::cmd("PUBLISH")
                .arg(self.channel())
                .arg(payload)
                .query_async(&mut redis)
                .await?;
            let own = usize::from(self.subscribed.load(Ordering::Relaxed));
            Ok(receivers > own)
        })
    }

    fn subscribe<'a>(&'a self, node: &'a str) -> BoxFuture<'a, BoxStream<'static, Envelope>> {
        Box::pin(async move {
            let (sender, receiver) = mpsc::channel(CAPACITY);
            let (first, first_done) = oneshot::channel();
            tokio::spawn(subscriber(
                self.client.clone(),
                self.channel(),
                Link {
                    node: node.to_owned(),
                    subscribed: Arc::clone(&self.subscribed),
                    connections: Arc::clone(&self.connections),
                },
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
            let index = self.node_members_key(&member.node);
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
                .cmd("SADD")
                .arg(&index)
                .arg(member_entry(visit_id, &member.participant_id))
                .ignore()
                .cmd("EXPIRE")
                .arg(&index)
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
        node: &'a str,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            self.scripts
                .remove_member
                .key(self.room_key(visit_id))
                .key(self.node_members_key(node))
                .arg(participant_id.as_str())
                .arg(node)
                .arg(member_entry(visit_id, participant_id))
                .invoke_async::<Value>(&mut redis)
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
    ) -> BoxFuture<'a, Result<bool, BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let (held, _): (Option<String>, Value) = ::redis::pipe()
                .cmd("SET")
                .arg(self.node_key(node))
                .arg(1)
                .arg("PX")
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
                .arg("GET")
                .cmd("SADD")
                .arg(self.nodes_key())
                .arg(node)
                .query_async(&mut redis)
                .await?;
            Ok(held.is_some())
        })
    }

    fn lapsed_nodes(&self) -> BoxFuture<'_, Result<Vec<String>, BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let nodes: Vec<String> = ::redis::cmd("SMEMBERS")
                .arg(self.nodes_key())
                .query_async(&mut redis)
                .await?;
            if nodes.is_empty() {
                return Ok(nodes);
            }
            let leases: Vec<Option<String>> = ::redis::cmd("MGET")
                .arg(nodes.iter().map(|n| self.node_key(n)).collect::<Vec<_>>())
                .query_async(&mut redis)
                .await?;
            Ok(nodes
                .into_iter()
                .zip(leases)
                .filter_map(|(node, lease)| lease.is_none().then_some(node))
                .collect())
        })
    }

    fn reap_node<'a>(
        &'a self,
        node: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(VisitId, MemberRecord)>, BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let out: Vec<String> = self
                .scripts
                .reap_node
                .key(self.nodes_key())
                .key(self.node_key(node))
                .key(self.node_members_key(node))
                .arg(node)
                .arg(format!("{}:room:", self.prefix))
                .invoke_async(&mut redis)
                .await?;
            out.chunks_exact(2)
                .map(|pair| {
                    let member = serde_json::from_str::<MemberRecord>(&pair[1])?;
                    Ok((VisitId::new(pair[0].clone()), member))
                })
                .collect()
        })
    }

    fn connections(&self) -> watch::Receiver<u64> {
        self.connections.subscribe()
    }

    fn save_session<'a>(
        &'a self,
        token: &'a str,
        session: &'a SessionRecord,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            self.scripts
                .save_session
                .key(format!(
                    "{}{}",
                    self.session_prefix(),
                    session.participant_id
                ))
                .arg(serde_json::to_string(session)?)
                .arg(&session.node)
                .arg(token)
                .arg(seconds(ttl))
                .arg(self.resume_prefix())
                .invoke_async::<Value>(&mut redis)
                .await?;
            Ok(())
        })
    }

    fn claim_session<'a>(
        &'a self,
        token: &'a str,
        new_token: &'a str,
        claim: &'a Claimant,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let record: Option<String> = self
                .scripts
                .claim_session
                .key(format!("{}{token}", self.resume_prefix()))
                .arg(self.session_prefix())
                .arg(self.resume_prefix())
                .arg(new_token)
                .arg(serde_json::to_string(claim)?)
                .arg(SESSION_TTL_SECONDS)
                .invoke_async(&mut redis)
                .await?;
            record
                .map(|record| serde_json::from_str(&record))
                .transpose()
                .map_err(BusError::from)
        })
    }

    fn update_session<'a>(
        &'a self,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            self.scripts
                .update_session
                .key(format!(
                    "{}{}",
                    self.session_prefix(),
                    session.participant_id
                ))
                .arg(serde_json::to_string(session)?)
                .arg(&session.node)
                .invoke_async::<Value>(&mut redis)
                .await?;
            Ok(())
        })
    }

    fn forget_session<'a>(
        &'a self,
        participant_id: &'a ParticipantId,
        node: &'a str,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            self.scripts
                .forget_session
                .key(format!("{}{participant_id}", self.session_prefix()))
                .arg(node)
                .arg(self.resume_prefix())
                .invoke_async::<Value>(&mut redis)
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

/// What the subscriber reports of its connection.
struct Link {
    /// The subscribing node: its own envelopes are not passed on.
    node: String,
    subscribed: Arc<AtomicBool>,
    connections: Arc<watch::Sender<u64>>,
}

/// Keeps one subscription alive until the hub drops the stream: connect,
/// subscribe, forward, and on any failure wait a little and start again.
async fn subscriber(
    client: Client,
    channel: String,
    link: Link,
    sender: mpsc::Sender<Envelope>,
    first: oneshot::Sender<()>,
) {
    let Link {
        node,
        subscribed,
        connections,
    } = link;
    let mut first = Some(first);
    let mut backoff = RECONNECT_MIN;
    loop {
        match connect(&client, &channel).await {
            Ok((sink, messages)) => {
                subscribed.store(true, Ordering::Relaxed);
                connections.send_modify(|count| *count += 1);
                backoff = RECONNECT_MIN;
                if let Some(first) = first.take() {
                    let _ = first.send(());
                }
                let stopped = forward(sink, messages, &node, &sender).await;
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
    node: &str,
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
                    Ok(envelope) if envelope.origin == node => {}
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
