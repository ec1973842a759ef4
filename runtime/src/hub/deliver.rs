//! Fan-out of one message to many connections, each under its slow-consumer policy.

use ws_controller_protocol::Message;

use crate::connection::close::CloseCode;
use crate::connection::prepared::PreparedMessage;
use crate::connection::sender::{Sender, TrySendError};
use crate::connection::settings::SlowConsumer;

use super::report::BroadcastReport;
use super::TOO_SLOW_REASON;

/// Queues `message`, prepared once (its bytes, and for compressed recipients its
/// compressed frame, are shared by all), without waiting. Recipients under
/// [`SlowConsumer::Wait`] whose queue is full are returned to be awaited after everyone
/// else has been served, so one slow client never delays the rest; when `can_wait` is
/// false (a message from another node, which cannot be held back) they miss it instead.
pub(crate) fn fan_out<'a>(
    recipients: impl Iterator<Item = &'a Sender>,
    message: &Message,
    can_wait: bool,
    report: &mut BroadcastReport,
) -> Vec<(Sender, PreparedMessage)> {
    fan_out_prepared(
        recipients,
        &PreparedMessage::new(message.clone()),
        can_wait,
        report,
    )
}

/// [`fan_out`] of a message prepared already (one a room's history keeps).
pub(crate) fn fan_out_prepared<'a>(
    recipients: impl Iterator<Item = &'a Sender>,
    prepared: &PreparedMessage,
    can_wait: bool,
    report: &mut BroadcastReport,
) -> Vec<(Sender, PreparedMessage)> {
    let mut waiting = Vec::new();
    for sender in recipients {
        match sender.try_send_prepared(prepared) {
            Ok(()) => report.delivered += 1,
            Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => match sender.shared.slow_consumer {
                SlowConsumer::Close => {
                    sender.shared.request_close(
                        CloseCode::POLICY_VIOLATION,
                        TOO_SLOW_REASON,
                        false,
                    );
                    report.closed += 1;
                }
                SlowConsumer::Wait if can_wait => waiting.push((sender.clone(), prepared.clone())),
                SlowConsumer::DropNewest | SlowConsumer::Wait => report.dropped += 1,
            },
        }
    }
    waiting
}

/// Awaits the recipients [`fan_out`] could not serve at once.
pub(crate) async fn wait_for(
    waiting: Vec<(Sender, PreparedMessage)>,
    report: &mut BroadcastReport,
) {
    if waiting.is_empty() {
        return;
    }
    let sends = waiting
        .into_iter()
        .map(|(sender, message)| async move { sender.send_prepared(&message).await });
    for result in futures_util::future::join_all(sends).await {
        if result.is_ok() {
            report.delivered += 1;
        }
    }
}
