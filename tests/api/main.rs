//! Bedside's integration tests: the server in-process on port 0 with a
//! fresh store, driven by real HTTP clients. The suite runs on SQLite by
//! default and on PostgreSQL with `BEDSIDE_TEST_STORE=postgres`.

mod admin;
mod app;
mod audit;
mod auth;
mod billing;
mod booking;
mod calls;
mod cds;
mod chart_items;
mod cli;
mod clinic;
mod drafts;
mod fhir;
mod fhir_clients;
mod fhir_schedule;
mod fhir_write;
mod guests;
mod helpers;
mod layers;
mod live;
mod media;
mod messages;
mod mfa;
mod ops;
mod outbox;
mod patients;
mod peers;
mod precall;
mod quality;
mod schedule;
mod security;
mod smart;
mod socket;
mod store_types;
mod summary;
mod synthea;
mod texting;
mod users;
mod visits;
mod web;
