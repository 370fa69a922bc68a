//! Voice test helpers: speech clips made at test time (espeak-ng, then sox for the phone's
//! 8 kHz µ-law), a loopback fake of Twilio (recordings, Messages, Calls), and a signed Media
//! Streams WebSocket client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

/// The sentences the voice tests and `frontdesk voice bench` speak.
pub const SENTENCES: &str = include_str!("../data/voice/sentences.txt");

/// One spoken sentence: a µ-law WAV as a phone recording would be, and the raw µ-law bytes a
/// Media Stream carries.
pub struct Speech {
    pub wav_mulaw: Vec<u8>,
    pub raw_mulaw: Vec<u8>,
}

fn run(cmd: &mut Command) {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{shown}: {e} (install espeak-ng and sox)"));
    assert!(
        out.status.success(),
        "{shown}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Speak `text` with espeak-ng and take it through 8 kHz µ-law with sox.
pub fn speak(text: &str, dir: &Path) -> Speech {
    let raw = dir.join("speech.wav");
    let wav = dir.join("phone.wav");
    let ulaw = dir.join("phone.ul");
    run(Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&raw)
        .arg(text));
    run(Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-e", "mu-law"])
        .arg(&wav));
    run(Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-e", "mu-law", "-t", "raw"])
        .arg(&ulaw));
    Speech {
        wav_mulaw: std::fs::read(&wav).expect("wav"),
        raw_mulaw: std::fs::read(&ulaw).expect("raw"),
    }
}

/// The whisper model the voice tests use: `FRONTDESK_WHISPER_MODEL`, else the fetched one.
pub fn model_path() -> PathBuf {
    let path = std::env::var("FRONTDESK_WHISPER_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ggml-tiny.en.bin"));
    assert!(
        path.is_file(),
        "no whisper model at {} (run `cargo run -- voice fetch-model`)",
        path.display()
    );
    path
}

/// A request the fake Twilio received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub form: Vec<(String, String)>,
    pub at: Instant,
}

impl Received {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Fake {
    recording: Arc<Mutex<Vec<u8>>>,
    received: Arc<Mutex<Vec<Received>>>,
    downloads: Arc<Mutex<Vec<Download>>>,
}

/// A recording download: the path and the `Authorization` header it carried.
pub type Download = (String, Option<String>);

/// Loopback stand-in for api.twilio.com and its recording URLs.
pub struct FakeTwilio {
    pub addr: SocketAddr,
    fake: Fake,
}

impl FakeTwilio {
    pub async fn spawn() -> FakeTwilio {
        let fake = Fake::default();
        let app = Router::new()
            .route("/recordings/{name}", get(recording))
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(message))
            .route("/2010-04-01/Accounts/{sid}/Calls/{call}", post(call))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTwilio { addr, fake }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serve `bytes` at `/recordings/<anything>`.
    pub fn set_recording(&self, bytes: Vec<u8>) {
        *self.fake.recording.lock().expect("lock") = bytes;
    }

    /// Recording downloads so far: path and `Authorization` header.
    pub fn requested(&self) -> Vec<Download> {
        self.fake.downloads.lock().expect("lock").clone()
    }

    pub fn received(&self) -> Vec<Received> {
        self.fake.received.lock().expect("lock").clone()
    }

    /// Wait until a request whose path contains `needle` has arrived.
    pub async fn wait_for(&self, needle: &str, within: Duration) -> Received {
        let started = Instant::now();
        loop {
            if let Some(r) = self
                .received()
                .into_iter()
                .find(|r| r.path.contains(needle))
            {
                return r;
            }
            assert!(
                started.elapsed() < within,
                "no request to {needle} within {within:?}; got {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn recording(
    State(fake): State<Fake>,
    UrlPath(name): UrlPath<String>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    fake.downloads
        .lock()
        .expect("lock")
        .push((format!("/recordings/{name}"), auth));
    let bytes = fake.recording.lock().expect("lock").clone();
    if bytes.is_empty() {
        return (StatusCode::NOT_FOUND, Vec::new());
    }
    (StatusCode::OK, bytes)
}

fn record(fake: &Fake, path: String, body: &[u8]) {
    let form = url_decode_form(body);
    fake.received.lock().expect("lock").push(Received {
        path,
        form,
        at: Instant::now(),
    });
}

async fn message(
    State(fake): State<Fake>,
    UrlPath(sid): UrlPath<String>,
    body: Bytes,
) -> impl IntoResponse {
    record(
        &fake,
        format!("/2010-04-01/Accounts/{sid}/Messages.json"),
        &body,
    );
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        r#"{"sid":"SM00000000000000000000000000000001","status":"queued"}"#,
    )
}

async fn call(
    State(fake): State<Fake>,
    UrlPath((sid, call)): UrlPath<(String, String)>,
    body: Bytes,
) -> impl IntoResponse {
    record(
        &fake,
        format!("/2010-04-01/Accounts/{sid}/Calls/{call}"),
        &body,
    );
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        r#"{"status":"in-progress"}"#,
    )
}

fn url_decode_form(body: &[u8]) -> Vec<(String, String)> {
    frontdesk::channels::twilio::form::decode(body).expect("form body")
}

/// A fresh scratch folder for generated audio.
pub fn scratch_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "frontdesk-voice-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A Media Streams client playing Twilio's part over a real WebSocket.
pub struct StreamClient {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    stream_sid: String,
    chunk: u64,
}

/// µ-law silence.
pub const MULAW_SILENCE: u8 = 0xff;

impl StreamClient {
    /// Open the fixed `/twilio/voice/stream` on `addr`, signing the handshake with `token`
    /// over the public `wss://` URL. Err carries the HTTP status when the server refuses.
    pub async fn connect(addr: SocketAddr, token: &str) -> Result<StreamClient, u16> {
        Self::connect_path(addr, token, "/twilio/voice/stream").await
    }

