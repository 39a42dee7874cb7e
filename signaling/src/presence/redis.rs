//! Presence in Redis, shared by every node.
//!
//! Keys, under a prefix: `{p}:presence:user:{id}` (hash: name, role, chosen
//! status, consult flag, alive flag, effective status, since in ms),
//! `{p}:presence:users` (set of known ids) and `{p}:presence:alive` (sorted
//! set scored by the liveness deadline in ms). Each update is one Lua
//! script, so nodes never interleave within a user's record, and expiry
//! removes a user from the sorted set exactly once.

use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{Script, ScriptInvocation, Value};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::{LiveUser, Presence, PresenceEntry, PresenceError, PresenceUser};
use crate::protocol::{PresenceStatus, Role, UserId};

/// Shared by the scripts: recompute the effective status of hash `h` and,
/// when it changed, record it with `since = now` and return the entry.
const SETTLE: &str = r"
local function settle(h, user, now, out)
  local alive = redis.call('HGET', h, 'alive') == '1'
  local chosen = redis.call('HGET', h, 'chosen') or 'available'
  local status = chosen
  if not alive or chosen == 'offline' then
    status = 'offline'
  elseif redis.call('HGET', h, 'consult') == '1' then
    status = 'in_consult'
  end
  local old = redis.call('HGET', h, 'status') or 'offline'
  if redis.call('HEXISTS', h, 'status') == 0 or old ~= status then
    redis.call('HSET', h, 'status', status, 'since', now)
  end
  if old ~= status then
    local f = redis.call('HMGET', h, 'name', 'role')
    table.insert(out, user)
    table.insert(out, f[1] or '')
    table.insert(out, f[2] or 'guest')
    table.insert(out, status)
    table.insert(out, now)
  end
end
";

/// KEYS: alive zset, users set. ARGV: now, deadline, hash prefix, then
/// (id, name, role) per user.
const HEARTBEAT: &str = r"
local out = {}
local now, deadline, prefix = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV, 3 do
  local user = ARGV[i]
  local h = prefix .. user
  redis.call('ZADD', KEYS[1], deadline, user)
  redis.call('SADD', KEYS[2], user)
  redis.call('HSET', h, 'name', ARGV[i + 1], 'role', ARGV[i + 2], 'alive', '1')
  settle(h, user, now, out)
end
return out
";

/// KEYS: alive zset, users set. ARGV: now, deadline, hash prefix, then
/// (id, name, role, chosen or '', consult '1' or '0') per user.
const RESTORE: &str = r"
local out = {}
local now, deadline, prefix = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV, 5 do
  local user = ARGV[i]
  local h = prefix .. user
  redis.call('ZADD', KEYS[1], deadline, user)
  redis.call('SADD', KEYS[2], user)
  redis.call('HSET', h, 'name', ARGV[i + 1], 'role', ARGV[i + 2], 'alive', '1')
  if ARGV[i + 3] ~= '' then redis.call('HSETNX', h, 'chosen', ARGV[i + 3]) end
  if ARGV[i + 4] == '1' then
    redis.call('HSET', h, 'consult', '1')
  else
    redis.call('HSETNX', h, 'consult', '0')
  end
  settle(h, user, now, out)
end
return out
";

/// KEYS: user hash, users set. ARGV: now, id, name, role, field, value.
const SET: &str = r"
local out = {}
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'name', ARGV[3], 'role', ARGV[4], ARGV[5], ARGV[6])
settle(KEYS[1], ARGV[2], ARGV[1], out)
return out
";

/// KEYS: alive zset, users set. ARGV: now, hash prefix, batch limit.
const EXPIRE: &str = r"
local out = {}
local now, prefix = ARGV[1], ARGV[2]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, user in ipairs(due) do
  local h = prefix .. user
  redis.call('ZREM', KEYS[1], user)
  redis.call('HSET', h, 'alive', '0')
  settle(h, user, now, out)
  local role = redis.call('HGET', h, 'role')
  if role == 'patient' or role == 'guest' then
    redis.call('DEL', h)
    redis.call('SREM', KEYS[2], user)
  end
