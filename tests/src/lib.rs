//! The black-box test harness: each test gets its own database (cloned from a migrated
//! template), a Parley server on its own port with the projector running, and a workspace.

use application::{PhoneNumberInput, RequestContext};
use projections::{all_projections, CheckpointWatch, Projector, Shutdown};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use store::{AeadSecretBox, ParleyApp, PgInfrastructure, Pools, Tenancy};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// The cluster tests run against (`make test` starts it).
pub fn cluster_url() -> String {
    std::env::var("PARLEY_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .expect("set PARLEY_TEST_DATABASE_URL (make test does)")
}

fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database URL ends in /dbname");
    format!("{base}/{database}")
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to test cluster");
    tokio::spawn(connection);
    client
}

/// A fresh, migrated database; returns its URL.
pub async fn fresh_database() -> String {
    let url = cluster_url();
    let client = admin(&url).await;
    // One template per migration set, created once across all test processes.
    let template = "parley_test_template";
    client
        .execute("SELECT pg_advisory_lock(7340001)", &[])
        .await
        .unwrap();
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .unwrap()
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {template}"))
            .await
            .unwrap();
    }
    // Migrating is idempotent, so an existing template picks up new migrations too.
    let pools = Pools::connect(&with_database(&url, template), 2)
        .await
        .expect("template pools");
    store::migrations::migrate(&pools.queries)
        .await
        .expect("migrate template");
    pools.events.close().await;
    drop(pools);
    let name = format!("parley_test_{}", Uuid::new_v4().simple());
    let mut created = false;
    for _ in 0..50 {
        // CREATE DATABASE … TEMPLATE fails while another session is connected to the template.
        match client
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
        {
            Ok(()) => {
                created = true;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    client
        .execute("SELECT pg_advisory_unlock(7340001)", &[])
        .await
        .unwrap();
    assert!(created, "could not create test database {name}");
    with_database(&url, &name)
}

/// Integrator webhook retries for tests: fast, and no dead letters unless a test asks.
pub fn test_delivery_policy() -> integrator_webhooks::DeliveryPolicy {
    integrator_webhooks::DeliveryPolicy {
        first_retry: Duration::from_millis(200),
        max_retry: Duration::from_secs(1),
        give_up_after: Duration::from_secs(600),
        pause_after: Duration::from_secs(24 * 60 * 60),
        lease: Duration::from_secs(10),
        poll: Duration::from_millis(50),
        concurrency: 8,
    }
}

/// The outbox worker's policy in tests: retries come quickly.
pub fn test_outbox_policy() -> application::OutboxPolicy {
    application::OutboxPolicy {
        base_backoff: Duration::from_millis(50),
        ..Default::default()
    }
}

/// A running Parley on a fresh database, with one workspace (token and phone number) ready.
pub struct TestApp {
    pub base_url: String,
    pub database_url: String,
    pub app: Arc<ParleyApp>,
    pub http: reqwest::Client,
    pub workspace: Workspace,
    pub shutdown: Shutdown,
    /// The Meta sandbox this app's outbox sends to and whose webhooks it receives.
    pub sandbox: sandbox::SandboxHandle,
    /// The Graph API client calling that sandbox.
    pub graph: Arc<meta::GraphClient>,
}

/// The app secret the test sandbox signs webhooks with.
pub const META_APP_SECRET: &str = "test-app-secret";
/// The verify token of the test webhook handshake.
pub const META_VERIFY_TOKEN: &str = "test-verify-token";

/// A workspace as a test sees it.
#[derive(Clone, Debug)]
pub struct Workspace {
    pub id: domain::WorkspaceId,
    pub token: String,
    /// Our id of its phone number (the `accountId` of the WhatsApp API).
    pub phone_number: Uuid,
    /// Meta's id of that phone number.
    pub meta_phone_number_id: String,
}

impl TestApp {
    /// Starts everything on a fresh database.
    pub async fn spawn() -> Self {
        Self::spawn_with_timeout(Duration::from_secs(5)).await
    }

    /// Starts everything with the given read-your-writes timeout.
    pub async fn spawn_with_timeout(read_your_writes: Duration) -> Self {
        Self::spawn_with_delivery_policy(read_your_writes, test_delivery_policy()).await
    }

    /// Starts everything, delivering integrator webhooks (to loopback too) under `deliveries`.
    pub async fn spawn_with_delivery_policy(
        read_your_writes: Duration,
        deliveries: integrator_webhooks::DeliveryPolicy,
    ) -> Self {
        Self::spawn_with(read_your_writes, deliveries, test_outbox_policy()).await
    }

    /// Starts everything with its outbox worker under `outbox`.
    pub async fn spawn_with_outbox_policy(outbox: application::OutboxPolicy) -> Self {
        Self::spawn_with(Duration::from_secs(5), test_delivery_policy(), outbox).await
    }

    async fn spawn_with(
        read_your_writes: Duration,
        deliveries: integrator_webhooks::DeliveryPolicy,
        outbox: application::OutboxPolicy,
    ) -> Self {
        let database_url = fresh_database().await;
        let pools = Pools::connect(&database_url, 8).await.expect("pools");
        let names = all_projections().iter().map(|p| p.name()).collect();
        let watch = CheckpointWatch::new(pools.queries.clone(), names, read_your_writes);
        tokio::spawn(watch.clone().listen(database_url.clone()));
        let secrets =
            Arc::new(AeadSecretBox::from_encoded_key(&AeadSecretBox::generate_key()).unwrap());
        let app = Arc::new(ParleyApp::new(PgInfrastructure::new(
            pools.clone(),
            secrets,
            watch.clone(),
        )));
        let shutdown = Shutdown::new();
        let projector = Projector::new(pools.queries.clone(), all_projections(), watch);
        projector.ensure_checkpoints().await.unwrap();
        tokio::spawn(projector.run(shutdown.clone()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());

        // The Meta sandbox, delivering its signed webhooks to this server, and the outbox
        // worker calling it.
        let sandbox = sandbox::Sandbox::bind(
            "127.0.0.1:0",
            sandbox::SandboxConfig::new(format!("{base_url}/webhook"), META_APP_SECRET),
        )
        .await
        .expect("sandbox");
        let graph = meta::GraphClient::new(meta::GraphConfig {
            base_url: sandbox.base_url(),
            version: "v23.0".into(),
            timeout: Duration::from_secs(10),
        })
        .unwrap();
        let queue = Arc::new(store::outbox::PgOutboxQueue::new(
            pools.queries.clone(),
            store::outbox::PacingConfig::default(),
            app.infra.watch.clone(),
        ));
        let graph = Arc::new(graph);
        tokio::spawn(application::outbox::run_worker(
            app.clone(),
            queue,
            graph.clone(),
            outbox,
            shutdown.clone().triggered_owned(),
        ));

        tokio::spawn(application::broadcasts::run_supervisor(
            app.clone(),
            Duration::from_millis(200),
            shutdown.clone().triggered_owned(),
        ));
        let loopback = integrator_webhooks::AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        let state = api::AppState::new(app.clone())
            .with_webhook_policy(loopback)
            .with_graph(graph.clone())
            .with_meta_webhooks(api::webhook::MetaWebhookSettings {
                app_secret: Some(Arc::new(META_APP_SECRET.as_bytes().to_vec())),
                verify_token: Some(META_VERIFY_TOKEN.into()),
            });
        tokio::spawn(
            state
                .webhook_applier
                .clone()
                .run_sweeps(shutdown.clone().triggered_owned()),
        );
        tokio::spawn(
            integrator_webhooks::DeliveryWorker {
                deliveries: state.webhook_deliveries.clone(),
                endpoints: state.webhook_endpoints.clone(),
                sender: integrator_webhooks::WebhookSender::new(loopback, Duration::from_secs(5))
                    .unwrap(),
                policy: deliveries,
            }
            .run(shutdown.clone().triggered_owned()),
        );
        let router = api::router::with_common_layers(
            api::router(state.clone()).merge(graphql::router(state)),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });

        let workspace = create_workspace(&app, "test").await;
        Self {
            base_url,
            database_url,
            app,
            http: reqwest::Client::new(),
            workspace,
            shutdown,
            sandbox,
            graph,
        }
    }

    /// Makes `name` (en_US, body `body`) an approved template of the workspace's WABA, the way a
    /// business does: created on Meta (the sandbox approves it), then synced into Parley.
    /// Every placeholder's variable defaults to `default`.
    pub async fn approved_template(&self, name: &str, body: &str) {
        let context = RequestContext::cli(self.workspace.id);
        let phone = application::PhoneNumberRef::Id(self.workspace.phone_number);
        let placeholders = body.matches("{{").count();
        let examples: Vec<&str> = (0..placeholders).map(|_| "42").collect();
        let mut components = json!([{"type": "BODY", "text": body}]);
        if placeholders > 0 {
            components[0]["example"] = json!({ "body_text": [examples] });
        }
        let request = json!({
            "name": name, "category": "UTILITY", "language": "en_US", "components": components,
        });
        self.graph
            .create_template("200000000000001", "EAAG-test-access-token", &request)
            .await
            .expect("create the template on the sandbox");
        let id = self
            .app
            .template_id_for(&context, &phone, name, "en_US")
            .await
            .unwrap();
        for _ in 0..200 {
            self.app
                .sync_templates(&*self.graph, &context, &phone)
                .await
                .expect("sync templates");
            let state = self.app.template_state(&context, id).await;
            if state.is_ok_and(|s| s.status == domain::template::TemplateStatus::Approved) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("template {name} was never approved");
    }

    /// Another workspace with its own token and phone number.
    pub async fn another_workspace(&self) -> Workspace {
        create_workspace(&self.app, "other").await
    }

    /// A request builder with the default workspace's token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request_as(&self.workspace, method, path)
    }

    /// A request builder with `workspace`'s token.
    pub fn request_as(
        &self,
        workspace: &Workspace,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {}", workspace.token)).unwrap(),
        );
        self.http
            .request(method, format!("{}{}", self.base_url, path))
            .headers(headers)
    }

    /// Sends a request and returns its status and JSON body (Null when the body is not JSON).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A connection to the test database.
    pub async fn db(&self) -> tokio_postgres::Client {
        admin(&self.database_url).await
    }
}

async fn create_workspace(app: &ParleyApp, name: &str) -> Workspace {
    let tenancy = Tenancy::new(app.infra.pools.queries.clone());
    let (id, token) = tenancy.create_workspace(name).await.unwrap();
    let meta_id = format!(
        "{}",
        100_000_000_000_000u64 + (Uuid::new_v4().as_u128() % 899_999_999_999_999) as u64
    );
    let input = PhoneNumberInput {
        phone_number_id: meta_id.clone(),
        waba_id: "200000000000001".into(),
        waba_name: Some("Test WABA".into()),
        display_phone_number: "+15550100001".into(),
        display_name: Some("Test".into()),
        verified_name: Some("Test Inc".into()),
        status: None,
        access_token: Some("EAAG-test-access-token".into()),
    };
    let (phone_number, _) = app
        .register_phone_number(&RequestContext::cli(id), input)
        .await
        .expect("register phone number");
    Workspace {
        id,
        token,
        phone_number,
        meta_phone_number_id: meta_id,
    }
}

/// A fresh, empty (not migrated) database on the test cluster; returns its URL.
pub async fn empty_database() -> String {
    let url = cluster_url();
    let client = admin(&url).await;
    let name = format!("parley_test_empty_{}", Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create empty database");
    with_database(&url, &name)
}

/// A connection to the database at `url`.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    admin(url).await
}
