//! The history wire: numbered pushes and `$joined`, encoded with the event protocol's
//! default field names (`event`, `data`), as every hub push is.

use serde::Serialize;
use ws_controller_protocol::Message;

use crate::connection::error::ConnError;

/// The event a join of a room with history is announced with.
pub const JOINED_EVENT: &str = "$joined";

/// A push to a room with history, encoded outside the room's lock but for its position:
/// `{"event":E,"room":R,"epoch":` and `,"data":D}` around the epoch and offset, spliced in
/// under the lock.
pub(crate) struct NumberedPush {
    head: String,
    tail: String,
}

impl NumberedPush {
    pub(crate) fn new<T: Serialize + ?Sized>(
        event: &str,
        room: &str,
        data: &T,
    ) -> Result<Self, ConnError> {
        let json = |value: &str| serde_json::to_string(value).map_err(ConnError::Encode);
        let mut head = String::from("{\"event\":");
        head.push_str(&json(event)?);
        head.push_str(",\"room\":");
        head.push_str(&json(room)?);
        head.push_str(",\"epoch\":\"");
        let mut tail = String::from(",\"data\":");
        tail.push_str(&serde_json::to_string(data).map_err(ConnError::Encode)?);
        tail.push('}');
        Ok(Self { head, tail })
    }

    /// The message at `offset` of `epoch` (an epoch needs no JSON escaping).
    pub(crate) fn build(&self, epoch: &str, offset: u64) -> Message {
        let mut text = String::with_capacity(self.head.len() + epoch.len() + 32 + self.tail.len());
        text.push_str(&self.head);
        text.push_str(epoch);
        text.push_str("\",\"offset\":");
        text.push_str(&offset.to_string());
        text.push_str(&self.tail);
        Message::text(text)
    }
}

/// How a join recovered, for a `$joined` that follows a `since` for its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    pub(crate) recovered: bool,
    pub(crate) missed: u64,
}

#[derive(Serialize)]
struct Joined<'a> {
    event: &'static str,
    room: &'a str,
    data: JoinedData<'a>,
}

#[derive(Serialize)]
struct JoinedData<'a> {
    epoch: &'a str,
    offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missed: Option<u64>,
}

/// `{"event":"$joined","room":R,"data":{"epoch":E,"offset":N[,"recovered":B,"missed":K]}}`.
pub(crate) fn joined(room: &str, epoch: &str, offset: u64, recovery: Option<Recovered>) -> Message {
    let joined = Joined {
        event: JOINED_EVENT,
        room,
        data: JoinedData {
            epoch,
            offset,
            recovered: recovery.map(|r| r.recovered),
            missed: recovery.map(|r| r.missed),
        },
    };
    // Strings and numbers always serialize.
    Message::text(serde_json::to_string(&joined).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbered_push_has_the_fields_in_wire_order() {
        let push = NumberedPush::new("post", "feed:\"x\"", &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(
            push.build("e1", 42).as_text(),
            Some(r#"{"event":"post","room":"feed:\"x\"","epoch":"e1","offset":42,"data":{"a":1}}"#)
        );
    }

    #[test]
    fn joined_carries_recovery_only_when_asked() {
        assert_eq!(
            joined("lobby", "e1", 3, None).as_text(),
            Some(r#"{"event":"$joined","room":"lobby","data":{"epoch":"e1","offset":3}}"#)
        );
        let recovered = Recovered {
            recovered: false,
            missed: 0,
        };
        assert_eq!(
            joined("lobby", "e1", 3, Some(recovered)).as_text(),
            Some(
                r#"{"event":"$joined","room":"lobby","data":{"epoch":"e1","offset":3,"recovered":false,"missed":0}}"#
            )
        );
    }
}
