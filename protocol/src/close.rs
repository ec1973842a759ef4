//! Close frame payloads (RFC 6455 §5.5.1, §7.4).

use crate::error::ProtocolError;
use crate::frame::MAX_CONTROL_PAYLOAD;

/// Longest close reason: a control frame's 125 bytes less the 2-byte code.
pub const MAX_REASON_LEN: usize = MAX_CONTROL_PAYLOAD - 2;

/// A received close frame's status code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code, one that may be sent ([`is_sendable_code`]).
    pub code: u16,
    /// The reason, valid UTF-8.
    pub reason: String,
}

/// True for the codes a close frame may carry: 1000–1003, 1007–1014 and 3000–4999. The
/// others are reserved (1004–1006, 1015: they describe closures and are never sent),
/// unassigned (1016–2999) or out of range.
pub const fn is_sendable_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a close frame's payload: `None` for an empty one (no status, reported as 1005).
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseTooShort),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_sendable_code(code) {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason =
                std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

/// The payload of a close frame with `code` and `reason`, the reason cut at a UTF-8
/// boundary to fit.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_payload_rules() {
        assert_eq!(parse_close(&[]), Ok(None));
        assert_eq!(parse_close(&[3]), Err(ProtocolError::CloseTooShort));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let payload = code.to_be_bytes();
            assert_eq!(
                parse_close(&payload),
                Err(ProtocolError::InvalidCloseCode(code))
            );
        }
        for code in [1000, 1003, 1007, 1014, 3000, 4999] {
            let payload = close_payload(code, "bye");
            let expected = CloseFrame {
                code,
                reason: "bye".into(),
            };
            assert_eq!(parse_close(&payload), Ok(Some(expected)));
        }
        let mut bad = close_payload(1000, "");
        bad.extend_from_slice(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80");
        assert_eq!(parse_close(&bad), Err(ProtocolError::InvalidCloseReason));
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let reason = "é".repeat(100);
        let payload = close_payload(1000, &reason);
        assert_eq!(payload.len(), 2 + 122);
        assert!(parse_close(&payload).is_ok());
    }
}
