//! The accept loop: HTTP/1.1 connections on hyper with a header read timeout, a cap on open
//! connections with a small reserve for health probes, and a drain bounded in time.
//!
//! `axum::serve` has no header timeout, no connection cap and waits for every connection on
//! shutdown: 300 half-sent requests were never closed, and one of them kept shutdown waiting
//! forever. HTTP/1.1 only: hyper has no header or idle timeout for HTTP/2, and the gateway and
//! browsers reach this cleartext port over HTTP/1.1 (docs/decisions.md).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::ServerLimits;

/// After shutdown starts, how long a connection with no request in a handler (idle, half-sent,
/// or writing out a finished response) is given before it is closed.
const IDLE_GRACE: Duration = Duration::from_secs(1);

/// Largest request head (request line and headers) a connection buffers; hyper's minimum is
/// 8 KiB, a bearer JWT fits many times over.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A connection's claim on the server.
enum Slot {
    /// One of `max_connections`: keep-alive, the normal header timeout.
    Normal(#[allow(dead_code)] OwnedSemaphorePermit),
    /// One of `reserve_connections`: one request, the short reserve header timeout.
    Reserve(#[allow(dead_code)] OwnedSemaphorePermit),
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets requests
/// in flight finish for `limits.drain_timeout` and closes what is still open.
///
/// # Errors
/// None today: accept errors (a full descriptor table included) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServerLimits,
) -> std::io::Result<()> {
    let normal = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let reserve = Arc::new(Semaphore::new(limits.reserve_connections));
    let (stop, stopped) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Take a slot before accepting (as mini-redis): with every slot held, new clients
        // wait in the kernel's accept queue instead of taking descriptors.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            slot = claim(&normal, &reserve) => slot,
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        conns.spawn(connection(
            stream,
            app.clone(),
            slot,
            limits,
            stopped.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    let open = conns.len();
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            still_open = conns.len(),
            open_at_shutdown = open,
            drain_timeout = ?limits.drain_timeout,
            "connections still open after the drain time; closing them"
        );
        conns.shutdown().await;
    }
    Ok(())
}

/// A normal slot if one is free, else a reserve slot if one is free, else the first to free.
async fn claim(normal: &Arc<Semaphore>, reserve: &Arc<Semaphore>) -> Slot {
    if let Ok(p) = normal.clone().try_acquire_owned() {
        return Slot::Normal(p);
    }
    if let Ok(p) = reserve.clone().try_acquire_owned() {
        return Slot::Reserve(p);
    }
    tokio::select! {
        Ok(p) = normal.clone().acquire_owned() => Slot::Normal(p),
        Ok(p) = reserve.clone().acquire_owned() => Slot::Reserve(p),
    }
}

/// Connection errors concern one client; the others (no descriptors left) pass in time.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn connection(
    stream: TcpStream,
    app: Router,
    slot: Slot,
    limits: ServerLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let reserve = matches!(slot, Slot::Reserve(_));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(if reserve {
            limits.reserve_header_timeout
        } else {
            limits.header_read_timeout
        })
        .keep_alive(!reserve)
        .max_buf_size(MAX_HEAD_BYTES);
    // Requests of this connection inside a handler: at shutdown, a connection without one has
    // nothing to finish (hyper's graceful shutdown would still wait for a half-sent head).
    let busy = Arc::new(AtomicUsize::new(0));
    let service = {
        let busy = busy.clone();
        hyper::service::service_fn(move |req| {
            let app = app.clone();
            let busy = Busy::enter(&busy);
            async move {
                let resp = app.oneshot(req).await;
                drop(busy);
                resp
            }
        })
    };
    // Upgrades: a WebSocket subscriber (`/graphql/ws`) takes the connection over.
    let conn = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let stopping = tokio::select! {
        _ = conn.as_mut() => false,
        stop = stopped.wait_for(|s| *s) => stop.is_ok(),
    };
    if stopping {
        // Finish the request in flight, then close; a connection with none is closed after
        // IDLE_GRACE, and the drain time bounds the rest.
        conn.as_mut().graceful_shutdown();
        let idle = async {
            tokio::time::sleep(IDLE_GRACE).await;
            while busy.load(Ordering::Relaxed) > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            _ = conn.as_mut() => {}
            () = idle => {}
        }
    }
    drop(slot);
}

/// Counts one request inside a handler until dropped.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(n: &Arc<AtomicUsize>) -> Busy {
        n.fetch_add(1, Ordering::Relaxed);
        Busy(n.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
