//! Test support for end-to-end tests: starts the real `ferrokube server` binary as a child process on a
//! temporary data directory and a free port (optionally on a PostgreSQL datastore and with extra server flags),
//! waits until `/readyz` answers 200, and kills it on drop; and runs stock kubectl binaries (found through
//! `../shared/tools/kubectl-versions`) against it with a private HOME and discovery cache, capturing stdout,
//! stderr and the exit code, with stdin, extra environment variables and a timeout per command.

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long the server may take to answer `/readyz` with 200 (PostgreSQL migrations included).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one kubectl command may run unless the caller says otherwise.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How often child processes are polled for exit.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A running `ferrokube server`, killed when dropped.
pub struct Cluster {
    child: Child,
    data_dir: TempDir,
    port: u16,
}

impl Cluster {
    /// Starts `ferrokube server` on 127.0.0.1 and a free port, with `--datastore-endpoint` when given, and
    /// waits until `/readyz` answers 200 (probed with kubectl `kubectl_minor`). Panics with the server's
    /// stderr if it exits or does not become ready in time.
    pub fn start(datastore_endpoint: Option<&str>, kubectl_minor: &str) -> Cluster {
        Cluster::start_with_args(datastore_endpoint, kubectl_minor, &[])
    }

    /// As `start`, with extra `ferrokube server` flags (e.g. `["--service-cluster-ip-range", "10.0.0.0/26"]`).
    pub fn start_with_args(datastore_endpoint: Option<&str>, kubectl_minor: &str, extra_args: &[&str]) -> Cluster {
        let data_dir = tempfile::Builder::new().prefix("ferrokube-e2e-").tempdir().expect("create a temporary data dir");
        let port = free_port();
        let stdout = std::fs::File::create(data_dir.path().join("server.stdout")).expect("create server.stdout");
        let stderr = std::fs::File::create(data_dir.path().join("server.stderr")).expect("create server.stderr");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrokube"));
        command
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir.path().join("data"))
            .args(["--bind-address", "127.0.0.1", "--secure-port", &port.to_string()])
            .env_remove("FERROKUBE_DATASTORE_ENDPOINT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if let Some(endpoint) = datastore_endpoint {
            command.args(["--datastore-endpoint", endpoint]);
        }
        command.args(extra_args);
        let child = command.spawn().expect("spawn the ferrokube binary");
        let mut cluster = Cluster { child, data_dir, port };
        cluster.wait_ready(kubectl_minor);
        cluster
    }

    /// The admin kubeconfig the server wrote into its data dir.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.path().join("data").join("admin.kubeconfig")
    }

    /// The HTTPS port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything the server wrote to stderr so far.
    pub fn server_stderr(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("server.stderr")).unwrap_or_default()
    }

    /// A kubectl runner of the given minor version (e.g. "1.33") pointed at this server.
    pub fn kubectl(&self, minor: &str) -> Kubectl {
        Kubectl::new(minor, &self.kubeconfig())
    }

    fn wait_ready(&mut self, kubectl_minor: &str) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let kubectl = self.kubectl(kubectl_minor);
        let mut last = String::from("the admin kubeconfig was never written");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ferrokube server exited before it was ready ({status}); its stderr:\n{}", self.server_stderr());
            }
            if self.kubeconfig().exists() {
                let probe = kubectl.command(&["get", "--raw", "/readyz", "--request-timeout=5s"]).timeout(Duration::from_secs(10)).run();
                if probe.success() {
                    return;
                }
                last = probe.to_string();
            }
            if Instant::now() >= deadline {
                panic!(
                    "ferrokube server on port {} was not ready within {READY_TIMEOUT:?}; last probe: {last}\nits stderr:\n{}",
                    self.port,
                    self.server_stderr()
                );
            }
            thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Runs one stock kubectl version against one kubeconfig, with its own HOME and discovery cache so nothing
/// leaks between versions or tests.
pub struct Kubectl {
    binary: PathBuf,
    minor: String,
    kubeconfig: PathBuf,
    home: TempDir,
}

impl Kubectl {
    /// Finds kubectl `minor` with `<repo>/../shared/tools/kubectl-versions`; panics if it is not available.
    pub fn new(minor: &str, kubeconfig: &Path) -> Kubectl {
        let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join("tools").join("kubectl-versions");
        let found = Command::new(&tool).arg(minor).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
        let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
        assert!(
            found.status.success() && !path.is_empty(),
            "kubectl {minor} is not available from {}: {}",
            tool.display(),
            String::from_utf8_lossy(&found.stderr)
        );
        let home = tempfile::Builder::new().prefix("kubectl-home-").tempdir().expect("create a kubectl home");
        Kubectl { binary: PathBuf::from(path), minor: minor.to_string(), kubeconfig: kubeconfig.to_path_buf(), home }
    }

    /// The minor version, e.g. "1.27".
    pub fn minor(&self) -> &str {
        &self.minor
    }

