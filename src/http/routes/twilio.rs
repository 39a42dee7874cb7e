//! Twilio's inbound-message webhook, mounted at the root: patients reply
//! STOP or START to the clinic's texts. The form is read as raw bytes so
//! every field Twilio sent, known to us or not, goes into the signature.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::ClientIp;
use crate::outbox::replies;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_text_reply))
}

const REFUSED: &str = "this request does not carry a valid X-Twilio-Signature";

/// `POST /webhooks/twilio/sms` (Twilio, signed with the account's auth
/// token): a patient's reply. STOP, UNSUBSCRIBE, CANCEL, END, QUIT or
/// STOPALL opts the number's patients out of texts; START or UNSTOP opts
/// them back in. Answers TwiML; 403 (audited) without a valid signature.
#[utoipa::path(post, path = "/webhooks/twilio/sms", tag = "messages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's inbound-message fields (`From`, `To`, `Body`, `MessageSid`, …); `X-Twilio-Signature` signs the URL and the sorted fields"),
    responses((status = 200, description = "TwiML: a confirmation for STOP or START, else empty", content_type = "application/xml"),
        (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn receive_text_reply(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| {
        ApiError::Malformed(
            "the body must be a form (application/x-www-form-urlencoded)".to_owned(),
        )
    })?;
    // Twilio signs the URL it was told to call: this server's public one.
    let url = format!(
        "{}{}",
        state.config.public_url,
        uri.path_and_query().map_or(uri.path(), |p| p.as_str())
    );
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signed = state
        .outbox
        .sms
        .as_ref()
        .is_some_and(|sms| replies::signature_holds(&sms.auth_token, &url, &fields, signature));
    if !signed {
        replies::refuse(&state.store, &state.clock, Some(ip.to_string())).await?;
        return Err(ApiError::Refused(REFUSED));
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let outcome = replies::apply_reply(
        &state.store,
        &state.clock,
        Some(ip.to_string()),
        field("From"),
        field("Body"),
    )
    .await?;
    let clinic = state
        .config
        .summary
        .clinic
        .as_ref()
        .map_or("Bedside", |c| c.name.as_str());
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml")],
        replies::twiml_reply(outcome.keyword, clinic),
    )
        .into_response())
}
