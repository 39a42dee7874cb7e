//! A SQLite file on a full disk (a small tmpfs of the test's own): writes
//! answer 503 with `Retry-After` and `/readyz` says the store cannot write,
//! for as long as it lasts; once space is freed the same node serves again,
//! although many commits failed meanwhile (each failed commit once left its
//! connection inside a transaction, and enough of them broke the node).

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

use crate::app::{App, eventually, patient, within};
use crate::needs;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount did not run: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "a tmpfs cannot be mounted here: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: the server may still hold the file while it stops.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

/// Writes zeros to `path` until the file system refuses more.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("the filler file");
    let chunk = vec![0_u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.flush();
}

/// Writes the log back into the database and empties it, so that the next
/// commit needs new space (a log with room left would take it silently).
async fn truncate_the_log(url: &str) {
    let mut conn = sqlx::SqliteConnection::connect(url)
        .await
        .expect("a connection of the test's own");
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut conn)
        .await
        .expect("checkpoint");
    assert_eq!(busy, 0, "the log could not be emptied");
    conn.close().await.expect("close");
}

const QUICKLY: Duration = Duration::from_secs(8);

#[tokio::test]
async fn a_full_disk_answers_503_tells_readyz_and_the_node_recovers_once_space_is_freed() {
    let tmpfs = match needs::root().map_or_else(|| Tmpfs::mount("8m"), Err) {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            let _ = needs::or_skip("the full-disk test", Some(why));
            return;
        }
    };
    let url = format!("sqlite://{}", tmpfs.path().join("bedside.db").display());
    // No billing worker: only the test's requests write.
    let app = App::start(&url, |source| {
        source.set("BEDSIDE_BILLING_POLL_SECONDS", "0")
    })
    .await;
    let clinic = app.clinic().await;

    truncate_the_log(&url).await;
    fill(&tmpfs.path().join("filler"));

    // More failed writes than the pool has connections.
    let mut refused = 0;
    for n in 0..30 {
        let response = within(QUICKLY, "a write on a full disk", async {
            app.post(
                "/api/v1/patients",
                Some(&clinic.admin),
                &patient(&format!("Full{n}")),
            )
            .await
        })
        .await;
        match response.status() {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!(
                "a full disk answered {other}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    assert!(refused > 0, "a full disk refused no write");
    let ready = within(QUICKLY, "/readyz on a full disk", app.get("/readyz", None)).await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.expect("readiness JSON");
    assert_ne!(ready["store"], "up", "{ready}");

    std::fs::remove_file(tmpfs.path().join("filler")).expect("free the space");

    eventually(Duration::from_secs(15), "writes to work again", || async {
        let response = app
            .post(
                "/api/v1/patients",
                Some(&clinic.admin),
                &patient("Recovered"),
            )
            .await;
        (response.status() == StatusCode::CREATED).then_some(())
    })
    .await;
    // Every pooled connection serves again, not only one.
    for n in 0..20 {
        let response = app
            .post(
                "/api/v1/patients",
                Some(&clinic.admin),
                &patient(&format!("After{n}")),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "write {n} after recovery"
        );
    }
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    drop(app);
}
