//! The HTTP side of a run: signs staff in and books one admitted visit per
//! pair through `/api/v1` (patient, visit, check-in, admit), as a front
//! desk and a clinician would.

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::args::Credentials;

/// A visit in consult, ready for its two sockets.
#[derive(Debug, Clone)]
pub struct Booked {
    pub visit_id: String,
    pub patient_token: String,
}

/// The server's API with the two staff tokens a run needs.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    scheduler: String,
    clinician: String,
}

impl Api {
    /// Signs in both staff users (or takes their tokens).
    pub async fn sign_in(
        base: &str,
        scheduler: &Credentials,
        clinician: &Credentials,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("Failed to build the HTTP client")?;
        let scheduler = token(&client, base, scheduler).await?;
        let clinician = token(&client, base, clinician).await?;
        Ok(Self {
            client,
            base: base.to_owned(),
            scheduler,
            clinician,
        })
    }

    /// The clinician's token, which every clinician socket says hello with.
    pub fn clinician_token(&self) -> &str {
        &self.clinician
    }

    /// POSTs as the scheduler.
    pub async fn post_as_scheduler(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.post(path, &self.scheduler, body).await
    }

    /// POSTs with `token`.
    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        self.post(path, token, body).await
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path} failed"))?;
        let status = response.status();
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            bail!("POST {path} answered {status}: {detail}");
        }
        response
            .json()
            .await
            .with_context(|| format!("POST {path} answered with bad JSON"))
    }

    /// Signs in another staff user with the run's password; answers the token.
    pub async fn sign_in_other(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let who = Credentials::SignIn {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        token(&self.client, &self.base, &who).await
    }

    /// GETs with `token`.
    pub async fn get_as(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(format!("{}/api/v1{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {path} failed"))?;
        let status = response.status();
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            bail!("GET {path} answered {status}: {detail}");
        }
        response
            .json()
            .await
            .with_context(|| format!("GET {path} answered with bad JSON"))
    }

    /// Creates queue `n` of run `run` and returns its id; queue names are
    /// unique, so each run names its own.
    pub async fn create_queue(&self, run: u64, n: usize) -> anyhow::Result<String> {
        let queue = self
            .post(
                "/queues",
                &self.scheduler,
                &json!({"name": format!("Load test {run}-{n}")}),
            )
            .await?;
        string(&queue, "id")
    }

    /// The scheduler's token, for sockets that watch queues.
    pub fn scheduler_token(&self) -> &str {
        &self.scheduler
    }

    /// Books visit `n` for a new patient in `queue_id`, not yet checked in.
    pub async fn book_only(&self, queue_id: &str, n: usize) -> anyhow::Result<Booked> {
        let patient = self
            .post(
                "/patients",
                &self.scheduler,
                &json!({
                    "given_name": format!("Load{n}"),
                    "family_name": "Test",
                    "birth_date": "1980-01-01",
                    "sex": "unknown"
                }),
            )
            .await?;
        let visit = self
            .post(
                "/visits",
                &self.scheduler,
                &json!({"patient_id": patient["id"], "queue_id": queue_id, "reason": "Load test"}),
            )
            .await?;
        Ok(Booked {
            visit_id: string(&visit, "id")?,
            patient_token: string(&visit, "patient_token")?,
        })
    }

    /// The patient checks in, consenting to a telehealth visit.
    pub async fn check_in(&self, booked: &Booked) -> anyhow::Result<()> {
        self.post(
            &format!("/visits/{}/check-in", booked.visit_id),
            &booked.patient_token,
            &json!({"consent_to_telehealth": true}),
        )
        .await?;
        Ok(())
    }

    /// Books visit `n` for a new patient, checks it in and admits it. The
    /// patient has insurance on file, so a closed visit bills as `ready`.
    pub async fn book(&self, queue_id: &str, n: usize) -> anyhow::Result<Booked> {
        let patient = self
            .post(
                "/patients",
                &self.scheduler,
                &json!({
                    "given_name": format!("Load{n}"),
                    "family_name": "Test",
                    "birth_date": "1980-01-01",
                    "sex": "unknown",
                    "insurance": {"payer_id": "DEMOPAYER", "payer_name": "Demo Health Plan",
                                  "member_id": format!("M{n}"), "group_number": "G1"}
                }),
            )
            .await?;
        let visit = self
            .post(
                "/visits",
                &self.scheduler,
                &json!({"patient_id": patient["id"], "queue_id": queue_id, "reason": "Load test"}),
            )
            .await?;
        let visit_id = string(&visit, "id")?;
        let patient_token = string(&visit, "patient_token")?;
        self.post(
            &format!("/visits/{visit_id}/check-in"),
            &patient_token,
            &json!({"consent_to_telehealth": true}),
        )
        .await?;
        self.post(
            &format!("/visits/{visit_id}/admit"),
            &self.clinician,
            &json!({}),
        )
        .await?;
        Ok(Booked {
            visit_id,
            patient_token,
        })
    }
}

async fn token(client: &reqwest::Client, base: &str, who: &Credentials) -> anyhow::Result<String> {
    let (username, password) = match who {
        Credentials::Token(token) => return Ok(token.clone()),
        Credentials::SignIn { username, password } => (username, password),
    };
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .with_context(|| format!("Failed to reach {base} to sign in"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("signing in {username} answered {status}");
    }
    let body: Value = response
        .json()
        .await
        .context("Failed to read the sign-in")?;
    string(&body, "token")
}

fn string(body: &Value, field: &str) -> anyhow::Result<String> {
    body[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the answer has no `{field}`"))
}
