//! What the crate reports on the `metrics` facade (feature `metrics`); without the feature
//! every type here is empty and every call compiles to nothing.
//!
//! Labels are bounded: `route` is the route template, never the concrete path; `code` a
//! close code; `status` an HTTP status; `kind` one of a few words. A connection resolves
//! its handles once, when it opens, so counting a message is an atomic add.

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::Arc;
    use std::time::Duration;

    use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

    /// The handles of one connection.
    pub(crate) struct ConnMetrics {
        route: Arc<str>,
        received_text: Counter,
        received_binary: Counter,
        sent_text: Counter,
        sent_binary: Counter,
        bytes_received: Counter,
        bytes_sent: Counter,
        handling: Histogram,
    }

    /// Holds a connection in `websocket_connections_active` until dropped.
    pub(crate) struct Active(Gauge);

    impl Drop for Active {
        fn drop(&mut self) {
            self.0.decrement(1.0);
        }
    }

    impl ConnMetrics {
        /// Counts a connection opened on `route`.
        pub(crate) fn open(route: Arc<str>) -> (Self, Active) {
            let r = || ("route", route.to_string());
            counter!("websocket_connections_opened_total", &[r()]).increment(1);
            let active = gauge!("websocket_connections_active", &[r()]);
            active.increment(1.0);
            let kind = |kind: &'static str| [r(), ("kind", kind.to_owned())];
            let metrics = Self {
                received_text: counter!("websocket_messages_received_total", &kind("text")),
                received_binary: counter!("websocket_messages_received_total", &kind("binary")),
                sent_text: counter!("websocket_messages_sent_total", &kind("text")),
                sent_binary: counter!("websocket_messages_sent_total", &kind("binary")),
                bytes_received: counter!("websocket_bytes_received_total", &[r()]),
                bytes_sent: counter!("websocket_bytes_sent_total", &[r()]),
                handling: histogram!("websocket_message_handling_seconds", &[r()]),
                route,
            };
            (metrics, Active(active))
        }

        pub(crate) fn received(&self, text: bool, len: usize) {
            let count = if text {
                &self.received_text
            } else {
                &self.received_binary
            };
            count.increment(1);
            self.bytes_received.increment(len as u64);
        }

        pub(crate) fn sent(&self, text: bool, len: usize) {
            let count = if text {
                &self.sent_text
            } else {
                &self.sent_binary
            };
            count.increment(1);
            self.bytes_sent.increment(len as u64);
        }

        pub(crate) fn handled(&self, took: Duration) {
            self.handling.record(took.as_secs_f64());
        }

        pub(crate) fn closed(&self, code: u16) {
            counter!(
                "websocket_connections_closed_total",
                "route" => self.route.to_string(),
                "code" => code.to_string()
            )
            .increment(1);
        }

        /// `kind` is `error` or `panic`.
        pub(crate) fn handler_error(&self, kind: &'static str) {
            counter!(
                "websocket_handler_errors_total",
                "route" => self.route.to_string(),
                "kind" => kind
            )
            .increment(1);
        }
    }

    pub(crate) fn upgrade_refused(route: &str, status: u16) {
        counter!(
            "websocket_upgrades_refused_total",
            "route" => route.to_owned(),
            "status" => status.to_string()
        )
        .increment(1);
    }

    /// One hub broadcast and what became of it on this node.
    pub(crate) fn broadcast(delivered: usize, dropped: usize, closed: usize) {
        counter!("websocket_hub_broadcasts_total").increment(1);
        counter!("websocket_hub_deliveries_total").increment(delivered as u64);
        counter!("websocket_hub_drops_total").increment(dropped as u64);
        counter!("websocket_hub_slow_consumer_closes_total").increment(closed as u64);
    }

    /// One broadcast from another node of a cluster hub, delivered on this one.
    pub(crate) fn remote_broadcast(delivered: usize, missed: usize) {
        counter!("websocket_hub_remote_broadcasts_total").increment(1);
        counter!("websocket_hub_remote_deliveries_total").increment(delivered as u64);
        counter!("websocket_hub_remote_missed_total").increment(missed as u64);
    }

    /// Payload bytes kept by the hub's room histories.
    pub(crate) fn history_bytes(bytes: usize) {
        gauge!("websocket_hub_history_bytes").set(bytes as f64);
    }

    /// Rooms with a history.
    pub(crate) fn history_rooms(rooms: usize) {
        gauge!("websocket_hub_history_rooms").set(rooms as f64);
    }

    /// A join that named a `since` position: recovered (with `replayed` pushes) or not.
    pub(crate) fn recovery(recovered: bool, replayed: u64) {
        counter!("websocket_hub_recoveries_attempted_total").increment(1);
        let outcome = if recovered { "succeeded" } else { "failed" };
        counter!("websocket_hub_recoveries_total", "outcome" => outcome).increment(1);
        counter!("websocket_hub_replayed_pushes_total").increment(replayed);
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use std::sync::Arc;
    use std::time::Duration;

    pub(crate) struct ConnMetrics;

    pub(crate) struct Active;

    impl ConnMetrics {
        pub(crate) fn open(_: Arc<str>) -> (Self, Active) {
            (Self, Active)
        }
        pub(crate) fn received(&self, _: bool, _: usize) {}
        pub(crate) fn sent(&self, _: bool, _: usize) {}
        #[allow(dead_code)]
        pub(crate) fn handled(&self, _: Duration) {}
        pub(crate) fn closed(&self, _: u16) {}
        pub(crate) fn handler_error(&self, _: &'static str) {}
    }

    pub(crate) fn upgrade_refused(_: &str, _: u16) {}

    pub(crate) fn broadcast(_: usize, _: usize, _: usize) {}

    pub(crate) fn remote_broadcast(_: usize, _: usize) {}

    pub(crate) fn history_bytes(_: usize) {}

    pub(crate) fn history_rooms(_: usize) {}

    pub(crate) fn recovery(_: bool, _: u64) {}
}

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::*;
#[cfg(feature = "metrics")]
pub(crate) use enabled::*;
