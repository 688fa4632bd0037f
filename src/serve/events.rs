//! Server-sent events: every open page holds one `GET /api/events`
//! stream. The response is written by hand (`Request::into_writer`, one
//! HTTP chunk per event, flushed), since `tiny_http`'s own chunked
//! responses buffer. Events carry a sequence number as their `id`; a page
//! that reconnects with `Last-Event-ID` behind the current one is sent the
//! current state at once, so it misses nothing.

use std::io::Write;
use std::sync::Mutex;

type Writer = Box<dyn Write + Send + 'static>;

#[derive(Default)]
pub(crate) struct Events {
    clients: Mutex<Vec<Writer>>,
}

/// The head of an event stream.
const HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
    Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
    Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";

/// One HTTP chunk.
fn chunk(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    write!(out, "{:x}\r\n{text}\r\n", text.len())?;
    out.flush()
}

/// `event: NAME`, `id: SEQ`, `data: JSON`.
pub(crate) fn format_event(name: &str, seq: u64, data: &str) -> String {
    format!("event: {name}\nid: {seq}\ndata: {data}\n\n")
}

impl Events {
    /// Take over a request's connection as an event stream; `hello` is
    /// the first event (the current state).
    pub(crate) fn open(&self, mut writer: Writer, hello: &str) {
        let ok = writer
            .write_all(HEAD.as_bytes())
            .and_then(|()| chunk(&mut writer, &format!("retry: 1000\n\n{hello}")));
        if ok.is_ok() {
            self.lock().push(writer);
        }
    }

    /// Send an event to every stream; closed ones are dropped.
    pub(crate) fn send(&self, event: &str) {
        self.lock().retain_mut(|w| chunk(w, event).is_ok());
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Writer>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
