//! A throwaway PostgreSQL server for one test: its own data directory in a temporary directory, its own port on
//! 127.0.0.1 and its own socket directory, never shared with another test. It uses the machine's PostgreSQL
//! binaries (`initdb` and `postgres` from PATH, else the newest /usr/lib/postgresql/*/bin; Debian's postgresql-15
//! package provides them). PostgreSQL refuses to run as root, so under root both run as the `postgres` system user.
//! `stop` crashes the server (immediate shutdown) and `start` brings it back on the same port, for outage tests;
//! dropping the value kills the server and deletes its files.
//!
//! Use it from a test file with `#[path = "support/postgres.rs"] mod postgres_support;`.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The database each server gets for the test.
const DATABASE: &str = "ferrokube_test";
/// How long a starting server may take to accept connections.
const READY_TIMEOUT_MS: u64 = 30_000;
/// How long a server may take to exit after it was told to.
const EXIT_TIMEOUT_MS: u64 = 10_000;
/// Fresh ports tried when another process takes the one picked before the server binds it.
const PORT_ATTEMPTS_MAX: usize = 3;

pub struct TestPostgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// The user and group the server runs as, when this process is root.
    run_as: Option<(u32, u32)>,
    server: Option<Child>,
}

impl TestPostgres {
    /// Creates a cluster, starts it and creates the test database.
    pub async fn new() -> TestPostgres {
        let bin = find_bin_dir();
        let dir = tempfile::Builder::new().prefix("ferrokube-pg-").tempdir().expect("create a temporary directory");
        let run_as = unprivileged_user();
        let socket_dir = dir.path().join("socket");
        fs::create_dir(&socket_dir).expect("create the socket directory");
        if let Some((uid, gid)) = run_as {
            for path in [dir.path(), &socket_dir] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("hand the directory to the postgres user");
            }
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb.arg("--pgdata").arg(dir.path().join("data")).args([
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        let output = as_user(&mut initdb, run_as, dir.path()).output().expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );

        let mut server = TestPostgres { dir, bin, port: 0, run_as, server: None };
        for attempt in 1..=PORT_ATTEMPTS_MAX {
            server.port = free_port();
            match server.launch().await {
                Ok(()) => break,
                Err(error) if attempt < PORT_ATTEMPTS_MAX => {
                    eprintln!("postgres did not start, retrying: {error}")
                }
                Err(error) => panic!("postgres did not start: {error}"),
            }
        }
        let (client, connection) =
            tokio_postgres::connect(&server.url_of("postgres"), tokio_postgres::NoTls).await.expect("connect to the new server");
        let connection = tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {DATABASE}")).await.expect("create the test database");
        drop(client);
        let _ = connection.await;
        server
    }

    /// The URL of the test database.
    pub fn url(&self) -> String {
        self.url_of(DATABASE)
    }

    /// Crashes the server (immediate shutdown: connections drop, nothing is flushed politely) and waits until it
    /// is gone.
    pub async fn stop(&mut self) {
        let mut server = self.server.take().expect("stop: the server is not running");
        signal(&server, "QUIT");
        wait_for_exit(&mut server).await;
    }

    /// Starts the server again on the same port after `stop`, and waits until it accepts connections.
    pub async fn start(&mut self) {
        assert!(self.server.is_none(), "start: the server is already running");
        if let Err(error) = self.launch().await {
            panic!("postgres did not restart: {error}");
        }
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server on `self.port` and waits until it accepts connections.
    async fn launch(&mut self) -> Result<(), String> {
        let log_path = self.dir.path().join("postgres.log");
        let log = File::options().create(true).append(true).open(&log_path).map_err(|error| error.to_string())?;
        let log_err = log.try_clone().map_err(|error| error.to_string())?;
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-k")
            .arg(self.dir.path().join("socket"))
            .args(["-p", &self.port.to_string()])
            // Speed over durability: the data dies with the test, and the page cache survives a server crash.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=100", "-c", "shared_buffers=32MB"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let mut server = as_user(&mut command, self.run_as, self.dir.path()).spawn().map_err(|error| error.to_string())?;

        let deadline = Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
        loop {
            if let Ok(Some(status)) = server.try_wait() {
                return Err(format!("postgres exited with {status}; log:\n{}", read_log(&log_path)));
            }
            let attempt = tokio::time::timeout(
                Duration::from_millis(1_000),
                tokio_postgres::connect(&self.url_of("postgres"), tokio_postgres::NoTls),
            )
            .await;
            if let Ok(Ok((client, connection))) = attempt {
                drop(client);
                let _ = connection.await;
                self.server = Some(server);
                return Ok(());
            }
            if Instant::now() > deadline {
                signal(&server, "QUIT");
                wait_for_exit(&mut server).await;
                return Err(format!("postgres did not accept connections in time; log:\n{}", read_log(&log_path)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            signal(&server, "QUIT");
            let deadline = Instant::now() + Duration::from_millis(EXIT_TIMEOUT_MS);
            while matches!(server.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// The directory holding `initdb` and `postgres`.
fn find_bin_dir() -> PathBuf {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|dir| has_both(dir))) {
        return dir;
    }
    let mut installed: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, dir)| has_both(dir))
        .collect();
    installed.sort();
    match installed.pop() {
        Some((_, dir)) => dir,
        None => panic!(
            "PostgreSQL binaries not found in PATH or /usr/lib/postgresql/*/bin: \
             apt-get install -y postgresql-15"
        ),
    }
}

/// Under root, the `postgres` system user's uid and gid (initdb and postgres refuse to run as root).
fn unprivileged_user() -> Option<(u32, u32)> {
    let uid = fs::metadata("/proc/self").expect("read /proc/self").uid();
    if uid != 0 {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let entry = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    });
    match entry {
        Some(ids) => Some(ids),
        None => panic!("running as root needs the `postgres` system user (created by the postgresql-15 package)"),
    }
}

fn as_user<'c>(command: &'c mut Command, run_as: Option<(u32, u32)>, dir: &Path) -> &'c mut Command {
    // A working directory the user can enter: PostgreSQL looks up its current directory at start.
    command.current_dir(dir);
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    command
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn signal(server: &Child, name: &str) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(server.id().to_string()).status();
}

async fn wait_for_exit(server: &mut Child) {
    let deadline = Instant::now() + Duration::from_millis(EXIT_TIMEOUT_MS);
    while matches!(server.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = server.kill();
            let _ = server.wait();
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}
