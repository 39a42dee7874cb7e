//! The `bedside` command: parses the command line, loads config, starts
//! tracing and hands over to the library.

use std::io::Read;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use tracing_subscriber::EnvFilter;

use bedside::auth::{self, Role};
use bedside::config::{Config, Source};

// The server allocates and frees a little for every frame, row and
// request, from many tasks at once; glibc's allocator spent a tenth of its
// time on that closing consults under load. jemalloc, not mimalloc: with
// mimalloc the SQLite close's p99 grew sixfold.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "bedside",
    version,
    about = "Telehealth server: video visits, EHR, billing, decision support"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Seed a demo clinic into an empty store and print how to sign in.
        #[arg(long)]
        demo: bool,
    },
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a staff user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
        /// The clinician's National Provider Identifier.
        #[arg(long)]
        npi: Option<String>,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| "must be admin, scheduler, clinician or billing".to_owned())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let demo = matches!(cli.command, Some(Command::Serve { demo: true }));
    let config = Source::from_env_and_file()
        .map(|source| {
            if demo {
                Config::with_demo_defaults(&source)
            } else {
                source
            }
        })
        .and_then(|source| Config::from_source(&source));
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            eprintln!("bedside: configuration error: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    init_tracing(config.log_json);
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    match runtime.block_on(run(cli, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bedside: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool) {
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(bedside::LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init()
    } else {
        builder.init()
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(config, demo).await,
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    display_name,
                    npi,
                },
        } => {
            add_user(
                config,
                &username,
                role,
                display_name.as_deref(),
                npi.as_deref(),
            )
            .await
        }
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let addr = config.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("Failed to listen on {addr}"))?;
    let state = bedside::build_state(config).await?;
    if demo {
        let clinic = bedside::demo::seed(&state.store, &state.clock, &state.join_links).await?;
        print_demo(&clinic, &state.config.public_url, &state.outbox.describe());
    }
    tracing::info!(%addr, store = %state.config.database_url.redacted(), "Bedside is listening");
    bedside::serve(state, listener, bedside::shutdown_signal()).await
}

/// Prints how to sign in; a closed stdout (piped to `head`) must not stop the server.
fn print_demo(clinic: &bedside::demo::DemoClinic, public_url: &str, messages: &str) {
    use std::io::Write;
    let state = if clinic.seeded_now {
        "created"
    } else {
        "(already seeded)"
    };
    let mut text =
        format!("\nBedside demo clinic {state}\n  Open {public_url}/ and sign in as one of:\n");
    for (username, role) in &clinic.staff {
        text += &format!(
            "    {username:<10} {role:<10} password: {}\n",
            bedside::demo::DEMO_PASSWORD
        );
    }
    match &clinic.join_url {
        Some(url) => text += &format!("  A patient joins a booked visit at:\n    {url}\n"),
        None => text += "  Every demo visit has been seen; book one from the scheduler board.\n",
    }
    text += &format!("  Messages to patients: {messages}\n");
    text += "\n";
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

async fn add_user(
    config: Config,
    username: &str,
    role: Role,
    display_name: Option<&str>,
    npi: Option<&str>,
) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("Failed to read the password from standard input")?;
    let password = SecretString::from(password.trim_end_matches(['\r', '\n']).to_owned());
    if let Some(npi) = npi {
        bedside::model::codes::Npi::parse(npi).map_err(|e| anyhow::anyhow!("--npi: {e}"))?;
    }
    let store = bedside::store::Store::connect(&config.database_url, 2).await?;
    let user = auth::create_user(
        &store,
        username,
        password,
        role,
        display_name.unwrap_or(username),
        npi,
        bedside::model::clock::Clock::system().now(),
    )
    .await
    .with_context(|| format!("Failed to add user {username}"))?;
    tracing::info!(user.id = %user.id, role = %role, "user added");
    store.close().await;
    Ok(())
}
