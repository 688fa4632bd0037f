//! A bound on the size of Slack's replies. slack-morphism reads a reply
//! whole into memory; a server that answers with gigabytes would take them
//! all. This connector wraps each connection so that reading more than
//! [`MAX_REPLY`] bytes after a request fails the request instead (one
//! warning, like any other failure).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use tower_service::Service;

/// The most bytes (headers included) read for one reply: a
/// `chat.postMessage` reply is a few kilobytes.
pub(crate) const MAX_REPLY: usize = 1 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector whose connections read at most [`MAX_REPLY`] bytes per
/// request.
#[derive(Clone)]
pub(crate) struct Bounded<C>(pub(crate) C);

impl<C> Service<Uri> for Bounded<C>
where
    C: Service<Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = Limited<C::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let inner = connecting.await.map_err(Into::into)?;
            Ok(Limited { inner, read: 0 })
        })
    }
}

/// A connection that counts the bytes read since the last write.
pub(crate) struct Limited<T> {
    inner: T,
    read: usize,
}

impl<T: Read + Unpin> Read for Limited<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read > MAX_REPLY {
            return Poll::Ready(Err(io::Error::other(format!(
                "the reply is larger than {MAX_REPLY} bytes; not read further"
            ))));
        }
        let mut scratch = [0_u8; 8192];
        let room = scratch.len().min(buf.remaining());
        let mut inner_buf = ReadBuf::new(&mut scratch[..room]);
        let polled = Pin::new(&mut self.inner).poll_read(cx, inner_buf.unfilled());
        if let Poll::Ready(Ok(())) = polled {
            let filled = inner_buf.filled();
            self.read += filled.len();
            buf.put_slice(filled);
        }
        polled
    }
}

impl<T: Write + Unpin> Write for Limited<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // A new request: its reply gets the whole allowance.
        self.read = 0;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: Connection> Connection for Limited<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}
