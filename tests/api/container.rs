//! The container image, without a Docker daemon: the Dockerfile's runtime
//! stage is read, its setup script run (as root, as the build runs it), and
//! the binary started the way the image starts it: the unprivileged user,
//! the image's environment, the data folder as working directory, and the
//! `healthcheck` subcommand as the HEALTHCHECK.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The instructions of the Dockerfile's last stage, continuation lines
/// joined: (instruction, arguments).
fn runtime_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    lines[last_from..]
        .iter()
        .map(|line| {
            let (instruction, arguments) = line.split_once(' ').unwrap();
            (instruction.to_owned(), arguments.trim().to_owned())
        })
        .collect()
}

/// The `ENV` settings of the runtime stage.
fn image_env(stage: &[(String, String)]) -> HashMap<String, String> {
    stage
        .iter()
        .filter(|(instruction, _)| instruction == "ENV")
        .flat_map(|(_, arguments)| {
            arguments
                .split_whitespace()
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap();
                    (name.to_owned(), value.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn one(stage: &[(String, String)], instruction: &str) -> String {
    let found: Vec<&String> = stage
        .iter()
        .filter(|(i, _)| i == instruction)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(found.len(), 1, "one {instruction} in the runtime stage");
    found[0].clone()
}

#[test]
fn the_runtime_stage_runs_unprivileged_with_roots_a_volume_and_a_healthcheck() {
    let stage = runtime_stage();
    let env = image_env(&stage);
    assert_eq!(one(&stage, "USER"), "hookbridge");
    assert_eq!(one(&stage, "VOLUME"), r#"["/var/lib/hookbridge"]"#);
    assert_eq!(one(&stage, "WORKDIR"), "/var/lib/hookbridge");
    assert_eq!(
        env["HOOKBRIDGE_DATABASE_URL"], "sqlite:///var/lib/hookbridge/hookbridge.db",
        "the database lives in the volume"
    );
    let port = env["HOOKBRIDGE_LISTEN"]
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();
    assert_eq!(
        one(&stage, "EXPOSE"),
        port,
        "the exposed port is the one served"
    );
    assert!(
        one(&stage, "HEALTHCHECK").ends_with(r#"CMD ["hookbridge", "healthcheck"]"#),
        "the health check needs no curl"
    );
    let setup = "/usr/local/lib/hookbridge/container-setup.sh";
    assert!(
        stage.iter().any(|(i, a)| i == "COPY" && a.ends_with(setup))
            && stage.iter().any(|(i, a)| i == "RUN" && a == setup),
        "the runtime stage runs scripts/container-setup.sh"
    );
    let ignored = std::fs::read_to_string(Path::new(ROOT).join(".dockerignore")).unwrap();
    for kept_out in ["target/", ".git/", "**/node_modules/"] {
        assert!(ignored.lines().any(|l| l == kept_out), "{kept_out}");
    }
}

/// `program`, to run as the image's user (as `USER hookbridge` does).
fn as_image_user(program: &Path) -> Command {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "hookbridge"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap()
    };
    let mut command = Command::new(program);
    command.uid(id("-u")).gid(id("-g"));
    command
}

#[test]
fn the_binary_runs_as_the_image_runs_it() {
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(
        as_root,
        "THE CONTAINER TEST RUNS THE IMAGE'S SETUP SCRIPT AS ROOT (it adds a user); \
         run the suite as root (CI does)"
    );
    let folder = tempfile::tempdir().unwrap();
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = folder.path().join("data");
    let setup = Command::new(Path::new(ROOT).join("scripts/container-setup.sh"))
        .env("HOOKBRIDGE_DATA_DIR", &data)
        .status()
        .unwrap();
    assert!(setup.success(), "the image's setup script failed");
    assert!(Path::new("/etc/ssl/certs/ca-certificates.crt").exists());
    let binary = folder.path().join("hookbridge");
    std::fs::copy(env!("CARGO_BIN_EXE_hookbridge"), &binary).unwrap();

    let version = as_image_user(&binary).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(
        version.starts_with(&format!(
            "hookbridge {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{version}"
    );

    let stage = runtime_stage();
    let mut env = image_env(&stage);
    // A free loopback port instead of 0.0.0.0:8080; the data folder as the
    // volume.
    env.insert("HOOKBRIDGE_LISTEN".into(), "127.0.0.1:0".into());
    let database = data.join("hookbridge.db");
    env.insert(
        "HOOKBRIDGE_DATABASE_URL".into(),
        format!("sqlite://{}", database.display()),
    );
    let mut service = as_image_user(&binary)
        .arg("serve")
        .current_dir(&data)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(&env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(service.stdout.take().unwrap());
    let address = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.split("listening on http://").nth(1).map(str::to_owned))
        .expect("the listening line");
    let port = address.rsplit_once(':').unwrap().1.to_owned();

    let healthy = as_image_user(&binary)
        .arg("healthcheck")
        .env("HOOKBRIDGE_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert!(healthy.status.success(), "{healthy:?}");
    let unhealthy = as_image_user(&binary)
        .args(["healthcheck", "--listen", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(unhealthy.status.code(), Some(1), "{unhealthy:?}");

    for file in [database.clone(), data.join("hookbridge.db.key")] {
        let metadata = std::fs::metadata(&file).unwrap();
        assert_eq!(
            metadata.uid(),
            10001,
            "{} is the image user's",
            file.display()
        );
    }
    let key_mode = std::fs::metadata(data.join("hookbridge.db.key"))
        .unwrap()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    let _ = Command::new("kill")
        .args(["-TERM", &service.id().to_string()])
        .status();
    let ended = service.wait_with_output().unwrap();
    assert!(ended.status.success(), "{ended:?}");
    let logs = String::from_utf8_lossy(&ended.stderr);
    let lines: Vec<&str> = logs.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("HOOKBRIDGE_LOG_FORMAT=json wrote a non-JSON line: {line}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{entry}"
        );
    }
}
