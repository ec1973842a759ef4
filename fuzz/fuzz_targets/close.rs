//! `CloseCode::new` against the RFC 6455 table, and `truncate_reason` (at most 123 bytes, a
//! prefix of the input, cut on a character boundary, and as long as possible).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_controller::{truncate_reason, CloseCode, CloseStatus, InvalidCloseCode, MAX_REASON_LEN};

fuzz_target!(|data: &[u8]| {
    if data.len() >= 2 {
        check_code(u16::from_be_bytes([data[0], data[1]]));
    }
    // Reasons: the input as text when it is UTF-8, otherwise its lossy decoding (which
    // brings in 3-byte replacement characters at arbitrary offsets).
    let lossy;
    let reason = match std::str::from_utf8(data) {
        Ok(text) => text,
        Err(_) => {
            lossy = String::from_utf8_lossy(data);
            &lossy
        }
    };
    check_reason(reason);
    if let Some(rest) = data.get(2..) {
        if let Ok(text) = std::str::from_utf8(rest) {
            check_reason(text);
        }
    }
});

fn check_code(code: u16) {
    // Sendable: 1000–1003, 1007–1014 (registered, not reserved), 3000–4999 (registrable and
    // private). Never sendable: < 1000, 1004 (reserved), 1005/1006/1015 (describe closures),
    // 1016–2999 (reserved for future RFCs), ≥ 5000 (undefined).
    let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    let made = CloseCode::new(code);
    assert_eq!(made.is_ok(), sendable, "CloseCode::new({code})");
    assert_eq!(CloseCode::try_from(code), made);
    match made {
        Ok(c) => {
            assert_eq!(c.as_u16(), code);
            assert_eq!(u16::from(c), code);
            assert_eq!(c.to_string(), code.to_string());
            let status = CloseStatus::from(c);
            assert_eq!(status.as_u16(), code);
            assert_eq!(status.code(), Some(c));
            assert_eq!(status.is_clean(), code == 1000 || code == 1001);
        }
        Err(err) => {
            assert_eq!(err, InvalidCloseCode(code));
            assert!(err.to_string().starts_with(&code.to_string()));
        }
    }
}

fn check_reason(reason: &str) {
    let cut = truncate_reason(reason);
    assert!(cut.len() <= MAX_REASON_LEN, "{} bytes", cut.len());
    assert!(reason.starts_with(cut), "not a prefix");
    // `cut` is a `&str`, so it is valid UTF-8 as long as the slicing did not panic; check the
    // bytes anyway, as a close frame's payload would be checked.
    assert!(std::str::from_utf8(cut.as_bytes()).is_ok());
    if reason.len() <= MAX_REASON_LEN {
        assert_eq!(cut, reason, "a reason that fits must not be cut");
    } else {
        // Maximal: the next character would not have fitted.
        let next = reason[cut.len()..]
            .chars()
            .next()
            .expect("a longer reason has more");
        assert!(
            cut.len() + next.len_utf8() > MAX_REASON_LEN,
            "cut at {} but {} more bytes fit",
            cut.len(),
            next.len_utf8()
        );
    }
    // Idempotent.
    assert_eq!(truncate_reason(cut), cut);
}