end
return out
";

/// Users expired per script run, so one run never blocks Redis for long.
const EXPIRE_BATCH: usize = 500;

/// Presence in Redis through a [`ConnectionManager`], which reconnects by
/// itself when Redis comes back.
#[derive(Clone)]
pub struct RedisPresence {
    redis: ConnectionManager,
    prefix: String,
    offline_after: Duration,
    heartbeat: Script,
    restore: Script,
    set: Script,
    expire: Script,
}

impl std::fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPresence")
            .field("prefix", &self.prefix)
            .field("offline_after", &self.offline_after)
            .finish_non_exhaustive()
    }
}

impl RedisPresence {
    /// Keys go under `prefix`; a user is offline once no heartbeat came for
    /// `offline_after`.
    pub fn new(
        redis: ConnectionManager,
        prefix: impl Into<String>,
        offline_after: Duration,
    ) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            offline_after,
            heartbeat: Script::new(&format!("{SETTLE}{HEARTBEAT}")),
            restore: Script::new(&format!("{SETTLE}{RESTORE}")),
            set: Script::new(&format!("{SETTLE}{SET}")),
            expire: Script::new(&format!("{SETTLE}{EXPIRE}")),
        }
    }

    fn user_prefix(&self) -> String {
        format!("{}:presence:user:", self.prefix)
    }

    fn alive_key(&self) -> String {
        format!("{}:presence:alive", self.prefix)
    }

    fn users_key(&self) -> String {
        format!("{}:presence:users", self.prefix)
    }

    async fn set_field(
        &self,
        user: &PresenceUser,
        field: &str,
        value: &str,
    ) -> Result<Option<PresenceEntry>, PresenceError> {
        let mut redis = self.redis.clone();
        let out: Vec<String> = self
            .set
            .key(format!("{}{}", self.user_prefix(), user.user_id))
            .key(self.users_key())
            .arg(now_ms())
            .arg(user.user_id.as_str())
            .arg(&user.display_name)
            .arg(user.role.as_str())
            .arg(field)
            .arg(value)
            .invoke_async(&mut redis)
            .await?;
        Ok(decode(&out)?.into_iter().next())
    }
}

impl RedisPresence {
    /// A round script's invocation with what every round passes: the keys,
    /// now, the deadline past which a user is offline, the user key prefix.
    fn invocation<'s>(&self, script: &'s Script) -> ScriptInvocation<'s> {
        let now = now_ms();
        let mut invocation = script.key(self.alive_key());
        invocation
            .key(self.users_key())
            .arg(now)
            .arg(now + millis(self.offline_after))
            .arg(self.user_prefix());
        invocation
    }
}

