//! `notify dev` with no Postgres to use starts the project's own under `.local/pg` and stops it again when it
//! exits, unless `--keep-db`. Each test has its own project directory and ports, and never uses the server on 5432.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A project directory the `postgres` user can reach (when the tests run as root, Postgres runs as it).
fn project_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("notify-dev-db-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

async fn answers(port: u16) -> bool {
    notify_db::answers(&format!("postgres://postgres@127.0.0.1:{port}/postgres")).await
}

/// Stops whatever a failed test left behind: the `notify dev` process, the private server, the directory.
struct Cleanup {
    project: PathBuf,
    child: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
        let data = self.project.join(".local/pg");
        if data.join("postmaster.pid").exists() {
            let _ = pg_ctl(&data, &["-m", "immediate", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.project);
    }
}

fn pg_ctl(data: &Path, args: &[&str]) -> std::io::Result<std::process::ExitStatus> {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_ctl"))
        .find(|p| p.exists())
        .unwrap_or_else(|| "pg_ctl".into());
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut command = if root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        std::process::Command::new(bin)
    };
    command
        .arg("-D")
        .arg(data)
        .args(args)
        .stdout(Stdio::null())
        .status()
}

/// Starts `notify dev` and waits until it says it is running; returns the summary it printed.
async fn start_dev(cleanup: &mut Cleanup, db_port: u16, extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_notify"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("NOTIFY_DEV_POSTGRES", "private")
        .env("NOTIFY_DEV_POSTGRES_PORT", db_port.to_string())
        .env("NOTIFY_PROJECT_DIR", &cleanup.project)
        .args(["dev", "--no-demo", "--port", &free_port().to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let running = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
            // The last line before the settings, which its summary is printed ahead of.
            if line.contains("settings other than the defaults:") {
                return true;
            }
        }
        false
    })
    .await;
    if running != Ok(true) {
        let mut stderr = String::new();
        let _ = child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await;
        panic!("notify dev did not start: {printed}\n{stderr}");
    }
    // Keep draining stdout so that the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    cleanup.child = Some(child);
    printed
}

/// Sends `signal` to `notify dev` and waits for it to exit; returns its stderr.
async fn stop_dev(cleanup: &mut Cleanup, signal: &str) -> String {
    let mut child = cleanup.child.take().unwrap();
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("notify dev exits on the signal")
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    stderr
}

#[tokio::test]
async fn the_private_postgres_stops_when_notify_dev_is_terminated_or_interrupted() {
    let db_port = free_port();
    let mut cleanup = Cleanup {
        project: project_dir(),
        child: None,
    };
    // SIGTERM, then Ctrl-C's SIGINT on the second start (the cluster is already initialised then).
    for signal in ["-TERM", "-INT"] {
        let printed = start_dev(&mut cleanup, db_port, &[]).await;
        assert!(
            printed.contains("stopped when notify dev exits; --keep-db leaves it running"),
            "{printed}"
        );
        assert!(answers(db_port).await);

        let stderr = stop_dev(&mut cleanup, signal).await;
        assert!(stderr.contains("stopped the private Postgres"), "{stderr}");
        assert!(!answers(db_port).await, "{signal}");
        assert!(!cleanup.project.join(".local/pg/postmaster.pid").exists());
    }
}

#[tokio::test]
async fn keep_db_leaves_it_running_and_a_later_run_leaves_it_alone() {
    let db_port = free_port();
    let mut cleanup = Cleanup {
        project: project_dir(),
        child: None,
    };
    let printed = start_dev(&mut cleanup, db_port, &["--keep-db", "--no-workers"]).await;
    assert!(
        printed.contains("left running on exit (--keep-db)"),
        "{printed}"
    );
    let stderr = stop_dev(&mut cleanup, "-INT").await;
    assert!(!stderr.contains("stopped the private Postgres"), "{stderr}");
    assert!(answers(db_port).await);

    // Started by someone else this time: not this run's to stop.
    let printed = start_dev(&mut cleanup, db_port, &["--no-workers"]).await;
    assert!(!printed.contains("private Postgres started"), "{printed}");
    stop_dev(&mut cleanup, "-INT").await;
    assert!(answers(db_port).await);

    let data = cleanup.project.join(".local/pg");
    assert!(
        pg_ctl(&data, &["-m", "fast", "-w", "stop"])
            .unwrap()
            .success()
    );
    assert!(!answers(db_port).await);
}
