//! Graceful shutdown of every connection in a [`Hub`].
//!
//! axum's graceful shutdown does not wait for upgraded connections (they left hyper when
//! they were upgraded), so a server that stops without this drops every WebSocket without
//! a close frame.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::Hub;
use crate::connection::close::CloseCode;

/// How to shut connections down.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Shutdown {
    /// The close code: 1001 "going away" by default; 1012 "service restart" tells clients
    /// to reconnect.
    pub code: CloseCode,
    /// The close reason. Default "Server shutting down".
    pub reason: String,
    /// How long to wait for close handshakes (and close handlers) before dropping the
    /// remaining connections. Default 10 s.
    pub deadline: Duration,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            code: CloseCode::GOING_AWAY,
            reason: "Server shutting down".to_owned(),
            deadline: Duration::from_secs(10),
        }
    }
}

impl Shutdown {
    /// Sets [`Shutdown::code`] and [`Shutdown::reason`].
    pub fn close_with(mut self, code: CloseCode, reason: impl Into<String>) -> Self {
        self.code = code;
        self.reason = reason.into();
        self
    }

    /// Sets [`Shutdown::deadline`].
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
}

/// How the connections ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections whose close handshake completed before the deadline.
    pub clean: usize,
    /// Connections dropped without a completed handshake (no reply in time, or still open
    /// at the deadline).
    pub forced: usize,
}

impl Hub {
    /// Shuts every connection down:
    ///
    /// 1. new upgrades to controllers using this hub are refused with 503;
    /// 2. every open connection gets what is already queued for it, then a close frame
    ///    (`options.code`, `options.reason`) — no queued message is lost;
    /// 3. close handlers run as the connections end;
    /// 4. at `options.deadline`, the connections still open are dropped.
    ///
    /// Returns once every connection's task has ended (or, for tasks stuck in application
    /// code that ignores its connection, one second after the deadline).
    pub async fn shutdown(&self, options: Shutdown) -> ShutdownReport {
        self.inner.shutting_down.store(true, Ordering::Release);
        let deadline = Instant::now() + options.deadline;
        let mut report = ShutdownReport::default();
        let connections = self.snapshot();
        for conn in &connections {
            conn.shared
                .request_close(options.code, &options.reason, true);
        }
        if !self.wait_empty(deadline).await {
            for conn in self.snapshot() {
                conn.shared.abort();
            }
            self.wait_empty(Instant::now() + Duration::from_secs(1))
                .await;
        }
        for conn in &connections {
            if conn.shared.handshake_completed.load(Ordering::Acquire) {
                report.clean += 1;
            } else {
                report.forced += 1;
            }
        }
        tracing::info!(
            clean = report.clean,
            forced = report.forced,
            "WebSocket connections shut down"
        );
        report
    }

    /// A future for `with_graceful_shutdown` ([`serve`](crate::serve)'s or `axum::serve`'s):
    /// waits for `signal`, shuts the connections down with `options`, then resolves so the
    /// HTTP server stops too.
    ///
    /// ```no_run
    /// # async fn run(app: axum::Router, hub: ws_controller::Hub) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// let signal = async { tokio::signal::ctrl_c().await.ok(); };
    /// ws_controller::serve(listener, app)
    ///     .with_graceful_shutdown(hub.graceful(signal, ws_controller::Shutdown::default()))
    ///     .await
    /// # }
    /// ```
    pub fn graceful<F>(
        &self,
        signal: F,
        options: Shutdown,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let hub = self.clone();
        async move {
            signal.await;
            hub.shutdown(options).await;
        }
    }

    /// Waits until no connection is registered; false at the deadline.
    async fn wait_empty(&self, deadline: Instant) -> bool {
        loop {
            let left = self.inner.left.notified();
            if self.count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, left).await.is_err() {
                return self.count() == 0;
            }
        }
    }
}
