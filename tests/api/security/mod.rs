//! The security probe's findings (issue #13), each replayed as a test
//! against the running server, on both stores.

mod media_grants;
mod patient_tokens;
mod policy;
mod refusals;
mod sessions;