    /// Open the stream URL of a stream token (`/twilio/voice/stream/<stream_token>`).
    pub async fn connect_with(
        addr: SocketAddr,
        token: &str,
        stream_token: &str,
    ) -> Result<StreamClient, u16> {
        Self::connect_path(addr, token, &format!("/twilio/voice/stream/{stream_token}")).await
    }

    async fn connect_path(addr: SocketAddr, token: &str, path: &str) -> Result<StreamClient, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let public = format!(
            "{}{path}",
            super::app::PUBLIC_URL.replacen("https://", "wss://", 1)
        );
        let signature =
            frontdesk::channels::twilio::signature::sign::<&str, &str>(token, &public, &[]);
        let mut req = format!("ws://{addr}{path}")
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            frontdesk::channels::twilio::signature::HEADER,
            signature.parse().expect("header"),
        );
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(StreamClient {
                ws,
                stream_sid: "MZ00000000000000000000000000000001".into(),
                chunk: 0,
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("websocket: {e}"),
        }
    }

    /// Send one text message as is.
    pub async fn send_text(&mut self, text: String) {
        use futures_util::SinkExt;
        // The server may close as soon as it reads an oversized message.
        let _ = self
            .ws
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await;
    }

    /// Whether the server closes the socket (a close frame, an error or the end of the
    /// stream) within `within`; anything else it sends is skipped.
    pub async fn closed_by_server(&mut self, within: Duration) -> bool {
        use futures_util::StreamExt;
        let wait = async {
            loop {
                match self.ws.next().await {
                    None | Some(Err(_)) => return,
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => return,
                    Some(Ok(_)) => continue,
                }
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    pub async fn send(&mut self, v: serde_json::Value) {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// `connected` then `start` for a call from `from` to `to`, turn `n`.
    pub async fn start(&mut self, call_sid: &str, from: &str, to: &str, n: u32) {
        self.send(serde_json::json!({"event":"connected","protocol":"Call","version":"1.0.0"}))
            .await;
        let sid = self.stream_sid.clone();
        self.send(serde_json::json!({
            "event": "start", "sequenceNumber": "1", "streamSid": sid,
            "start": {
                "streamSid": sid, "accountSid": super::app::TWILIO_ACCOUNT_SID, "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": {"From": from, "To": to, "n": n.to_string()},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
            }
        }))
        .await;
    }

    /// Play µ-law audio in 20 ms frames, `speed` times real time.
    pub async fn play(&mut self, mulaw: &[u8], speed: f64) {
        use base64::Engine as _;
        let period = Duration::from_secs_f64(0.020 / speed);
        let mut tick = tokio::time::interval(period);
        for frame in mulaw.chunks(160) {
            tick.tick().await;
            self.chunk += 1;
            let sid = self.stream_sid.clone();
            let payload = base64::engine::general_purpose::STANDARD.encode(frame);
            let chunk = self.chunk;
            self.send(serde_json::json!({
                "event": "media", "sequenceNumber": (chunk + 1).to_string(), "streamSid": sid,
                "media": {"track": "inbound", "chunk": chunk.to_string(),
                          "timestamp": (chunk * 20).to_string(), "payload": payload}
            }))
            .await;
        }
    }

    pub async fn dtmf(&mut self, digit: &str) {
        let sid = self.stream_sid.clone();
        self.send(
            serde_json::json!({"event":"dtmf","streamSid": sid, "sequenceNumber":"99",
            "dtmf": {"track":"inbound_track","digit": digit}}),
        )
        .await;
    }

    pub async fn stop(mut self, call_sid: &str) {
        let sid = self.stream_sid.clone();
        self.send(
            serde_json::json!({"event":"stop","streamSid": sid, "sequenceNumber":"100",
            "stop": {"accountSid": super::app::TWILIO_ACCOUNT_SID, "callSid": call_sid}}),
        )
        .await;
        let _ = self.ws.close(None).await;
    }
}
