//! What the server tells apps about itself: the SMART configuration at
//! `{fhirBase}/.well-known/smart-configuration` (SAL `conformance.html`),
//! and the OAuth URIs the CapabilityStatement carries.

use serde_json::{Value, json};

use super::Endpoints;

/// The scopes this server grants, as advertised.
pub const SCOPES_SUPPORTED: &[&str] = &[
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.rs",
    "user/*.rs",
    "system/*.rs",
];

/// `/.well-known/smart-configuration`. All URLs absolute (SAL 2.1).
pub fn smart_configuration(endpoints: &Endpoints) -> Value {
    json!({
        "issuer": endpoints.fhir_base,
        "jwks_uri": endpoints.jwks,
        "authorization_endpoint": endpoints.authorize,
        "token_endpoint": endpoints.token,
        "revocation_endpoint": endpoints.revoke,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt"
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": [
            "launch-ehr",
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "client-confidential-asymmetric",
            "sso-openid-connect",
            "context-banner",
            "context-ehr-patient",
            "context-ehr-encounter",
            "context-standalone-patient",
            "permission-offline",
            "permission-patient",
            "permission-user",
            "permission-v1",
            "permission-v2",
        ],
    })
}

/// The CapabilityStatement's `rest.security`: SMART-on-FHIR as the service
/// and the `oauth-uris` extension naming the endpoints.
pub fn capability_security(endpoints: &Endpoints) -> Value {
    json!({
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                {"url": "authorize", "valueUri": endpoints.authorize},
                {"url": "token", "valueUri": endpoints.token},
                {"url": "revoke", "valueUri": endpoints.revoke},
            ]
        }],
        "service": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "SMART-on-FHIR"
            }],
            "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)"
        }],
        "description": "Bearer tokens: staff sessions, patients' visit links, or SMART on FHIR access tokens"
    })
}
