//! Shared by the tests of the real `parley` binary: running it, the processes it starts, and a
//! deployment to serve against (a database with a workspace and a phone number, and a
//! `parley sandbox` process standing in for Meta).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use store::AeadSecretBox;

/// `target/debug/parley` (honouring CARGO_TARGET_DIR); built once if missing.
fn parley_bin() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let bin = target.join("debug").join("parley");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "parley"])
            .current_dir(root)
            .status()
            .expect("run cargo build -p parley");
        assert!(status.success(), "cargo build -p parley failed");
    }
    assert!(bin.exists(), "{} not found", bin.display());
    bin
}

/// The binary with a clean environment for `database_url`.
pub(crate) struct Parley {
    bin: PathBuf,
    database_url: String,
    secret_key: String,
}

impl Parley {
    pub(crate) fn new(database_url: String) -> Self {
        Self {
            bin: parley_bin(),
            database_url,
            secret_key: AeadSecretBox::generate_key(),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env_remove("META_ACCESS_TOKEN")
            .env("DATABASE_URL", &self.database_url)
            .env("PARLEY_SECRET_KEY", &self.secret_key)
            .env("PARLEY_LOG", "warn");
        command
    }

    pub(crate) fn run_with(&self, mut command: Command) -> Output {
        let started = Instant::now();
        let output = command.output().expect("run parley");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "parley took {:?}",
            started.elapsed()
        );
        output
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_with(self.command(args))
    }

    /// Runs a command that must succeed; returns its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "parley {args:?} failed: {}",
            describe(&output)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

pub(crate) fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Exactly one JSON object on stdout.
pub(crate) fn one_json_object(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line of JSON, got {stdout:?}");
    let value: Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    assert!(value.is_object(), "{value}");
    value
}

/// A free TCP port on loopback (bound, then released for the child to take).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child (SIGKILL) when dropped, so a failing test leaves no server behind.
pub(crate) struct Child(pub(crate) std::process::Child);

impl Child {
    /// SIGKILL: no shutdown path runs.
    pub(crate) fn kill(&mut self) {
        self.0.kill().unwrap();
        let _ = self.0.wait();
    }

    /// SIGTERM, as an operator stops a server; it must exit cleanly within `within`.
    pub(crate) async fn terminate(&mut self, within: Duration) {
        let pid = self.0.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
        let started = Instant::now();
        loop {
            if let Some(exit) = self.0.try_wait().unwrap() {
                assert!(exit.success(), "parley exited with {exit} on SIGTERM");
                return;
            }
            assert!(
                started.elapsed() < within,
                "parley still running {within:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn wait_until_up(http: &reqwest::Client, url: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if http
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never came up");
}

/// Meta's id of the deployment's phone number, its WABA and its display number.
pub(crate) const META_PHONE_NUMBER_ID: &str = "100000000000077";
pub(crate) const WABA_ID: &str = "200000000000077";
pub(crate) const DISPLAY_PHONE_NUMBER: &str = "+15550100077";
const APP_SECRET: &str = "cli-test-app-secret";

/// A migrated fresh database with a workspace and one phone number, and a `parley sandbox`
/// process whose webhooks go to the `parley serve` listening on `api_port`. Servers are started
/// with [`Deployment::serve`]; the sandbox outlives them, so its records span restarts.
pub(crate) struct Deployment {
    pub(crate) parley: Parley,
    pub(crate) database_url: String,
    pub(crate) token: String,
    /// Our id of the phone number (the `accountId` of the WhatsApp API).
    pub(crate) account: uuid::Uuid,
    /// The port of the server the sandbox delivers webhooks to.
    pub(crate) api_port: u16,
    pub(crate) sandbox_url: String,
    pub(crate) http: reqwest::Client,
    _sandbox: Child,
}

impl Deployment {
    pub(crate) async fn start(workspace_name: &str) -> Self {
        let database_url = parley_tests::fresh_database().await;
        let parley = Parley::new(database_url.clone());
        parley.ok(&["migrate"]);
        let created = one_json_object(&parley.ok(&["workspace", "create", workspace_name]));
        let workspace = created["workspace_id"].as_str().unwrap().to_string();
        let token = created["token"].as_str().unwrap().to_string();
        let added = one_json_object(&parley.ok(&[
            "phone-number",
            "add",
            "--workspace",
            &workspace,
            "--phone-number-id",
            META_PHONE_NUMBER_ID,
            "--waba-id",
            WABA_ID,
            "--display-phone-number",
            DISPLAY_PHONE_NUMBER,
            "--access-token",
            "EAAG-cli-test",
        ]));
        let account = uuid::Uuid::parse_str(added["id"].as_str().unwrap()).unwrap();

        let (api_port, sandbox_port) = (free_port(), free_port());
        let sandbox_url = format!("http://127.0.0.1:{sandbox_port}");
        let mut sandbox = parley.command(&[
            "sandbox",
            "--listen",
            &format!("127.0.0.1:{sandbox_port}"),
            "--webhook-url",
            &format!("http://127.0.0.1:{api_port}/webhook"),
        ]);
        sandbox.env("META_APP_SECRET", APP_SECRET);
        let sandbox = Child(sandbox.spawn().unwrap());
        let http = reqwest::Client::new();
        wait_until_up(&http, &format!("{sandbox_url}/_sandbox/healthz")).await;
        Self {
            parley,
            database_url,
            token,
            account,
            api_port,
            sandbox_url,
            http,
            _sandbox: sandbox,
        }
    }

    /// `http://127.0.0.1:{port}`.
    pub(crate) fn api(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    /// Starts `parley serve` on `port` against the sandbox (outbox lease 4 s, so that a killed
    /// server's jobs come due again quickly), with `env` on top; waits until it answers.
    pub(crate) async fn serve(&self, port: u16, env: &[(&str, &str)]) -> Child {
        let mut command = self.parley.command(&["serve"]);
        command
            .env("PARLEY_LISTEN", format!("127.0.0.1:{port}"))
            .env("META_GRAPH_URL", &self.sandbox_url)
            .env("META_APP_SECRET", APP_SECRET)
            .env("PARLEY_OUTBOX_LEASE_MS", "4000");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = Child(command.spawn().unwrap());
        wait_until_up(&self.http, &format!("{}/healthz", Self::api(port))).await;
        child
    }

    /// Creates the en_US template `name` with `components` (and variable metadata unless null) through the
    /// REST API of the server on `api`; waits until the sandbox's review has approved it.
    pub(crate) async fn approved_template(
        &self,
        api: &str,
        name: &str,
        components: Value,
        variables: Value,
    ) {
        let mut body = json!({
            "accountId": self.account, "name": name, "category": "UTILITY",
            "language": "en_US", "components": components,
        });
        if !variables.is_null() {
            body["variables"] = variables;
        }
        let answer = self
            .http
            .post(format!("{api}/v1/whatsapp/templates"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let template: Value = self
                .http
                .get(format!(
                    "{api}/v1/whatsapp/templates/{name}?accountId={}",
                    self.account
                ))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if template["template"]["status"] == "APPROVED" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the sandbox never approved the template {name}");
    }

    /// `GET` on the sandbox's control API.
    pub(crate) async fn sandbox_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.sandbox_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