impl Presence for RedisPresence {
    fn heartbeat<'a>(
        &'a self,
        users: &'a [PresenceUser],
    ) -> BoxFuture<'a, Result<Vec<PresenceEntry>, PresenceError>> {
        Box::pin(async move {
            if users.is_empty() {
                return Ok(Vec::new());
            }
            let mut invocation = self.invocation(&self.heartbeat);
            for user in users {
                invocation
                    .arg(user.user_id.as_str())
                    .arg(&user.display_name)
                    .arg(user.role.as_str());
            }
            let mut redis = self.redis.clone();
            let out: Vec<String> = invocation.invoke_async(&mut redis).await?;
            decode(&out)
        })
    }

    fn restore<'a>(
        &'a self,
        users: &'a [LiveUser],
    ) -> BoxFuture<'a, Result<Vec<PresenceEntry>, PresenceError>> {
        Box::pin(async move {
            if users.is_empty() {
                return Ok(Vec::new());
            }
            let mut invocation = self.invocation(&self.restore);
            for live in users {
                invocation
                    .arg(live.user.user_id.as_str())
                    .arg(&live.user.display_name)
                    .arg(live.user.role.as_str())
                    .arg(live.chosen.map_or("", PresenceStatus::as_str))
                    .arg(if live.in_consult { "1" } else { "0" });
            }
            let mut redis = self.redis.clone();
            let out: Vec<String> = invocation.invoke_async(&mut redis).await?;
            decode(&out)
        })
    }

    fn set_status<'a>(
        &'a self,
        user: &'a PresenceUser,
        status: PresenceStatus,
    ) -> BoxFuture<'a, Result<Option<PresenceEntry>, PresenceError>> {
        Box::pin(self.set_field(user, "chosen", status.as_str()))
    }

    fn set_in_consult<'a>(
        &'a self,
        user: &'a PresenceUser,
        in_consult: bool,
    ) -> BoxFuture<'a, Result<Option<PresenceEntry>, PresenceError>> {
        Box::pin(self.set_field(user, "consult", if in_consult { "1" } else { "0" }))
    }

    fn list(&self, role: Option<Role>) -> BoxFuture<'_, Result<Vec<PresenceEntry>, PresenceError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let mut ids: Vec<String> = ::redis::cmd("SMEMBERS")
                .arg(self.users_key())
                .query_async(&mut redis)
                .await?;
            ids.sort();
            let mut pipe = ::redis::pipe();
            for id in &ids {
                pipe.cmd("HMGET")
                    .arg(format!("{}{id}", self.user_prefix()))
                    .arg("name")
                    .arg("role")
                    .arg("status")
                    .arg("since");
            }
            let rows: Vec<Vec<Option<String>>> = pipe.query_async(&mut redis).await?;
            let mut entries = Vec::with_capacity(ids.len());
            for (id, row) in ids.into_iter().zip(rows) {
                let [name, role_text, status, since] =
                    <[Option<String>; 4]>::try_from(row).map_err(|_| PresenceError::Decode)?;
                // A user removed between SMEMBERS and HMGET.
                let (Some(role_text), Some(status), Some(since)) = (role_text, status, since)
                else {
                    continue;
                };
                let entry = entry(id, name.unwrap_or_default(), &role_text, &status, &since)?;
                if role.is_none_or(|role| entry.role == role) {
                    entries.push(entry);
                }
            }
            Ok(entries)
        })
    }

    fn expire(&self) -> BoxFuture<'_, Result<Vec<PresenceEntry>, PresenceError>> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            let out: Vec<String> = self
                .expire
                .key(self.alive_key())
                .key(self.users_key())
                .arg(now_ms())
                .arg(self.user_prefix())
                .arg(EXPIRE_BATCH)
                .invoke_async(&mut redis)
                .await?;
            decode(&out)
        })
    }

    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let mut redis = self.redis.clone();
            ::redis::cmd("PING")
                .query_async::<Value>(&mut redis)
                .await
                .is_ok()
        })
    }
}

/// Scripts answer flat (id, name, role, status, since) quintuples.
fn decode(out: &[String]) -> Result<Vec<PresenceEntry>, PresenceError> {
    let rows = out.chunks_exact(5);
    if !rows.remainder().is_empty() {
        return Err(PresenceError::Decode);
    }
    rows.map(|row| entry(row[0].clone(), row[1].clone(), &row[2], &row[3], &row[4]))
        .collect()
}

fn entry(
    id: String,
    display_name: String,
    role: &str,
    status: &str,
    since: &str,
) -> Result<PresenceEntry, PresenceError> {
    let role = serde_json::from_value(serde_json::Value::String(role.to_owned()))
        .map_err(|_| PresenceError::Decode)?;
    let status = PresenceStatus::parse(status).ok_or(PresenceError::Decode)?;
    let since = since
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or(PresenceError::Decode)?;
    Ok(PresenceEntry {
        user_id: UserId::new(id),
        display_name,
        role,
        status,
        since,
    })
}

fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
