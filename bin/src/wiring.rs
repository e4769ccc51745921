//! Wiring: pools, the application, the projector and the HTTP server.

use crate::config::Config;
use application::{PhoneNumberInput, RequestContext};
use domain::phone_number::PhoneNumberStatus;
use projections::{all_projections, CheckpointWatch, Projector, RebuildProgress, Shutdown};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use store::{AeadSecretBox, ParleyApp, PgInfrastructure, Pools};

/// Connects to the database.
pub async fn pools(config: &Config) -> Result<Pools, String> {
    Pools::connect(&config.database_url, config.pool_size)
        .await
        .map_err(|e| e.to_string())
}

fn secret_box(config: &Config) -> Result<Arc<AeadSecretBox>, String> {
    let key = config
        .secret_key
        .as_deref()
        .ok_or("PARLEY_SECRET_KEY is not set (make run generates one in .data/secret.key)")?;
    Ok(Arc::new(
        AeadSecretBox::from_encoded_key(key).map_err(|e| e.to_string())?,
    ))
}

fn watch(pools: &Pools, timeout: Duration) -> CheckpointWatch {
    let names = all_projections().iter().map(|p| p.name()).collect();
    CheckpointWatch::new(pools.queries.clone(), names, timeout)
}

/// The application on PostgreSQL, as `parley serve` runs it: writes wait (bounded) for the
/// in-process projector.
async fn application(config: &Config) -> Result<ParleyApp, String> {
    let pools = pools(config).await?;
    let watch = watch(&pools, config.read_your_writes_timeout);
    tokio::spawn(watch.clone().listen(pools.database_url.clone()));
    Ok(ParleyApp::new(PgInfrastructure::new(
        pools,
        secret_box(config)?,
        watch,
    )))
}

/// The application for a one-shot command. No projector runs in this process, so writes do not
/// wait for read models (that wait would always run into its timeout); call [`fold_now`] after
/// writing instead.
pub async fn cli_application(config: &Config) -> Result<ParleyApp, String> {
    let pools = pools(config).await?;
    let watch = watch(&pools, Duration::ZERO);
    Ok(ParleyApp::new(PgInfrastructure::new(
        pools,
        secret_box(config)?,
        watch,
    )))
}

/// How long [`fold_now`] waits for the command's own events to settle (another transaction
/// on the cluster, older than the command's, may still be open).
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// Folds what is settled into every read model, so a one-shot command's writes show without a
/// running server. Safe beside a running server (the checkpoint row lock serializes them); a
/// failure only delays the read models, so it is logged, not returned.
pub async fn fold_now(app: &ParleyApp) {
    let projector = Projector::new(
        app.infra.pools.queries.clone(),
        all_projections(),
        app.infra.watch.clone(),
    );
    if let Err(error) = projector.ensure_checkpoints().await {
        tracing::warn!(%error, "read models not updated; the server's projector will fold the change");
        return;
    }
    wait_until_settled(app).await;
    for projection in projector.projections() {
        if let Err(error) = projector.catch_up(projection.as_ref(), 2_000).await {
            tracing::warn!(projection = projection.name(), %error, "read model not updated; the server's projector will fold the change");
        }
    }
}

/// Waits (at most [`SETTLE_WAIT`]) until every event written so far is settled, so the fold
/// that follows includes this command's events.
async fn wait_until_settled(app: &ParleyApp) {
    let Ok(client) = app.infra.pools.queries.get().await else {
        return;
    };
    let Ok(row) = client
        .query_one("SELECT coalesce(max(global_position), 0) FROM events", &[])
        .await
    else {
        return;
    };
    let written: i64 = row.get(0);
    let started = std::time::Instant::now();
    while started.elapsed() < SETTLE_WAIT {
        match projections::log::unsettled_up_to(&**client, written).await {
            Ok(true) => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => return,
        }
    }
}

