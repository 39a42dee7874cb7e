//! One module per resource, each exporting `router()`.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod cds;
pub mod claims;
pub mod clinic;
pub mod codes;
pub mod drafts;
pub mod fhir;
pub mod guests;
pub mod livekit;
pub mod media;
pub mod messages;
pub mod ops;
pub mod patients;
pub mod precall;
pub mod presence;
pub mod queues;
pub mod remittances;
pub mod reports;
pub mod users;
pub mod visits;
pub mod web;
