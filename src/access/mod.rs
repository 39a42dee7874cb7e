//! Who may reach which health data, decided in one place. [`policy`] says
//! which role, and which relation to the record, reads which kind of data;
//! the REST routes, the FHIR facade, the socket and media all ask it.
//! [`refusals`] writes each refused attempt to the audit trail: who asked
//! (actor, role, address) and for what.

pub mod policy;
mod refusals;

pub use policy::{
    Data, ScopeReach, Subject, may_read, may_read_visit, may_write, readers, reads_any,
    scope_reach, scopes_allow, writers,
};
pub use refusals::{Target, record_refusal};