/// How long an integrator's receiver may take to answer a webhook.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// `parley serve`: HTTP plus the projector, the outbox worker, the broadcast supervisor and the
/// integrator webhook deliveries, until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> Result<(), String> {
    let app = Arc::new(application(&config).await?);
    let shutdown = Shutdown::new();
    let projector = Projector::new(
        app.infra.pools.queries.clone(),
        all_projections(),
        app.infra.watch.clone(),
    );
    projector
        .ensure_checkpoints()
        .await
        .map_err(|e| e.to_string())?;
    let projector_task = tokio::spawn(projector.run(shutdown.clone()));

    let meta = start_meta(&config).await?;
    let queue = Arc::new(store::outbox::PgOutboxQueue::new(
        app.infra.pools.queries.clone(),
        store::outbox::PacingConfig {
            default_messages_per_second: config.meta_messages_per_second,
            lease: config.outbox_lease,
            ..Default::default()
        },
        app.infra.watch.clone(),
    ));
    let graph = Arc::new(meta.graph);
    let state = api::AppState::new(app.clone())
        .with_meta_webhooks(meta.webhooks)
        .with_graph(graph.clone())
        .with_webhook_policy(config.webhook_addresses);
    let deliveries = tokio::spawn(
        integrator_webhooks::DeliveryWorker {
            deliveries: state.webhook_deliveries.clone(),
            endpoints: state.webhook_endpoints.clone(),
            sender: integrator_webhooks::WebhookSender::new(
                config.webhook_addresses,
                WEBHOOK_TIMEOUT,
            )
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?,
            policy: config.webhook_delivery.clone(),
        }
        .run(shutdown.clone().triggered_owned()),
    );
    let worker = tokio::spawn({
        let (app, applier, stop, outbox) = (
            app.clone(),
            state.webhook_applier.clone(),
            shutdown.clone(),
            config.outbox.clone(),
        );
        async move {
            // Statuses stored before a crash may prove that Meta accepted a job's earlier
            // attempt: apply them all before any job is claimed again.
            applier.drain(Duration::ZERO).await;
            application::outbox::run_worker(app, queue, graph, outbox, stop.triggered_owned()).await
        }
    });
    let supervisor = tokio::spawn(application::broadcasts::run_supervisor(
        app.clone(),
        Duration::from_secs(1),
        shutdown.clone().triggered_owned(),
    ));
    tokio::spawn(
        state
            .webhook_applier
            .clone()
            .run_sweeps(shutdown.clone().triggered_owned()),
    );
    let router =
        api::router::with_common_layers(api::router(state.clone()).merge(graphql::router(state)));
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(listen = %config.listen, "parley is serving");
    let stop = shutdown.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            wait_for_signal().await;
            stop.trigger();
        })
        .await
        .map_err(|e| e.to_string())?;
    shutdown.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(10), projector_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), supervisor).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), deliveries).await;
    drop(meta.sandbox);
    Ok(())
}

/// The sandbox as Parley ships it: webhooks to `webhook_url`, signed with `secret`.
fn sandbox_config(
    webhook_url: impl Into<String>,
    secret: impl Into<String>,
) -> sandbox::SandboxConfig {
    let mut config = sandbox::SandboxConfig::new(webhook_url, secret);
    // Meta retries a webhook for days; a dozen doublings (about 17 minutes) covers a restart.
    config.delivery.attempts = 12;
    config
}

