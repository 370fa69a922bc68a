//! A loopback SMTP server for tests: speaks enough of RFC 5321 for a client to deliver
//! (greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT),
//! refuses commands out of order, and records every accepted message.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message: the envelope and the raw content (headers and body).
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// A header's value (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = found.as_mut() {
                if line.starts_with(' ') || line.starts_with('\t') {
                    v.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) {
                    found = Some(v.trim().to_string());
                }
            }
        }
        found
    }

    /// The body after the headers (quoted-printable soft breaks and `=XX` decoded).
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let qp = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return body.to_string();
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<Mail>>,
    notify: tokio::sync::Notify,
}

pub struct FakeSmtp {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSmtp {
    pub async fn start() -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake SMTP server");
        let addr = listener.local_addr().expect("smtp addr");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = session(stream, s).await;
                });
            }
        });
        FakeSmtp { addr, shared, task }
    }

    /// What to set as `FRONTDESK_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.shared
            .mails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Wait (bounded) until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.shared.notify.notified();
            let got = self.mails();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.mails();
            }
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 fake.smtp.test ESMTP ready\r\n")
        .await?;
    let mut greeted = false;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end_matches(['\r', '\n']);
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO ") {
            greeted = true;
            b"250-fake.smtp.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO ") {
            greeted = true;
            b"250 fake.smtp.test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            if greeted {
                from = Some(address(&cmd[10..]));
                to.clear();
                b"250 OK\r\n"
            } else {
                b"503 Say hello first\r\n"
            }
        } else if upper.starts_with("RCPT TO:") {
            if from.is_some() {
                to.push(address(&cmd[8..]));
                b"250 OK\r\n"
            } else {
                b"503 Need MAIL first\r\n"
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                b"503 Need RCPT first\r\n"
            } else {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let l = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(l);
                }
                shared
                    .mails
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Mail {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data,
                    });
                shared.notify.notify_waiters();
                b"250 OK queued\r\n"
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            b"250 OK\r\n"
        } else if upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// `<a@b>` (with optional parameters after it) → `a@b`.
fn address(raw: &str) -> String {
    let raw = raw.trim();
    match (raw.find('<'), raw.find('>')) {
        (Some(a), Some(b)) if a < b => raw[a + 1..b].to_string(),
        _ => raw
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}
