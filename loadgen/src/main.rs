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

mod args;
mod clinic;
mod scenario;
mod server;
mod sockets;

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
    match runtime.block_on(scenario::run(plan)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bedside-loadgen: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