/// `parley sandbox`: the Meta sandbox alone, signing with META_APP_SECRET, until Ctrl-C.
pub async fn serve_sandbox(listen: &str, webhook_url: &str) -> Result<(), String> {
    let secret = std::env::var("META_APP_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or("META_APP_SECRET is not set: the sandbox signs its webhooks with it")?;
    let handle = sandbox::Sandbox::bind(listen, sandbox_config(webhook_url, secret))
        .await
        .map_err(|e| format!("cannot start the sandbox on {listen}: {e}"))?;
    tracing::info!(sandbox = %handle.base_url(), webhook_url, "Meta sandbox is serving");
    wait_for_signal().await;
    handle.shutdown().await;
    Ok(())
}

/// Meta as this process talks to it: the Graph client, the webhook secrets, and the sandbox
/// when no real Graph URL is configured.
struct MetaSide {
    graph: meta::GraphClient,
    webhooks: api::webhook::MetaWebhookSettings,
    /// Kept alive for as long as the server runs (dropping it stops the sandbox).
    sandbox: Option<sandbox::SandboxHandle>,
}

async fn start_meta(config: &Config) -> Result<MetaSide, String> {
    let app_secret = match (&config.meta_app_secret, &config.meta_graph_url) {
        (Some(secret), _) => Some(secret.clone()),
        // The in-process sandbox signs with a secret only this process knows.
        (None, None) => Some(uuid::Uuid::new_v4().simple().to_string()),
        (None, Some(_)) => {
            tracing::warn!(
                "META_APP_SECRET is not set: every Meta webhook delivery will be refused"
            );
            None
        }
    };
    let (base_url, sandbox) = match &config.meta_graph_url {
        Some(url) => (url.clone(), None),
        None => {
            let sandbox_config = sandbox_config(
                format!("http://{}/webhook", config.listen),
                app_secret.clone().unwrap_or_default(),
            );
            let handle = sandbox::Sandbox::bind(config.sandbox_listen.as_str(), sandbox_config)
                .await
                .map_err(|e| {
                    format!(
                        "cannot start the Meta sandbox on {}: {e}",
                        config.sandbox_listen
                    )
                })?;
            tracing::info!(sandbox = %handle.base_url(), "Meta sandbox running in-process (set META_GRAPH_URL to use Meta)");
            (handle.base_url(), Some(handle))
        }
    };
    let graph = meta::GraphClient::new(meta::GraphConfig {
        base_url,
        version: config.meta_graph_version.clone(),
        timeout: Duration::from_secs(30),
    })
    .map_err(|e| e.to_string())?;
    Ok(MetaSide {
        graph,
        webhooks: api::webhook::MetaWebhookSettings {
            app_secret: app_secret.map(|s| Arc::new(s.into_bytes())),
            verify_token: config.meta_verify_token.clone(),
        },
        sandbox,
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `parley projections rebuild [NAME]`: refolds with a progress bar on stderr and prints the rate.
pub async fn rebuild(config: &Config, name: Option<&str>) -> Result<(), String> {
    let pools = pools(config).await?;
    let projector = Projector::new(
        pools.queries.clone(),
        all_projections(),
        watch(&pools, config.read_your_writes_timeout),
    );
    let started = std::time::Instant::now();
    let folded = projector
        .rebuild(name, draw_progress)
        .await
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!();
    println!(
        "rebuilt {} in {:.2}s: {} events folded, {:.0} events/s",
        name.unwrap_or("all projections"),
        seconds,
        folded,
        folded as f64 / seconds.max(1e-9)
    );
    Ok(())
}

fn draw_progress(progress: RebuildProgress) {
    const WIDTH: usize = 30;
    let ratio = if progress.total == 0 {
        1.0
    } else {
        progress.folded as f64 / progress.total as f64
    };
    let filled = (ratio * WIDTH as f64).round() as usize;
    let rate = progress.folded as f64 / progress.elapsed.as_secs_f64().max(1e-9);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r{:<14} [{}{}] {}/{} events, {:.0}/s",
        progress.projection,
        "#".repeat(filled.min(WIDTH)),
        " ".repeat(WIDTH - filled.min(WIDTH)),
        progress.folded,
        progress.total,
        rate
    );
    let _ = err.flush();
}

const DEMO_WORKSPACE: &str = "demo";

/// `parley demo`: the demo workspace with one phone number, and a fresh token printed once.
pub async fn demo(config: &Config) -> Result<(), String> {
    let app = cli_application(config).await?;
    let tenancy = store::Tenancy::new(app.infra.pools.queries.clone());
    let (workspace, token) = match tenancy
        .find_workspace(DEMO_WORKSPACE)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(workspace) => {
            let token = tenancy
                .issue_token(workspace, "make run")
                .await
                .map_err(|e| e.to_string())?;
            (workspace, token)
        }
        None => tenancy
            .create_workspace(DEMO_WORKSPACE)
            .await
            .map_err(|e| e.to_string())?,
    };
    let input = PhoneNumberInput {
        phone_number_id: "100000000000001".into(),
        waba_id: "200000000000001".into(),
        waba_name: Some("Parley Demo".into()),
        display_phone_number: "+15550100001".into(),
        display_name: Some("Parley Demo".into()),
        verified_name: Some("Parley Demo".into()),
        status: Some(PhoneNumberStatus::Verified),
        access_token: Some("sandbox-access-token".into()),
    };
    let number = match app
        .register_phone_number(&RequestContext::cli(workspace), input)
        .await
    {
        Ok((id, _)) => id,
        Err(application::AppError::Conflict(_)) => {
            domain::phone_number::phone_number_id("100000000000001")
        }
        Err(other) => return Err(other.to_string()),
    };
    fold_now(&app).await;
    println!("Demo workspace {workspace}");
    println!("  phone number (accountId): {number}");
    println!("  API token (shown once):   {token}");
    Ok(())
}
