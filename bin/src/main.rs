//! `parley`: the one binary. Serves HTTP, migrates, and carries the operator commands.

mod allocator;
mod bench;
mod config;
mod wiring;

use application::{PhoneNumberInput, RequestContext};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use config::Config;
use domain::phone_number::PhoneNumberStatus;
use domain::WorkspaceId;
use std::io::Write;
use std::process::ExitCode;
use store::aggregate_history::{self, PointInHistory};
use store::meta_webhooks::{DeliverySelection, MetaWebhookLog};
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "Event-sourced backend for the WhatsApp Business Platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply schema/ migrations to DATABASE_URL (idempotent).
    Migrate,
    /// Serve HTTP on PARLEY_LISTEN and run the projector in this process.
    Serve,
    /// Workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Phone numbers.
    #[command(name = "phone-number")]
    PhoneNumber {
        #[command(subcommand)]
        command: PhoneNumberCommand,
    },
    /// Read the event log.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Meta's webhook deliveries, as stored raw.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Ensure the demo workspace and phone number exist; print a fresh token for them once.
    Demo,
    /// The Meta sandbox: serve it (app secret from META_APP_SECRET), or drive a running one.
    Sandbox(SandboxArgs),
    /// Benchmarks against DATABASE_URL: Parley in this process, the Meta sandbox in a child.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// REST accept rate vs pgbench, dispatch rate, accept -> read latency, projector lag, peak RSS.
    Messaging(bench::messaging::MessagingOptions),
    /// A broadcast of 100,000: adding recipients, dispatch rate vs the limit, time until every
    /// recipient is final, status reads during the send, peak RSS.
    Broadcast(bench::broadcast::BroadcastOptions),
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SandboxArgs {
    /// Where to serve the sandbox's Graph API and control endpoints.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// Parley's webhook, where the sandbox delivers statuses and inbound messages.
    #[arg(long, default_value = "http://127.0.0.1:8080/webhook")]
    webhook_url: String,
    #[command(subcommand)]
    command: Option<SandboxCommand>,
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Deliver a customer's message to Parley through a running sandbox; prints the outcome.
    Inbound {
        /// The sandbox's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8090")]
        sandbox_url: String,
        /// Meta's id of the business number the customer writes to.
        #[arg(long)]
        phone_number_id: String,
        /// The customer's WhatsApp id (digits) or +E.164 number.
        #[arg(long)]
        from: String,
        #[arg(long)]
        profile_name: Option<String>,
        /// A text message body.
        #[arg(long, conflicts_with = "message")]
        text: Option<String>,
        /// Any message object as in Meta's webhook, as JSON (e.g. '{"type":"location",...}').
        #[arg(long)]
        message: Option<String>,
    },
    /// Print every send the sandbox accepted (and rejections, read receipts, inbound messages).
    Messages {
        #[arg(long, default_value = "http://127.0.0.1:8090")]
        sandbox_url: String,
    },
    /// Print the sandbox's switches, or change them with a JSON object.
    Config {
        #[arg(long, default_value = "http://127.0.0.1:8090")]
        sandbox_url: String,
        /// e.g. '{"throughput_limit_mps": 80, "duplicate_webhooks": true}'
        #[arg(long)]
        set: Option<String>,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace; prints {"workspace_id": "...", "token": "wat_..."}.
    Create { name: String },
}

#[derive(Subcommand)]
enum PhoneNumberCommand {
    /// Register a WhatsApp business number; prints {"id": "..."}.
    Add {
        #[arg(long)]
        workspace: Uuid,
        #[arg(long)]
        phone_number_id: String,
        #[arg(long)]
        waba_id: String,
        #[arg(long)]
        display_phone_number: String,
        #[arg(long)]
        verified_name: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// VERIFIED, UNVERIFIED (default) or PENDING.
        #[arg(long)]
        status: Option<String>,
        /// Meta access token; prefer the META_ACCESS_TOKEN environment variable.
        #[arg(long, env = "META_ACCESS_TOKEN", hide_env_values = true)]
        access_token: Option<String>,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Print an aggregate's events as JSON lines.
    List {
        #[arg(long)]
        aggregate_type: String,
        #[arg(long)]
        aggregate_id: String,
    },
    /// Print an aggregate's state folded from its events, latest or at a version or time
    /// (pretty JSON: the state, the version and record time it reflects, events folded).
    Show {
        /// contact, phone_number, conversation, broadcast or template.
        #[arg(long)]
        aggregate_type: String,
        #[arg(long)]
        aggregate_id: String,
        /// The state after the event with this sequence (from 1).
        #[arg(long, conflicts_with = "at_time")]
        at_version: Option<u64>,
        /// The state after every event recorded (committed) at or before this RFC 3339 time.
        #[arg(long, value_parser = parse_rfc3339)]
        at_time: Option<DateTime<Utc>>,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Run stored Meta deliveries through ingestion again, in arrival order (idempotent);
    /// prints a summary as JSON.
    #[command(group(clap::ArgGroup::new("selection").required(true).args(["id", "from", "all"])))]
    Replay {
        /// One delivery, by its id in the stored log.
        #[arg(long)]
        id: Option<i64>,
        /// Deliveries first received at or after this RFC 3339 time …
        #[arg(long, value_parser = parse_rfc3339)]
        from: Option<DateTime<Utc>>,
        /// … and before this one (default: now).
        #[arg(long, value_parser = parse_rfc3339, requires = "from")]
        to: Option<DateTime<Utc>>,
        /// Every stored delivery.
        #[arg(long)]
        all: bool,
    },
}

fn parse_rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time (e.g. 2025-06-01T12:00:00Z): {e}"))
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Drop and refold read models from the first event (all, or the one named).
    Rebuild { name: Option<String> },
}

fn main() -> ExitCode {
    allocator::limit_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async_main())
}

async fn async_main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = Config::from_env();
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Migrate => {
            let pools = wiring::pools(&config).await?;
            let applied = store::migrations::migrate(&pools.queries)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!(
                "migrations applied: {}",
                if applied.is_empty() {
                    "none (up to date)".to_string()
                } else {
                    applied.join(", ")
                }
            );
            Ok(())
        }
        Command::Serve => wiring::serve(config).await,
        Command::Workspace {
            command: WorkspaceCommand::Create { name },
        } => {
            let pools = wiring::pools(&config).await?;
            let (id, token) = store::Tenancy::new(pools.queries)
                .create_workspace(&name)
                .await
                .map_err(|e| e.to_string())?;
            print_json(serde_json::json!({ "workspace_id": id, "token": token }));
            Ok(())
        }
        Command::PhoneNumber {
            command:
                PhoneNumberCommand::Add {
                    workspace,
                    phone_number_id,
                    waba_id,
                    display_phone_number,
                    verified_name,
                    display_name,
                    status,
                    access_token,
                },
        } => {
            let status = status.map(|s| s.parse::<PhoneNumberStatus>()).transpose()?;
            let wired = wiring::cli_application(&config).await?;
            let workspace = WorkspaceId(workspace);
            let exists = store::Tenancy::new(wired.infra.pools.queries.clone())
                .workspace_exists(workspace)
                .await
                .map_err(|e| e.to_string())?;
            if !exists {
                return Err(format!("workspace {workspace} does not exist"));
            }
            let input = PhoneNumberInput {
                phone_number_id,
                waba_id,
                waba_name: None,
                display_phone_number,
                display_name,
                verified_name,
                status,
                access_token,
            };
            let (id, _) = wired
                .register_phone_number(&RequestContext::cli(workspace), input)
                .await
                .map_err(|e| e.to_string())?;
            wiring::fold_now(&wired).await;
            print_json(serde_json::json!({ "id": id }));
            Ok(())
        }
        Command::Events {
            command:
                EventsCommand::List {
                    aggregate_type,
                    aggregate_id,
                },
        } => {
            let pools = wiring::pools(&config).await?;
            let client = pools.queries.get().await.map_err(|e| e.to_string())?;
            let events = projections::log::events_of(&**client, &aggregate_type, &aggregate_id)
                .await
                .map_err(|e| e.to_string())?;
            if events.is_empty() {
                return Err(format!("no events for {aggregate_type} {aggregate_id}"));
            }
            for event in events {
                print_json(event.to_json());
            }
            Ok(())
        }
        Command::Events {
            command:
                EventsCommand::Show {
                    aggregate_type,
                    aggregate_id,
                    at_version,
                    at_time,
                },
        } => {
            let point = match (at_version, at_time) {
                (Some(version), _) => PointInHistory::Version(version),
                (None, Some(at)) => PointInHistory::Time(at),
                (None, None) => PointInHistory::Latest,
            };
            // An unknown type is refused before connecting.
            aggregate_history::check_aggregate_type(&aggregate_type).map_err(|e| e.to_string())?;
            let pools = wiring::pools(&config).await?;
            let client = pools.queries.get().await.map_err(|e| e.to_string())?;
            let state =
                aggregate_history::state_at(&**client, &aggregate_type, &aggregate_id, point)
                    .await
                    .map_err(|e| e.to_string())?;
            let pretty = serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?;
            println!("{pretty}");
            Ok(())
        }
        Command::Webhooks {
            command: WebhooksCommand::Replay { id, from, to, all },
        } => {
            let selection = match (id, from, all) {
                (Some(id), _, _) => DeliverySelection::One(id),
                (None, Some(from), _) => DeliverySelection::ReceivedBetween { from, to },
                (None, None, true) => DeliverySelection::All,
                (None, None, false) => return Err("give --id, --from or --all".into()),
            };
            let app = wiring::cli_application(&config).await?;
            let log = MetaWebhookLog::new(app.infra.pools.queries.clone());
            let summary = api::webhook_replay::replay(&app, &log, selection)
                .await
                .map_err(|e| e.to_string())?;
            wiring::fold_now(&app).await;
            print_json(serde_json::to_value(summary).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Projections {
            command: ProjectionsCommand::Rebuild { name },
        } => wiring::rebuild(&config, name.as_deref()).await,
        Command::Demo => wiring::demo(&config).await,
        Command::Sandbox(args) => sandbox_command(args).await,
        Command::Bench {
            command: BenchCommand::Messaging(options),
        } => bench::messaging::run(&config, options).await,
        Command::Bench {
            command: BenchCommand::Broadcast(options),
        } => bench::broadcast::run(&config, options).await,
    }
}

async fn sandbox_command(args: SandboxArgs) -> Result<(), String> {
    let parse = |json: &str| -> Result<serde_json::Value, String> {
        serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))
    };
    match args.command {
        None => wiring::serve_sandbox(&args.listen, &args.webhook_url).await,
        Some(SandboxCommand::Inbound {
            sandbox_url,
            phone_number_id,
            from,
            profile_name,
            text,
            message,
        }) => {
            let message = match (text, message) {
                (Some(text), None) => serde_json::json!({"type": "text", "text": {"body": text}}),
                (None, Some(json)) => parse(&json)?,
                _ => return Err("give --text or --message".into()),
            };
            let mut request = sandbox::InboundRequest::new(phone_number_id, from, message);
            request.profile_name = profile_name;
            let outcome = sandbox::SandboxClient::new(sandbox_url)
                .deliver_inbound(&request)
                .await
                .map_err(|e| e.to_string())?;
            print_json(serde_json::to_value(outcome).map_err(|e| e.to_string())?);
            Ok(())
        }
        Some(SandboxCommand::Messages { sandbox_url }) => {
            let report = sandbox::SandboxClient::new(sandbox_url)
                .messages()
                .await
                .map_err(|e| e.to_string())?;
            print_json(serde_json::to_value(report).map_err(|e| e.to_string())?);
            Ok(())
        }
        Some(SandboxCommand::Config { sandbox_url, set }) => {
            let client = sandbox::SandboxClient::new(sandbox_url);
            let config = match set {
                Some(json) => client.update_config(&parse(&json)?).await,
                None => client.config().await,
            }
            .map_err(|e| e.to_string())?;
            print_json(serde_json::to_value(config).map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}
