//! A real PostgreSQL server for one test: the system's `initdb`, `pg_ctl`
//! and `postgres` binaries, a data folder copied from a template that the
//! first test makes with `initdb`, started on a free loopback port and
//! stopped (`pg_ctl stop -m immediate`) with its folder removed on drop.
//! As root (CI containers) the server runs as the `postgres` user, since
//! PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Where the server binaries are: `HOOKBRIDGE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`, else `PATH`.
fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("HOOKBRIDGE_PG_BIN") {
        return Path::new(&dir).join(name);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    versions.sort();
    match versions.last() {
        Some(dir) => dir.join("bin").join(name),
        None => PathBuf::from(name),
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` with `args`, as the `postgres` user when we are root.
fn command(program: &str) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin(program));
        command
    } else {
        Command::new(bin(program))
    }
}

fn run(mut command: Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Let the `postgres` user own `path` (when we are root).
fn hand_over(path: &Path) {
    if running_as_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(path);
                c
            },
            "chown",
        );
    }
}

/// A freshly initialised data folder to copy, made once per machine.
fn template() -> PathBuf {
    let template = std::env::temp_dir().join("hookbridge-test-pg-template");
    if template.join("PG_VERSION").exists() {
        return template;
    }
    let scratch = TempDir::new().unwrap().keep();
    hand_over(&scratch);
    let data = scratch.join("data");
    let mut initdb = command("initdb");
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    run(initdb, "initdb");
    if std::fs::rename(&data, &template).is_err() {
        assert!(template.join("PG_VERSION").exists(), "the template folder");
    }
    let _ = std::fs::remove_dir_all(&scratch);
    template
}

/// One running server.
pub struct PostgresServer {
    dir: TempDir,
    port: u16,
}

impl PostgresServer {
    /// Start a server with an empty `hookbridge` database. Tests run with
    /// `durable` false (no fsync: they need speed, not power-cut safety);
    /// the benchmark with it true, as production does.
    pub fn start(durable: bool) -> Self {
        Self::start_with(durable, false, "")
    }

    /// Start a server as [`PostgresServer::start`] does, with `options`
    /// (`-c name=value ...`) added to its command line: the benchmark's
    /// way to load `pg_stat_statements`.
    #[allow(dead_code)]
    pub fn start_with_options(durable: bool, options: &str) -> Self {
        Self::start_with(durable, false, options)
    }

    /// Start a server that accepts TCP clients only over TLS, with a
    /// certificate for 127.0.0.1 issued by a CA of its own; the CA's PEM
    /// file is at [`PostgresServer::ca_file`].
    pub fn start_tls_only() -> Self {
        Self::start_with(false, true, "")
    }

    fn start_with(durable: bool, tls_only: bool, extra: &str) -> Self {
        let durability = if durable {
            "-c fsync=on -c synchronous_commit=on"
        } else {
            "-c fsync=off -c full_page_writes=off"
        };
        let template = template();
        let dir = TempDir::new().unwrap();
        let data = dir.path().join("data");
        run(
            {
                let mut c = Command::new("cp");
                c.arg("-a").arg(&template).arg(&data);
                c
            },
            "copy the template",
        );
        let tls = if tls_only {
            issue_certificates(dir.path());
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostnossl all all 127.0.0.1/32 reject\n",
            )
            .unwrap();
            format!(
                " -c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                dir.path().display()
            )
        } else {
            String::new()
        };
        hand_over(dir.path());
        if tls_only {
            // PostgreSQL refuses a key that others can read.
            std::fs::set_permissions(
                dir.path().join("server.key"),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c max_connections=200 {durability}{tls} {extra}",
            dir.path().display()
        );
        let mut start = command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("server.log"))
            .args(["-o", &options, "-w", "start"]);
        run(start, "pg_ctl start");
        let server = Self { dir, port };
        let mut create = Command::new(bin("createdb"));
        create.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "hookbridge",
        ]);
        run(create, "createdb");
        server
    }

    /// The URL of its `hookbridge` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/hookbridge", self.port)
    }

    /// The PEM file of the CA that issued a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The postmaster's process id (the benchmark sums the CPU time of it
    /// and its children).
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

/// A CA (`ca.crt`) and a server certificate for 127.0.0.1 that it issued
/// (`server.crt`, `server.key`), made in `dir` with the openssl command.
pub fn issue_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let mut command = Command::new("openssl");
        command.current_dir(dir).args(args);
        run(command, "openssl");
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let subject_ca = "/CN=Hookbridge test CA";
    openssl(&[
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", subject_ca,
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let mut stop = command("pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }
}
