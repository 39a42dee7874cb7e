//! Password checks on a small pool of dedicated threads, sized to the
//! cores. Each Argon2 check needs about 19 MiB: run on the runtime's
//! blocking pool, a storm of sign-ins ran hundreds at once and the memory
//! never came back. Here at most `workers` run, each reusing its own memory
//! block; up to `queue` more wait, each for at most `wait`, and anything
//! beyond is refused at once so the caller can answer 503.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use super::password::DUMMY_HASH;

/// How many checks run and wait (`BEDSIDE_SIGNIN_*`).
#[derive(Debug, Clone, Copy)]
pub struct HashingSettings {
    /// Threads checking passwords at once.
    pub workers: usize,
    /// Checks that may wait for a thread.
    pub queue: usize,
    /// How long a check may wait before it is refused.
    pub wait: Duration,
}

impl Default for HashingSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            workers: cores,
            queue: 8 * cores,
            wait: Duration::from_secs(2),
        }
    }
}

/// The pool is full or the wait ran out: try again shortly.
#[derive(Debug, thiserror::Error)]
#[error("too many sign-ins are being checked; try again shortly")]
pub struct HashingBusy;

/// The handle to the hashing threads; they stop when it is dropped.
#[derive(Debug)]
pub struct PasswordPool {
    jobs: SyncSender<Job>,
    wait: Duration,
}

struct Job {
    password: SecretString,
    hash: Option<String>,
    deadline: Instant,
    reply: oneshot::Sender<bool>,
}

impl PasswordPool {
    pub fn start(settings: HashingSettings) -> Self {
        let (jobs, queue) = sync_channel::<Job>(settings.queue);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..settings.workers.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("bedside-hash-{n}"))
                .spawn(move || work(&queue));
            if let Err(error) = spawned {
                tracing::error!(%error, "a password hashing thread could not start");
            }
        }
        Self {
            jobs,
            wait: settings.wait,
        }
    }

    /// Whether `password` matches `hash`. With no hash (unknown user) a
    /// dummy hash is checked, so the answer takes as long either way.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, HashingBusy> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            password,
            hash,
            deadline: Instant::now() + self.wait,
            reply,
        };
        self.jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => HashingBusy,
        })?;
        match tokio::time::timeout(self.wait, answer).await {
            Ok(Ok(matches)) => Ok(matches),
            // Expired in the queue, or the wait ran out while it was checked.
            Ok(Err(_)) | Err(_) => Err(HashingBusy),
        }
    }
}

/// One hashing thread: takes jobs until the pool is dropped, reusing one
/// memory block for every check.
fn work(queue: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let Ok(queue) = queue.lock() else { return };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // Nobody waits for a check whose deadline passed: skip the work.
        if Instant::now() >= job.deadline || job.reply.is_closed() {
            continue;
        }
        let hash = job.hash.as_deref().unwrap_or(DUMMY_HASH);
        let matches = verify_with(&mut memory, job.password.expose_secret().as_bytes(), hash);
        let _ = job.reply.send(matches);
    }
}

/// Argon2 verification into a reused memory block.
fn verify_with(memory: &mut Vec<Block>, password: &[u8], hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..])
        .is_ok()
        // Output's equality is constant-time.
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(workers: usize, queue: usize) -> PasswordPool {
        PasswordPool::start(HashingSettings {
            workers,
            queue,
            wait: Duration::from_secs(30),
        })
    }

    #[tokio::test]
    async fn the_pool_verifies_its_password_only() {
        let hash = super::super::hash_password(SecretString::from("correct horse"))
            .await
            .unwrap();
        let pool = pool(1, 4);
        let check = |p: &str, h: Option<String>| pool.verify(SecretString::from(p.to_owned()), h);
        assert!(check("correct horse", Some(hash.clone())).await.unwrap());
        assert!(!check("wrong horse", Some(hash)).await.unwrap());
        assert!(!check("anything", None).await.unwrap());
        assert!(
            !check("anything", Some("not a hash".to_owned()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn checks_beyond_the_queue_are_refused() {
        let pool = pool(1, 1);
        let checks = (0..8).map(|_| pool.verify(SecretString::from("x".repeat(12)), None));
        let answers = futures_util::future::join_all(checks).await;
        assert!(answers.iter().any(Result::is_err), "some were refused");
        assert!(answers.iter().any(Result::is_ok), "some were checked");
    }
}
