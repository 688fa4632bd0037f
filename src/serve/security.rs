//! Who may read the page.
//!
//! * The `Host` header must name the address served: `127.0.0.1:PORT`,
//!   `localhost:PORT` or `[::1]:PORT` on a loopback address (a page of
//!   another site that rebinds its DNS name to 127.0.0.1 sends its own
//!   name, and gets 403), or `ADDR:PORT` on another address. On an
//!   unspecified address (`0.0.0.0`, `::`) any name is accepted, but…
//! * …on any address other than loopback every request needs the token
//!   printed at start-up: `?token=T` once (the answer sets a cookie for the
//!   page's later requests), the cookie, or `Authorization: Bearer T`.
//! * Nothing changes state: only GET and HEAD are answered (405 otherwise).

use std::net::SocketAddr;

use std::fmt::Write as _;

use rand::Rng as _;

pub(crate) struct Security {
    addr: SocketAddr,
    hosts: Vec<String>,
    token: String,
    /// Whether reading needs the token (not a loopback address).
    token_needed: bool,
}

/// The name of the cookie that carries the token.
pub(crate) const COOKIE: &str = "cool_runner_token";

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 403: the `Host` header is not the address served.
    Host(String),
    /// 401: the token is missing or wrong.
    Token,
}

impl Security {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        let port = addr.port();
        let loopback = addr.ip().is_loopback();
        let hosts = if loopback {
            vec![
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ]
        } else {
            vec![addr.to_string()]
        };
        let bytes: [u8; 16] = rand::thread_rng().gen();
        let token = bytes.iter().fold(String::new(), |mut t, b| {
            let _ = write!(t, "{b:02x}");
            t
        });
        Self {
            addr,
            hosts,
            token,
            token_needed: !loopback,
        }
    }

    /// The URL printed at start-up (with the token when one is needed).
    pub(crate) fn url(&self) -> String {
        let host = if self.addr.ip().is_loopback() {
            self.hosts[0].clone()
        } else {
            self.addr.to_string()
        };
        if self.token_needed {
            format!("http://{host}/?token={}", self.token)
        } else {
            format!("http://{host}/")
        }
    }

    pub(crate) fn note(&self) -> Option<String> {
        self.token_needed.then(|| {
            format!(
                "note: listening on {}, not a loopback address: every request needs the token \
                 (in the URL above once, then a cookie; or `Authorization: Bearer {}`)",
                self.addr, self.token
            )
        })
    }

    /// Check a request's `Host` and token; `Ok(true)` when the token came
    /// in the URL (the answer then sets the cookie).
    pub(crate) fn check(
        &self,
        host: Option<&str>,
        query_token: Option<&str>,
        cookie: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<bool, Refusal> {
        let host = host.unwrap_or("");
        let any_host = self.addr.ip().is_unspecified();
        if !any_host && !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(Refusal::Host(host.to_owned()));
        }
        if !self.token_needed {
            return Ok(false);
        }
        let cookie_token = cookie.and_then(|c| {
            c.split(';').find_map(|part| {
                let (name, value) = part.trim().split_once('=')?;
                (name == COOKIE).then_some(value)
            })
        });
        let good = |t: Option<&str>| t.is_some_and(|t| constant_time_eq(t, &self.token));
        if good(query_token) {
            return Ok(true);
        }
        if good(cookie_token) || good(bearer) {
            return Ok(false);
        }
        Err(Refusal::Token)
    }

    pub(crate) fn cookie(&self) -> String {
        format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", self.token)
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_accepts_its_names_only() {
        let s = Security::new("127.0.0.1:8080".parse().unwrap());
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "LOCALHOST:8080",
        ] {
            assert_eq!(s.check(Some(host), None, None, None), Ok(false), "{host}");
        }
        for host in ["evil.example:8080", "127.0.0.1:8081", "localhost", ""] {
            assert!(matches!(
                s.check(Some(host), None, None, None),
                Err(Refusal::Host(_))
            ));
        }
        assert_eq!(s.url(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn other_addresses_need_the_token() {
        let s = Security::new("0.0.0.0:9000".parse().unwrap());
        let host = Some("box.lan:9000");
        assert_eq!(s.check(host, None, None, None), Err(Refusal::Token));
        assert_eq!(
            s.check(host, Some("wrong"), None, None),
            Err(Refusal::Token)
        );
        let token = s.token.clone();
        assert_eq!(s.check(host, Some(&token), None, None), Ok(true));
        let cookie = format!("a=b; {COOKIE}={token}");
        assert_eq!(s.check(host, None, Some(&cookie), None), Ok(false));
        assert_eq!(s.check(host, None, None, Some(&token)), Ok(false));
        assert!(s.url().ends_with(&format!("/?token={token}")));
    }
}
