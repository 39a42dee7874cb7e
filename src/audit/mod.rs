//! The audit trail of health data: who read or wrote which record, when,
//! from where, and with what outcome. The events and their hash chain are
//! model types ([`crate::model::audit`]); this module reads them for staff.

pub use crate::model::audit::{
    Actor, AuditEntry, AuditEvent, ChainReport, GENESIS_HASH, Outcome, verify_chain,
};
