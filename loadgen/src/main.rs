//! `bedside-loadgen`: a load tool for Bedside's signaling socket. It books
//! visits through the HTTP API, holds a patient and a clinician socket in
//! each visit's call room, relays frames between them at a chosen rate, and
//! reports sockets held, relay latency, throughput and the server's memory
//! per socket. It only ever targets loopback, and stops by itself.
//!
//! # Layout
//!
//! - [`args`]: the command line and its checks (loopback only, rate limits).
//! - [`clinic`]: sign-in and booking through `/api/v1`.
//! - [`sockets`]: opening sockets from several source addresses, and the
//!   per-socket task that sends, receives and times relayed frames.
//! - [`server`]: finding the server's process and reading its memory.
//! - [`scenario`]: the run from setup to report.
//! - [`floor`]: the bare relay that Bedside's figures are compared with.
//! - [`compare`]: the floor and Bedside started here and run back to back.
//! - [`waiting`]: patients checked in at a rate, frames counted and timed.
//! - [`fhir`]: FHIR searches under concurrent clients.
//! - [`idle`]: idle authenticated sockets and the server's memory per socket.
//! - [`claims`]: consult close → claim ready, and exactly one claim each.
//! - [`sign_in`]: sign-ins per second with the password hashing bounded.

mod args;
mod claims;
mod clinic;
mod compare;
mod fhir;
mod floor;
mod idle;
mod scenario;
mod server;
mod sign_in;
mod sockets;
mod waiting;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = args::Args::parse();
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("bedside-loadgen: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    // Every socket is a file: take as many as the system allows.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("bedside-loadgen: the open-file limit could not be raised: {error}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bedside-loadgen: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = match args.mode.clone() {
        None => runtime.block_on(scenario::run(plan)).map(drop),
        Some(args::Mode::Floor { listen }) => runtime.block_on(floor::serve(listen)),
        Some(args::Mode::Compare {
            bedside_bin,
            port,
            server_core,
        }) => runtime.block_on(compare::run(
            plan,
            compare::Servers {
                bedside_bin,
                port,
                server_core,
            },
        )),
        Some(args::Mode::WaitingRoom {
            patients,
            queues,
            per_second,
        }) => runtime.block_on(waiting::run(
            plan,
            waiting::Room {
                patients: patients as usize,
                queues: queues as usize,
                per_second,
            },
        )),
        Some(args::Mode::Fhir {
            patients,
            with_vitals,
            clients,
            seconds,
        }) => runtime.block_on(fhir::run(
            plan,
            fhir::Load {
                patients: patients as usize,
                with_vitals: with_vitals as usize,
                clients: clients as usize,
                seconds,
            },
        )),
        Some(args::Mode::CloseClaim {
            visits,
            per_second,
            in_flight,
            webhook,
            wait_seconds,
            biller,
        }) => match args::loopback_listen(webhook, "--webhook") {
            Ok(webhook) => runtime.block_on(claims::run(
                plan,
                claims::Closing {
                    visits: visits as usize,
                    per_second,
                    in_flight: in_flight as usize,
                    webhook,
                    wait: std::time::Duration::from_secs(wait_seconds),
                    biller,
                    password: args.password,
                },
            )),
            Err(error) => {
                eprintln!("bedside-loadgen: {error}");
                return std::process::ExitCode::from(2);
            }
        },
        Some(args::Mode::SignIn {
            clients,
            seconds,
            username,
        }) => runtime.block_on(sign_in::run(
            plan,
            sign_in::Storm {
                clients: clients as usize,
                seconds,
                username,
                password: args.password,
            },
        )),
        Some(args::Mode::Idle { sockets, visits }) => {
            runtime.block_on(idle::run(plan, sockets as usize, visits as usize))
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bedside-loadgen: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
