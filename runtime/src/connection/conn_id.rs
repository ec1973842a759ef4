//! [`ConnId`] round trips: parsed back from its `Display` form, and serialized as a number
//! (deserialized from a number or a numeric string, so it works in JSON, `Path` and `Query`).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

use crate::connection::conn::ConnId;

/// A string that is not a connection id (a decimal `u64`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a connection id: expected a decimal number")]
pub struct ParseConnIdError(String);

impl FromStr for ConnId {
    type Err = ParseConnIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `u64::from_str` accepts a leading `+`, which `Display` never writes.
        if s.starts_with('+') {
            return Err(ParseConnIdError(s.to_owned()));
        }
        s.parse::<u64>()
            .map(ConnId::from_u64)
            .map_err(|_| ParseConnIdError(s.to_owned()))
    }
}

impl Serialize for ConnId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.get())
    }
}

impl<'de> Deserialize<'de> for ConnId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl Visitor<'_> for IdVisitor {
            type Value = ConnId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a connection id (a non-negative integer)")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConnId, E> {
                Ok(ConnId::from_u64(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConnId, E> {
                u64::try_from(v)
                    .map(ConnId::from_u64)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConnId, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let id = ConnId::next();
        assert_eq!(id.to_string().parse::<ConnId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), id.get().to_string());
        assert_eq!(
            serde_json::from_str::<ConnId>(&id.get().to_string()).unwrap(),
            id
        );
        assert_eq!(
            serde_json::from_str::<ConnId>(&format!("\"{id}\"")).unwrap(),
            id
        );
        for bad in ["", "x", "-1", "+1", "1.5", " 1"] {
            assert!(bad.parse::<ConnId>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<ConnId>("-1").is_err());
    }
}
