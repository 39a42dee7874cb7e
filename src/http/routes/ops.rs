//! Liveness, readiness and metrics for operators.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// CONTRACT Ops: `GET /healthz` — the process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`; `draining` while the node shuts down (send nothing new);
    /// or `unavailable` with the dependencies that are down.
    status: &'static str,
    /// `up`, `read_only` (answers but cannot write, e.g. a full disk) or `down`.
    store: &'static str,
    /// `up`, `down` or `not_configured`.
    redis: &'static str,
    down: Vec<&'static str>,
}

/// CONTRACT Ops: `GET /readyz` — 503 naming the dependency that is down,
/// or saying the node is draining.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    const LIMIT: Duration = Duration::from_secs(2);
    let now = state.clock.now().millis();
    let (reads, writes) = tokio::join!(
        tokio::time::timeout(LIMIT, state.store.ping()),
        tokio::time::timeout(LIMIT, state.store.can_write(now)),
    );
    let store = match (reads, writes) {
        (Ok(true), Ok(false)) => "read_only",
        // A probe still queued behind other writers is busy, not broken.
        (Ok(true), _) => "up",
        _ => "down",
    };
    // The hub's own connections answer for Redis (presence and the bus's
    // subscriber), so a probe opens nothing new.
    let redis = if state.config.redis_url.is_none() {
        "not_configured"
    } else {
        match tokio::time::timeout(LIMIT, state.live.hub().healthy()).await {
            Ok(true) => "up",
            _ => "down",
        }
    };
    let mut down = Vec::new();
    if store != "up" {
        down.push("store");
    }
    if redis == "down" {
        down.push("redis");
    }
    let status = if state.draining.is_on() {
        "draining"
    } else if down.is_empty() {
        "ready"
    } else {
        "unavailable"
    };
    let code = if status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status,
        store,
        redis,
        down,
    };
    (code, Json(body))
}

/// CONTRACT Ops: `GET /metrics` — Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state
        .metrics
        .open_sockets
        .set(state.live.hub().socket_count() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
