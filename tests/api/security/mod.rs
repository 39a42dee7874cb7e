//! The security probe's findings (issue #13), each replayed against the
//! real server on both stores: bounded sign-in hashing, throttles by
//! username and address, which pages may open the socket, body limits,
//! pre-call slots, HTTPS; sessions and patient links that end with their
//! sockets, one read policy, refusals and media grants audited.

mod media_grants;
mod origin;
mod patient_tokens;
mod policy;
mod precall_limit;
mod refusals;
mod sessions;
mod sign_in;
mod throttle;
mod tls;
