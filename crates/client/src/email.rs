//! E-mail over SMTP with lettre: STARTTLS when the server offers it (and
//! required before a password goes to another machine), TLS from the start
//! for `smtps://`. The password is read from the environment at send time.
//! Unless private targets are allowed, the server's name must resolve to a
//! public address, and the connection goes to that address (a name may
//! resolve to an internal one after the channel was added).
use crate::webhook::Attempt;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// One alert e-mail.
pub struct Mail<'a> {
    pub to: &'a str,
    pub from: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    /// The delivery's id: the Message-ID is made of it, so that a mail
    /// client shows a delivery retried after a lost answer once.
    pub delivery: i64,
    pub org: &'a str,
}

/// Sends `mail` through `smtp` (`smtp://HOST:PORT` or `smtps://HOST:PORT`),
/// logging in as `login`'s user with the password in its environment variable.
pub async fn send(smtp: &str, login: Option<(&str, &str)>, mail: &Mail<'_>, allow_private: bool) -> Attempt {
    match try_send(smtp, login, mail, allow_private).await {
        Ok(code) => Attempt::Status(code),
        Err(why) => Attempt::Failed(why),
    }
}

async fn try_send(smtp: &str, login: Option<(&str, &str)>, mail: &Mail<'_>, allow_private: bool) -> Result<u16, String> {
    let (implicit_tls, rest) = match smtp.split_once("://") {
        Some(("smtps", rest)) => (true, rest),
        Some(("smtp", rest)) => (false, rest),
        _ => return Err(format!("{smtp:?} is not an smtp:// or smtps:// URL")),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h.trim_matches(|c| c == '[' || c == ']'), p.parse::<u16>().map_err(|_| format!("{smtp:?} has no port"))?),
        None => return Err(format!("{smtp:?} has no port")),
    };
    let addrs: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((host, port)).await.map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
    let addr = addrs.iter().find(|a| allow_private || argus_domain::net::refused_target(a.ip()).is_none()).ok_or_else(|| {
        format!(
            "refused: {host} resolves only to internal addresses, which may not be targeted unless serve runs with --allow-private-targets"
        )
    })?;
    let credentials = match login {
        Some((user, var)) => match std::env::var(var) {
            Ok(p) if !p.is_empty() => Some(Credentials::new(user.to_string(), p)),
            _ => {
                return Err(format!(
                    "the SMTP password is not set: put it in the environment variable {var} of the process that sends alerts"
                ))
            }
        },
        None => None,
    };
    let params = TlsParameters::new(host.to_string()).map_err(|e| format!("TLS: {e}"))?;
    let tls = if implicit_tls {
        Tls::Wrapper(params)
    } else if credentials.is_some() && !addr.ip().is_loopback() {
        Tls::Required(params) // never a password in the clear across a network
    } else {
        Tls::Opportunistic(params)
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(20)));
    if let Some(c) = credentials {
        b = b.credentials(c);
    }
    let transport = b.build();
    let message = Message::builder()
        .from(mail.from.parse().map_err(|e| format!("the sender {:?} is not an address: {e}", mail.from))?)
        .to(mail.to.parse().map_err(|e| format!("the recipient {:?} is not an address: {e}", mail.to))?)
        .subject(mail.subject)
        .message_id(Some(format!("<alert-{}.{}@argus-usage>", mail.delivery, mail.org)))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.to_string())
        .map_err(|e| format!("cannot build the e-mail: {e}"))?;
    match transport.send(message).await {
        Ok(r) => Ok(code_number(&r.code().to_string())),
        Err(e) => Err(match e.status() {
            Some(code) => format!("the SMTP server refused: {code}"),
            None if e.is_timeout() => "timeout".into(),
            None => format!("SMTP failed: {e}"),
        }),
    }
}

fn code_number(s: &str) -> u16 {
    s.get(..3).and_then(|c| c.parse().ok()).unwrap_or(250)
}
