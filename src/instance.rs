//! A `frontdesk serve` child process, for the harnesses that measure or break a real server
//! (`bench load --spawn`, the soak): started with its settings in the environment on a free
//! loopback port, waited for on `/healthz` (bounded), killed when dropped. On Linux it can
//! say how much memory and CPU time the server used.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// One running server.
pub struct Instance {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A memory figure of a process (`pid`, or `self`) from `/proc/<pid>/status` in bytes, such
/// as `VmHWM` (peak resident) or `VmRSS` (resident now); Linux only.
pub fn memory_bytes(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Instance {
    /// Start `binary serve <args>` listening on `port` with `env` (on top of this process's
    /// environment), its standard error appended to `log`; ready once `/healthz` answers
    /// (at most 60 s).
    pub async fn start(
        binary: &Path,
        port: u16,
        args: &[&str],
        env: &[(&str, String)],
        log: &Path,
    ) -> anyhow::Result<Instance> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .args(args)
            .env("FRONTDESK_BIND", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let mut instance = Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", instance.base)).send().await {
                if r.status().is_success() {
                    return Ok(instance);
                }
            }
            if let Some(status) = instance.child.try_wait()? {
                anyhow::bail!("an instance exited at start ({status})");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "an instance did not come up in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Peak resident memory so far in bytes (`VmHWM`; Linux only).
    pub fn peak_rss(&self) -> Option<u64> {
        memory_bytes(&self.child.id().to_string(), "VmHWM")
    }

    /// CPU time used so far, user and system (Linux only; `/proc` counts in 1/100 s).
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The command name may hold spaces: fields are counted after its closing parenthesis.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 10))
    }

    /// Stop the server (SIGKILL) and wait for it.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }
}
