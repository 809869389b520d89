//! What one client may hold of the server: connections, time and execution slots. The values
//! and why they are what they are: docs/decisions.md ("Request limits") and docs/reliability.md.

use std::time::Duration;

/// Largest request body accepted on `/graphql` (a query plus variables; 413 above).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Largest serialised GraphQL response (`RESPONSE_TOO_LARGE` above). The cost estimate keeps
/// accepted queries well below; this is the backstop when the estimate is wrong.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Time for a client to send a request's headers, from connection or from the end of the
/// previous response (hyper's `header_read_timeout`); a silent or half-sent request is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a client to send the whole body once its headers arrived (`REQUEST_TIMEOUT`).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for one GraphQL execution, waiting for a slot included (`TIMEOUT`). Above one slow
/// vCenter call of the on-demand reads, below what a client or gateway waits for.
pub const EXECUTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for any request from its headers to its response head (`TIMEOUT`): body read plus
/// execution plus margin.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);
/// Time in-flight requests get to finish after shutdown starts; connections still open then
/// are closed.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// WebSocket subscribers at once; past this an upgrade is answered 503 with `Retry-After`.
pub const MAX_SUBSCRIBERS: usize = 256;
/// How long one message may wait for a subscriber to read it before the subscriber is dropped
/// (`SUBSCRIPTION_TOO_SLOW`): the kernel's socket buffers are full, and holding more for it
/// would be memory it controls.
pub const SUBSCRIBER_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Header timeout of a connection accepted into the reserve (all normal slots taken): a
/// health probe sends its request at once; a connection that waits is closed quickly.
pub const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The limits [`super::app_with`] and [`super::run_with`] enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// See [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// See [`MAX_RESPONSE_BYTES`].
    pub max_response_bytes: usize,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`EXECUTION_TIMEOUT`].
    pub execution_timeout: Duration,
    /// See [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
    /// See [`RESERVE_HEADER_TIMEOUT`].
    pub reserve_header_timeout: Duration,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connections accepted above `max_connections`, one request each with the short
    /// reserve header timeout: room for `/healthz` while the normal slots are held.
    pub reserve_connections: usize,
    /// GraphQL executions at once; more wait (within the execution timeout) for a slot.
    pub max_executions: usize,
    /// See [`MAX_SUBSCRIBERS`].
    pub max_subscribers: usize,
    /// See [`SUBSCRIBER_SEND_TIMEOUT`].
    pub subscriber_send_timeout: Duration,
    /// Bytes of reusable GraphQL response bodies kept (0: none kept; `ETag`s and 304s still
    /// work). See [`super::response_cache`].
    pub response_cache_bytes: u64,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        let (max_connections, reserve_connections) = connection_caps(open_file_limit());
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServerLimits {
            max_body_bytes: MAX_BODY_BYTES,
            max_response_bytes: MAX_RESPONSE_BYTES,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            execution_timeout: EXECUTION_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            drain_timeout: DRAIN_TIMEOUT,
            reserve_header_timeout: RESERVE_HEADER_TIMEOUT,
            max_connections,
            reserve_connections,
            // Executions are CPU and memory: a few per core keeps the machine responsive
            // while an execution waiting on vCenter does not stall the others.
            max_executions: (2 * cores).clamp(8, 64),
            max_subscribers: MAX_SUBSCRIBERS,
            subscriber_send_timeout: SUBSCRIBER_SEND_TIMEOUT,
            response_cache_bytes: super::response_cache::RESPONSE_CACHE_BYTES,
        }
    }
}

/// Normal and reserve connection slots for a soft open-file limit: half of the descriptors,
/// so vCenter sessions, the store, logs and the accept queue keep the other half.
pub fn connection_caps(open_files: Option<u64>) -> (usize, usize) {
    let half = open_files.unwrap_or(1024) / 2;
    let total = half.clamp(64, 8192) as usize;
    let reserve = (total / 16).max(8);
    (total - reserve, reserve)
}

/// The soft `RLIMIT_NOFILE` of this process, from `/proc/self/limits` (Linux; `None`
/// elsewhere or when unlimited).
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_caps_stay_below_the_file_limit() {
        assert_eq!(connection_caps(Some(1024)), (480, 32));
        let (n, r) = connection_caps(Some(256));
        assert!(n + r <= 128);
        let (n, r) = connection_caps(None);
        assert!(n + r <= 512);
        assert!(connection_caps(Some(u64::MAX)).0 < 8192);
        #[cfg(target_os = "linux")]
        assert!(open_file_limit().is_some());
    }
}
