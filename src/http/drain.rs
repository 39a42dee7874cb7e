//! While the node drains for a restart it takes nothing new: every request
//! but the operators' probes gets 503 with `Retry-After`, so load balancers
//! and clients turn to another node. Requests already inside finish.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;
use crate::state::Draining;

/// Paths that still answer while draining: `/readyz` says "draining".
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub async fn refuse_while_draining(
    State(draining): State<Draining>,
    request: Request,
    next: Next,
) -> Response {
    if draining.is_on() && !PROBES.contains(&request.uri().path()) {
        return ApiError::Unavailable("this server is restarting; try again in a few seconds")
            .into_response();
    }
    next.run(request).await
}
