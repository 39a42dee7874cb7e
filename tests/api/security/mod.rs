//! The security probe's findings (issue #13), each replayed against the
//! real server: bounded sign-in hashing, throttles by username and address,
//! which pages may open the socket, body limits, pre-call slots, HTTPS.

mod origin;
mod precall_limit;
mod sign_in;
mod throttle;
mod tls;