    /// The minor version as a number, e.g. 27 for "1.27".
    pub fn minor_number(&self) -> u32 {
        self.minor.rsplit('.').next().and_then(|m| m.parse().ok()).expect("a minor version like 1.27")
    }

    /// A scratch directory private to this runner (for manifests, editor scripts, ...).
    pub fn scratch_dir(&self) -> PathBuf {
        let dir = self.home.path().join("scratch");
        std::fs::create_dir_all(&dir).expect("create the scratch dir");
        dir
    }

    /// Runs `kubectl <args>` with no stdin and the default timeout.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).run()
    }

    /// A command to configure (stdin, environment, timeout) before running or spawning it.
    pub fn command(&self, args: &[&str]) -> Invocation<'_> {
        Invocation {
            kubectl: self,
            args: args.iter().map(|a| a.to_string()).collect(),
            stdin: None,
            env: Vec::new(),
            timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    fn build(&self, args: &[String], env: &[(String, String)]) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        for name in ["KUBECONFIG", "KUBECTL_EXTERNAL_DIFF", "KUBE_EDITOR", "EDITOR", "KUBERC", "KUBECTL_KUBERC", "KUBECTL_COMMAND_HEADERS"]
        {
            command.env_remove(name);
        }
        command.env("HOME", self.home.path()).env("KUBECACHEDIR", self.home.path().join("cache")).env("SHELL", "/bin/sh");
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }
}

/// One kubectl command being prepared.
pub struct Invocation<'a> {
    kubectl: &'a Kubectl,
    args: Vec<String>,
    stdin: Option<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl Invocation<'_> {
    pub fn stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.to_string());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs to completion (or until the timeout, when it is killed) and returns what it printed.
    pub fn run(self) -> Output {
        let timeout = self.timeout;
        let mut running = self.spawn();
        running.finish(timeout)
    }

    /// Starts the command in the background; its output accumulates in the returned handle.
    pub fn spawn(self) -> Background {
        let mut command = self.kubectl.build(&self.args, &self.env);
        command.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", self.kubectl.binary.display()));
        if let (Some(input), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            });
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            pump(child.stdout.take().expect("piped stdout"), stdout.clone()),
            pump(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        Background { command: format!("kubectl-{} {}", self.kubectl.minor, shell_words(&self.args)), child, stdout, stderr, readers }
    }
}

fn pump(mut source: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        loop {
            match source.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => sink.lock().expect("output buffer").extend_from_slice(&buffer[..n]),
            }
        }
    })
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A kubectl process running in the background (e.g. `get -w`, `wait`); killed when dropped.
pub struct Background {
    command: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Background {
    /// What it printed to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("stdout buffer")).into_owned()
    }

    /// What it printed to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer")).into_owned()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits until some stdout line satisfies `wanted` (true) or the timeout passes (false).
    pub fn wait_for_line(&mut self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout_so_far().lines().any(&wanted) {
                return true;
            }
            if self.exited() {
                // Let the reader threads drain what is left in the pipe, then look once more.
                thread::sleep(Duration::from_millis(200));
                return self.stdout_so_far().lines().any(&wanted);
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits for exit, killing the process when `timeout` passes first, and returns its output.
    pub fn finish(&mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status: Option<ExitStatus> = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
                Ok(None) => thread::sleep(POLL_INTERVAL),
                Err(_) => break None,
            }
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Output {
            command: self.command.clone(),
            code: if timed_out { None } else { status.and_then(|s| s.code()) },
            timed_out,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
        }
    }

    /// Stops the process now and returns what it printed.
    pub fn stop(&mut self) -> Output {
        let _ = self.child.kill();
        let mut output = self.finish(Duration::from_secs(10));
        output.code = None;
        output
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one kubectl command printed and how it ended.
#[derive(Clone, Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// The exit code; None when killed (timeout, stop) or ended by a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ended = match (self.timed_out, self.code) {
            (true, _) => "timed out and was killed".to_string(),
            (false, Some(code)) => format!("exit code {code}"),
            (false, None) => "killed".to_string(),
        };
        write!(
            f,
            "`{}` ({ended})\n--- stdout ---\n{}--- stderr ---\n{}",
            self.command,
            with_newline(&self.stdout),
            with_newline(&self.stderr)
        )
    }
}

fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// Another `ferrokube` process (a controller-manager, simulated nodes) pointed at a cluster, killed on drop.
pub struct Component {
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Component {
    /// Runs `ferrokube <args>` with its stderr in a private log file.
    pub fn start(args: &[&str]) -> Component {
        let dir = tempfile::Builder::new().prefix("ferrokube-component-").tempdir().expect("create a temporary dir");
        let log = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&log).expect("create the component log");
        let child = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn the ferrokube binary");
        Component { child, log, _dir: dir }
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills it at once, as a crash or a lost machine would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.kill();
    }
}
