//! A fake Slack Web API on 127.0.0.1 for the notifier's tests: a std
//! `TcpListener` on a random port, a thread per connection, just enough
//! HTTP/1.1 to read one request and answer it. It records every request
//! (method, path, headers, JSON body) and answers as told:
//! `{"ok":true,...}`, `{"ok":false,"error":...}`, or never.
//!
//! Point the notifier at it with `SLACK_API_URL=<FakeSlack::url()>` (the
//! binary) or `NotifierOptions::api_url` (the library).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the fake server answers every request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// `200 {"ok":true,"channel":"C1","ts":"1.2","message":{...}}`, as Slack
    /// answers a successful `chat.postMessage`.
    Ok,
    /// `200` with this body, as `application/json`.
    Raw(String),
    /// `200 {"ok":false,"error":<code>}`, as Slack answers a bad channel or token.
    Error(String),
    /// Read the request, then never answer (until the server is dropped).
    Silent,
    /// `200` announcing a body of this many bytes, streamed until the
    /// client hangs up.
    Huge(u64),
}

/// One recorded request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Header names in lower case, in the order received.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: serde_json::Value,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The message's `text`.
    pub(crate) fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }

    /// The message's `channel`.
    pub(crate) fn channel(&self) -> &str {
        self.body["channel"].as_str().unwrap_or_default()
    }
}

/// The running fake server; stops when dropped.
pub(crate) struct FakeSlack {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FakeSlack {
    /// Start a server that answers `reply` to every request.
    pub(crate) fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = std::thread::spawn({
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = Arc::clone(&requests);
                    let stop = Arc::clone(&stop);
                    let reply = reply.clone();
                    std::thread::spawn(move || serve(&stream, &reply, &requests, &stop));
                }
            }
        });
        Self {
            addr,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    /// The base URL to use as `SLACK_API_URL`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// A base URL where nothing listens (a server that is down).
    pub(crate) fn down_url() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}/api")
    }

    /// The requests received so far.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Wait up to `timeout` for at least `n` requests; returns them all.
    pub(crate) fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let start = Instant::now();
        loop {
            let requests = self.requests();
            if requests.len() >= n || start.elapsed() > timeout {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Read one request, record it, answer it, close.
fn serve(stream: &TcpStream, reply: &Reply, requests: &Mutex<Vec<Request>>, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the wake-up connection from `Drop`, or a probe
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
    requests.lock().unwrap().push(Request {
        method,
        path,
        headers,
        body: body.clone(),
    });
    let json = match reply {
        Reply::Ok => serde_json::json!({
            "ok": true,
            "channel": "C1",
            "ts": "1.2",
            "message": {"type": "message", "text": body["text"], "ts": "1.2"},
        })
        .to_string(),
        Reply::Raw(json) => json.clone(),
        Reply::Error(code) => serde_json::json!({"ok": false, "error": code}).to_string(),
        Reply::Huge(size) => return stream_huge(stream, *size),
        Reply::Silent => {
            // Hold the connection open without a word, for at most a minute.
            let start = Instant::now();
            while !stop.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{json}",
        json.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// Stream a `size`-byte JSON string body until it is sent or the client
/// hangs up.
fn stream_huge(mut stream: &TcpStream, size: u64) {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n\
         content-length: {size}\r\nconnection: close\r\n\r\n\"",
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = vec![b'x'; 1 << 16];
    let mut sent = 1;
    while sent < size {
        let n = chunk.len().min((size - sent) as usize);
        if stream.write_all(&chunk[..n]).is_err() {
            return;
        }
        sent += n as u64;
    }
}
