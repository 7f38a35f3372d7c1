//! A headless chromium for the tests that look at pages as a recipient does: Debian's `chromium` driven through
//! its `chromedriver` on 127.0.0.1 (the test command installs both). Plain http to the driver, so no TLS stack.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The chromedriver child process and one headless chromium session on it.
pub struct Browser {
    driver: Child,
    client: Option<Client>,
    /// The profile and the downloads, removed with the Browser.
    _dir: tempfile::TempDir,
    downloads: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Browser {
    /// Starts /usr/bin/chromedriver on a free 127.0.0.1 port and one headless chromium session
    /// (--headless=new --no-sandbox --disable-gpu --window-size=1200,1600, a fresh temp profile;
    /// downloads allowed into `download_dir()`). Panics with a clear message when chromium or chromedriver is
    /// missing (the test command installs them).
    pub async fn start() -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).is_file(),
                "{binary} is missing: install Debian's chromium and chromium-driver \
                 (infra/scripts/test does: apt-get install chromium chromium-driver)"
            );
        }
        let dir = tempfile::tempdir().expect("a temp dir for the browser");
        let profile = dir.path().join("profile");
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("the downloads dir");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} did not start: {e}"));
        let mut browser = Browser {
            driver,
            client: None,
            _dir: dir,
            downloads,
        };
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1200,1600",
                    "--hide-scrollbars",
                    "--no-first-run",
                    "--no-default-browser-check",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": browser.downloads.display().to_string(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                },
            },
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    if let Ok(Some(status)) = browser.driver.try_wait() {
                        panic!("{CHROMEDRIVER} exited ({status}) before a session started: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no chromium session through {CHROMEDRIVER} at {url}: {e}"),
            }
        };
        // Downloads in headless chromium go where the session says (the prefs alone are not always taken).
        let _ = client
            .issue_cmd(SetDownloadBehaviour(browser.downloads.clone()))
            .await;
        browser.client = Some(client);
        browser
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("a session until close")
    }

    /// The directory chromium saves downloads into (a temp dir owned by this Browser).
    pub fn download_dir(&self) -> &Path {
        &self.downloads
    }

    /// The visible part of the page as a PNG.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        self.client()
            .screenshot()
            .await
            .expect("a screenshot from chromium")
    }

    /// Ends the session and kills chromedriver (Drop kills it too).
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's own command to allow downloads into a directory (`Page.setDownloadBehavior` for the session).
#[derive(Debug)]
struct SetDownloadBehaviour(PathBuf);

impl fantoccini::wd::WebDriverCompatibleCommand for SetDownloadBehaviour {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/chromium/send_command",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "cmd": "Page.setDownloadBehavior",
            "params": {"behavior": "allow", "downloadPath": self.0.display().to_string()},
        });
        (http::Method::POST, Some(body.to_string()))
    }
}
