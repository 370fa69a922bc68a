//! E-mail by SMTP (lettre): a small reusable [`Mailer`] built from `FRONTDESK_SMTP_URL`
//! (`smtp://[user:password@]host[:port]`, plain SMTP for a local relay or a private network)
//! and `FRONTDESK_SMTP_FROM`; the outbox sends its `email` rows through it. Replies
//! to these e-mails are not read; every notice says so.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Sends e-mail through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Why an e-mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message itself is wrong (an address that does not parse): retrying cannot help.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The server refused or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(String),
}

impl Mailer {
    /// A mailer for `smtp://[user:password@]host[:port]` (port 25 by default), sending as
    /// `from` ("Name <address>" or an address).
    pub fn new(url: &str, from: &str) -> anyhow::Result<Mailer> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| anyhow::anyhow!("FRONTDESK_SMTP_URL must start with smtp://"))?
            .trim_end_matches('/');
        let (auth, host_port) = match rest.rsplit_once('@') {
            Some((auth, hp)) => (Some(auth), hp),
            None => (None, rest),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| anyhow::anyhow!("FRONTDESK_SMTP_URL has an invalid port"))?,
            ),
            None => (host_port, 25),
        };
        if host.is_empty() {
            anyhow::bail!("FRONTDESK_SMTP_URL needs a host");
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(15)));
        if let Some(auth) = auth {
            let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
            builder = builder.credentials(Credentials::new(user.into(), password.into()));
        }
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("FRONTDESK_SMTP_FROM is not an address: {e}"))?;
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// Send a plain-text e-mail.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Invalid(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| MailError::Invalid(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Smtp(e.to_string()))
    }
}
