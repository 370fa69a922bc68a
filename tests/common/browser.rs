//! A tiny W3C WebDriver client over reqwest, for the console's browser tests. One
//! `chromedriver` per test binary (started on first use on a free loopback port, and ended
//! by its shell guard when the test process exits); one headless Chromium session per test.
//! Waits poll a DOM condition until a deadline; nothing sleeps a fixed time to synchronise.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    port: u16,
    _guard: Child,
}

static DRIVER: Mutex<Option<Driver>> = Mutex::new(None);

/// Whether this machine can run browser tests (CI installs them in `.ci/run`).
pub fn available() -> bool {
    Command::new("chromedriver")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn driver_port() -> u16 {
    let mut slot = DRIVER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(d) = slot.as_ref() {
        return d.port;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // The shell keeps chromedriver for as long as its stdin (held by this process) is open:
    // when the test binary exits, `read` returns and chromedriver is ended.
    let guard = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "chromedriver --port={port} --allowed-ips=127.0.0.1 >/dev/null 2>&1 & pid=$!; read _ignored; kill $pid"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver (apt-get install chromium chromium-driver)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    *slot = Some(Driver {
        port,
        _guard: guard,
    });
    port
}

/// One browser session.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    pub default_wait: Duration,
    profile: std::path::PathBuf,
}

#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    pub async fn start() -> Browser {
        let port = driver_port();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let profile = std::env::temp_dir().join(format!(
            "fd-chrome-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.display()),
            ]
        });
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options,
        } } });
        let res: Value = http
            .post(format!("http://127.0.0.1:{port}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let id = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {res}"))
            .to_string();
        Browser {
            http,
            base: format!("http://127.0.0.1:{port}/session/{id}"),
            default_wait: Duration::from_secs(10),
            profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res: Value = req
            .send()
            .await
            .expect("webdriver request")
            .json()
            .await
            .expect("webdriver json");
        if let Some(err) = res["value"].get("error") {
            panic!("webdriver {path}: {err} {}", res["value"]["message"]);
        }
        res["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn find(&self, css: &str) -> Element {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        Element(
            v[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("no element {css}: {v}"))
                .to_string(),
        )
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", e.0),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{}/text", e.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Run a script in the page (its body, with `arguments`), returning its value.
    pub async fn script(&self, body: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": body, "args": args })),
        )
        .await
    }

    /// Poll a script returning a truthy value until it does, or fail after `within`.
    pub async fn wait_until(&self, what: &str, body: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.script(body, json!([])).await;
            let ok = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if ok {
                return v;
            }
            if Instant::now() >= deadline {
                let url = self.script("return location.href", json!([])).await;
                let main = self
                    .script(
                        "var m = document.querySelector('main'); return m ? m.innerText : document.body.innerText",
                        json!([]),
                    )
                    .await;
                panic!("waited {within:?} for {what} on {url}; the page shows:\n{main}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for an element matching `css` whose text contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) {
        let script = format!(
            "return Array.from(document.querySelectorAll({css})).some(e => e.textContent.includes({needle}))",
            css = json!(css),
            needle = json!(needle)
        );
        self.wait_until(
            &format!("{css} containing {needle:?}"),
            &script,
            self.default_wait,
        )
        .await;
    }

    /// Navigate and wait until the page's script is running (and its live stream is open
    /// when the page has live regions).
    pub async fn open(&self, url: &str) {
        self.goto(url).await;
        self.wait_until(
            "the page to be ready",
            "return document.readyState === 'complete' && \
             (document.querySelectorAll('[data-live][id]').length === 0 || document.body.getAttribute('data-live') === 'on')",
            self.default_wait,
        )
        .await;
    }

    /// Resize the window (a phone's size for mobile pages).
    pub async fn set_size(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64"))
            .expect("png");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        let mut f = std::fs::File::create(path).expect("screenshot file");
        f.write_all(&png).expect("write screenshot");
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where screenshots go: `<target dir>/console-screens/`.
pub fn screens_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("console-screens")
}
