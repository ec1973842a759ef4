//! Positions a reconnecting client names in its upgrade URL (`since=EPOCH:OFFSET:ROOM`,
//! repeatable), consumed by the connection's first join of each room.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// At most this many `since` positions in one upgrade request.
pub const MAX_SINCE_POSITIONS: usize = 256;

/// Why a `since` position (or the query holding them) is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSince {
    /// A `since` value is not valid percent-encoded UTF-8.
    #[error("a `since` value is not percent-encoded UTF-8")]
    Encoding,
    /// A value is not `EPOCH:OFFSET:ROOM` (an epoch of `[A-Za-z0-9_-]`, a decimal offset,
    /// a non-empty room).
    #[error("`since` must be EPOCH:OFFSET:ROOM, got {0:?}")]
    Format(String),
    /// Two positions name the same room.
    #[error("two `since` positions name the room {0:?}")]
    Repeated(String),
    /// More than [`MAX_SINCE_POSITIONS`] positions.
    #[error("more than {MAX_SINCE_POSITIONS} `since` positions")]
    TooMany,
}

/// The last position a client saw in one room: the epoch and offset of its latest push.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SincePosition {
    epoch: String,
    offset: u64,
    room: String,
}

impl SincePosition {
    /// A position; the epoch is not checked (one that matches no history recovers nothing).
    pub fn new(epoch: impl Into<String>, offset: u64, room: impl Into<String>) -> Self {
        Self {
            epoch: epoch.into(),
            offset,
            room: room.into(),
        }
    }

    /// The epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The offset of the last push seen.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The room.
    pub fn room(&self) -> &str {
        &self.room
    }
}

/// `EPOCH:OFFSET:ROOM`, already percent-decoded; the room is last, so it may contain `:`.
impl FromStr for SincePosition {
    type Err = InvalidSince;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidSince::Format(s.to_owned());
        let mut parts = s.splitn(3, ':');
        let (Some(epoch), Some(offset), Some(room)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let epoch_ok = !epoch.is_empty()
            && epoch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let digits = !offset.is_empty() && offset.bytes().all(|b| b.is_ascii_digit());
        let offset = offset.parse::<u64>().ok().filter(|_| digits);
        match offset {
            Some(offset) if epoch_ok && !room.is_empty() => Ok(Self::new(epoch, offset, room)),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for SincePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.epoch, self.offset, self.room)
    }
}

/// The positions of one connection, one per room: what `since` in its upgrade URL named.
///
/// The upgrade pipeline of a controller whose hub keeps histories parses them (a
/// malformed one is a 400 through the upgrade-error hook, [`UpgradeError::InvalidSince`](crate::UpgradeError::InvalidSince))
/// and attaches them to the connection's data; [`Hub::join`](crate::Hub::join) consumes the
/// room's position at the connection's first join of it. A hand-written pipeline does the
/// same with [`SincePositions::from_query`] and [`Sender::insert`](crate::Sender::insert).
///
/// ```
/// use ws_controller::SincePositions;
///
/// let since = SincePositions::from_query("name=ann&since=e1%3A42%3Alobby&since=e1:7:a+b").unwrap();
/// assert_eq!(since.get("lobby").map(|p| p.offset()), Some(42));
/// assert_eq!(since.get("a b").map(|p| p.epoch()), Some("e1"));
/// assert!(SincePositions::from_query("since=e1:x:lobby").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SincePositions {
    by_room: HashMap<String, SincePosition>,
}

impl SincePositions {
    /// No positions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every `since` parameter of a URL query (without the `?`), percent-decoded (`+` is
    /// a space, as in form encoding); other parameters are ignored.
    pub fn from_query(query: &str) -> Result<Self, InvalidSince> {
        let mut positions = Self::new();
        for pair in query.split('&') {
            let Some(value) = pair.strip_prefix("since=") else {
                continue;
            };
            if positions.by_room.len() == MAX_SINCE_POSITIONS {
                return Err(InvalidSince::TooMany);
            }
            let value = percent_decode(value).ok_or(InvalidSince::Encoding)?;
            positions.add(value.parse()?)?;
        }
        Ok(positions)
    }

    /// Adds a position; a second one for the same room is refused.
    pub fn add(&mut self, position: SincePosition) -> Result<(), InvalidSince> {
        if self.by_room.contains_key(&position.room) {
            return Err(InvalidSince::Repeated(position.room));
        }
        self.by_room.insert(position.room.clone(), position);
        Ok(())
    }

    /// The position for `room`.
    pub fn get(&self, room: &str) -> Option<&SincePosition> {
        self.by_room.get(room)
    }

    /// Removes and returns the position for `room`.
    pub fn take(&mut self, room: &str) -> Option<SincePosition> {
        self.by_room.remove(room)
    }

    /// How many rooms have a position.
    pub fn len(&self) -> usize {
        self.by_room.len()
    }

    /// True when no room has a position.
    pub fn is_empty(&self) -> bool {
        self.by_room.is_empty()
    }
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_may_contain_colons_and_encoded_characters() {
        let since = SincePositions::from_query("since=ab_-9%3A0%3Afeed%3Arust%20lang%2B").unwrap();
        let position = since.get("feed:rust lang+").unwrap();
        assert_eq!((position.epoch(), position.offset()), ("ab_-9", 0));
        assert_eq!(position.to_string(), "ab_-9:0:feed:rust lang+");
    }

    #[test]
    fn malformed_values_are_refused() {
        for query in [
            "since=",
            "since=e1",
            "since=e1:5",
            "since=e1:5:",
            "since=:5:room",
            "since=e.1:5:room",
            "since=e1:-5:room",
            "since=e1:+5:room",
            "since=e1:99999999999999999999:room",
            "since=e1:5:room%",
            "since=e1:5:room%zz",
            "since=e1:5:%ff",
        ] {
            assert!(SincePositions::from_query(query).is_err(), "{query}");
        }
        assert_eq!(
            SincePositions::from_query("since=a:1:r&since=b:2:r"),
            Err(InvalidSince::Repeated("r".into()))
        );
        let many = vec!["since=e:1:r"; MAX_SINCE_POSITIONS + 1]
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{p}{i}"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(
            SincePositions::from_query(&many),
            Err(InvalidSince::TooMany)
        );
    }

    #[test]
    fn other_parameters_are_ignored() {
        let since = SincePositions::from_query("name=ann&sincere=1&since=e:3:r").unwrap();
        assert_eq!(since.len(), 1);
        assert!(SincePositions::from_query("").unwrap().is_empty());
    }
}
