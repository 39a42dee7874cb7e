//! The floor every other module stands on: values that cannot be built
//! invalid (ids, codes, times, checked text), the records the store keeps
//! and the domain works with, and the state machines of their statuses.
//! It imports nothing else of the crate; the store takes and returns these
//! types, and the domain modules decide with them.

pub mod audit;
pub mod auth;
pub mod billing_codes;
pub mod claim;
pub mod clinical;
pub mod clock;
pub mod codes;
pub mod guest;
pub mod ids;
pub mod patient;
pub mod precall;
pub mod region;
pub mod timestamp;
pub mod validation;
pub mod visit;
pub mod vitals;
