//! Accepting sockets without spinning: when `accept` fails for want of resources (out of
//! file descriptors: EMFILE, ENFILE; or of memory), the loop sleeps, 10 ms at first and
//! twice as long after each failure in a row, up to 1 s, and logs once per episode.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The first pause after a failed `accept`.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// The pause policy of one accept loop.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    pause: Option<Duration>,
}

impl Backoff {
    /// How long to sleep after a resource failure, and whether this failure starts an
    /// episode (the one to log).
    fn failed(&mut self) -> (Duration, bool) {
        let (pause, first) = match self.pause {
            None => (FIRST_PAUSE, true),
            Some(pause) => ((pause * 2).min(MAX_PAUSE), false),
        };
        self.pause = Some(pause);
        (pause, first)
    }

    /// An accept succeeded: the episode is over.
    fn succeeded(&mut self) {
        if self.pause.take().is_some() {
            tracing::info!("accepting connections again");
        }
    }
}

/// Errors about one incoming connection (it was reset before we took it): the next one
/// may be fine, so no pause.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    )
}

/// The next connection, waiting out resource failures.
pub(super) async fn accept(
    listener: &TcpListener,
    backoff: &mut Backoff,
) -> (TcpStream, std::net::SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                backoff.succeeded();
                return accepted;
            }
            Err(err) if is_connection_error(&err) => {
                tracing::debug!(error = %err, "incoming connection failed before accept");
            }
            Err(err) => {
                let (pause, first) = backoff.failed();
                if first {
                    tracing::warn!(
                        error = %err,
                        "accept failed (out of file descriptors?); pausing up to {MAX_PAUSE:?} between tries"
                    );
                } else {
                    tracing::debug!(error = %err, ?pause, "accept failed again");
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_a_second_and_log_once_per_episode() {
        let mut backoff = Backoff::default();
        let pauses: Vec<_> = (0..10).map(|_| backoff.failed()).collect();
        assert_eq!(pauses[0], (FIRST_PAUSE, true));
        assert_eq!(pauses[1], (Duration::from_millis(20), false));
        assert_eq!(pauses[6], (Duration::from_millis(640), false));
        assert_eq!(pauses[7], (MAX_PAUSE, false));
        assert_eq!(pauses[9], (MAX_PAUSE, false));
        backoff.succeeded();
        assert_eq!(backoff.failed(), (FIRST_PAUSE, true));
    }

    #[test]
    fn a_reset_connection_is_no_resource_failure() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(is_connection_error(&reset));
        let emfile = std::io::Error::from_raw_os_error(24);
        assert!(!is_connection_error(&emfile));
    }
}
