//! Finding a database for the local stack when `DATABASE_URL` is unset: a Postgres on 127.0.0.1:5432, else a
//! private cluster started from the machine's own `initdb`/`pg_ctl` under `.local/pg` in the project, which is
//! stopped again when the command that started it exits.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use notify_config::LocalStack;

const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const DATABASE: &str = "notify_dev";

fn pg_bin(name: &str) -> anyhow::Result<PathBuf> {
    if let Ok(path) = which(name) {
        return Ok(path);
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    candidates.sort();
    candidates
        .pop()
        .with_context(|| format!("{name} not found on PATH or under /usr/lib/postgresql/*/bin"))
}

fn which(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not on PATH"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Postgres refuses to run as root: run its tools as the `postgres` user then.
fn pg_command(bin: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

/// The private cluster this process started; stopped when dropped, unless kept.
pub struct PrivateServer {
    pub data: PathBuf,
    pub port: u16,
    keep: bool,
}

impl PrivateServer {
    /// Leave it running when this process exits (`notify dev --keep-db`).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    pub fn stop_command(&self) -> String {
        format!("pg_ctl -D {} stop", self.data.display())
    }

    fn stop(&self) -> anyhow::Result<()> {
        // A Ctrl-C in the terminal may have reached the server too and shut it down already.
        if !self.data.join("postmaster.pid").exists() {
            return Ok(());
        }
        let ok = pg_command(&pg_bin("pg_ctl")?)
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status()?
            .success();
        if !ok && self.data.join("postmaster.pid").exists() {
            bail!("pg_ctl could not stop Postgres in {}", self.data.display());
        }
        Ok(())
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        match self.stop() {
            Ok(()) => eprintln!(
                "stopped the private Postgres on 127.0.0.1:{} ({})",
                self.port,
                self.data.display()
            ),
            Err(e) => eprintln!("error: {e:#}; stop it with `{}`", self.stop_command()),
        }
    }
}

pub struct LocalDatabase {
    pub url: String,
    /// Set when this process started the server.
    pub started: Option<PrivateServer>,
}

/// Starts the project's private cluster unless it already answers (then it is someone else's to stop).
async fn start_private(local: &LocalStack) -> anyhow::Result<(String, Option<PrivateServer>)> {
    let project_dir = match &local.project_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let data = project_dir.join(".local/pg");
    let port = local.private_postgres_port;
    let url = format!("postgres://postgres@127.0.0.1:{port}");
    if notify_db::answers(&format!("{url}/postgres")).await {
        return Ok((url, None));
    }
    std::fs::create_dir_all(&data)?;
    if is_root() {
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&data)
            .status()?;
    }
    if !data.join("PG_VERSION").exists() {
        let ok = pg_command(&pg_bin("initdb")?)
            .args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(&data)
            .stdout(std::process::Stdio::null())
            .status()?
            .success();
        if !ok {
            bail!("initdb failed for {}", data.display());
        }
    }
    let ok = pg_command(&pg_bin("pg_ctl")?)
        .arg("-D")
        .arg(&data)
        .args(["-l"])
        .arg(data.join("server.log"))
        .args([
            "-o",
            &format!("-p {port} -k /tmp -c listen_addresses=127.0.0.1"),
            "-w",
            "start",
        ])
        .stdout(std::process::Stdio::null())
        .status()?
        .success();
    if !ok {
        bail!(
            "pg_ctl could not start Postgres in {} (see server.log there)",
            data.display()
        );
    }
    Ok((
        url,
        Some(PrivateServer {
            data,
            port,
            keep: false,
        }),
    ))
}

/// The database to use when `DATABASE_URL` is unset, creating the `notify_dev` database on the server it picked.
/// Only `may_start` lets it start the private cluster; otherwise it uses one already running.
pub async fn resolve(local: &LocalStack, may_start: bool) -> anyhow::Result<LocalDatabase> {
    let private = format!(
        "postgres://postgres@127.0.0.1:{}",
        local.private_postgres_port
    );
    let (server, started) = if !local.private_postgres_only
        && notify_db::answers(&format!("{LOCAL_SERVER}/postgres")).await
    {
        (LOCAL_SERVER.to_string(), None)
    } else if may_start {
        start_private(local).await?
    } else if notify_db::answers(&format!("{private}/postgres")).await {
        (private, None)
    } else {
        bail!(
            "no DATABASE_URL and no Postgres on 127.0.0.1:5432 or {}: run `notify dev` or set DATABASE_URL",
            local.private_postgres_port
        );
    };
    notify_db::ensure_database(&format!("{server}/postgres"), DATABASE).await?;
    Ok(LocalDatabase {
        url: format!("{server}/{DATABASE}"),
        started,
    })
}
