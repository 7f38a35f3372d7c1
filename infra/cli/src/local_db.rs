//! Finding a database for the local stack: `DATABASE_URL`, else a Postgres on 127.0.0.1:5432, else a private
//! cluster started from the machine's own `initdb`/`pg_ctl` under `.local/pg` in the project.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const PRIVATE_PORT: u16 = 55432;
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

async fn start_private(project_dir: &Path) -> anyhow::Result<String> {
    let data = project_dir.join(".local/pg");
    let url = format!("postgres://postgres@127.0.0.1:{PRIVATE_PORT}");
    if notify::db::answers(&format!("{url}/postgres")).await {
        return Ok(url);
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
            &format!("-p {PRIVATE_PORT} -k /tmp -c listen_addresses=127.0.0.1"),
            "-w",
            "start",
        ])
        .status()?
        .success();
    if !ok {
        bail!(
            "pg_ctl could not start Postgres in {} (see server.log there)",
            data.display()
        );
    }
    Ok(url)
}

/// The database URL to use, creating the `notify_dev` database when it picked a server itself.
pub async fn resolve(project_dir: &Path, may_start: bool) -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        return Ok(url);
    }
    // NOTIFY_DEV_POSTGRES=private keeps the local stack off a machine-wide server.
    let private_only = std::env::var("NOTIFY_DEV_POSTGRES").is_ok_and(|v| v == "private");
    let server = if !private_only && notify::db::answers(&format!("{LOCAL_SERVER}/postgres")).await
    {
        LOCAL_SERVER.to_string()
    } else if may_start {
        start_private(project_dir).await?
    } else {
        bail!(
            "no DATABASE_URL and no Postgres on 127.0.0.1:5432: run `notify dev` or set DATABASE_URL"
        );
    };
    notify::db::ensure_database(&format!("{server}/postgres"), DATABASE).await?;
    Ok(format!("{server}/{DATABASE}"))
}
