//! Offers and answers: every shape, with the exact header strings.

use crate::deflate::{
    accept_answer, accept_offer, client_offer, DeflateConfig, DeflateParams, NegotiationError,
};

const LEAN: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

fn lean() -> DeflateConfig {
    DeflateConfig::lean()
}

fn ctx(bits: u8) -> DeflateConfig {
    DeflateConfig::context_takeover(bits)
}

fn answer(lines: &[&str], config: &DeflateConfig) -> Option<String> {
    accept_offer(lines.iter().map(|line| line.as_bytes()), config)
        .map(|params| params.response_header())
}

#[test]
fn server_answers() {
    let cases: &[(&[&str], DeflateConfig, Option<&str>)] = &[
        // No offer, or none of ours.
        (&[], lean(), None),
        (&[""], lean(), None),
        (&["x-webkit-deflate-frame"], lean(), None),
        (&["deflate-stream, x-foo; a=1"], lean(), None),
        // The plain offer, and the browsers' one.
        (&["permessage-deflate"], lean(), Some(LEAN)),
        (&["permessage-deflate; client_max_window_bits"], lean(), Some(LEAN)),
        (&["permessage-deflate"], ctx(15), Some("permessage-deflate")),
        (
            &["permessage-deflate; client_max_window_bits"],
            ctx(15),
            Some("permessage-deflate"),
        ),
        (
            &["permessage-deflate; client_max_window_bits"],
            ctx(12),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
        ),
        // A client window below 15 needs the client's consent; without it, 15 it is.
        (
            &["permessage-deflate"],
            ctx(12),
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
        // client_max_window_bits with a value: the smaller one wins.
        (
            &["permessage-deflate; client_max_window_bits=10"],
            ctx(12),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"),
        ),
        (
            &["permessage-deflate; client_max_window_bits=14"],
            ctx(12),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
        ),
        (
            &["permessage-deflate; client_max_window_bits=9"],
            ctx(15),
            Some("permessage-deflate; client_max_window_bits=9"),
        ),
        (
            &["permessage-deflate; client_max_window_bits=15"],
            ctx(15),
            Some("permessage-deflate"),
        ),
        (
            &["permessage-deflate; client_max_window_bits=8"],
            ctx(15),
            Some("permessage-deflate; client_max_window_bits=8"),
        ),
        (
            &["permessage-deflate; client_max_window_bits=8"],
            lean(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=8"),
        ),
        // server_max_window_bits: 8 cannot be honoured, 9..=15 can, anything else is invalid.
        (&["permessage-deflate; server_max_window_bits=8"], lean(), None),
        (
            &["permessage-deflate; server_max_window_bits=8, permessage-deflate"],
            lean(),
            Some(LEAN),
        ),
        (
            &["permessage-deflate; server_max_window_bits=9"],
            ctx(15),
            Some("permessage-deflate; server_max_window_bits=9"),
        ),
        (
            &["permessage-deflate; server_max_window_bits=9"],
            lean(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"),
        ),
        (
            &["permessage-deflate; server_max_window_bits=15"],
            ctx(15),
            Some("permessage-deflate"),
        ),
        (
            &["permessage-deflate; server_max_window_bits=15; client_max_window_bits"],
            ctx(12),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
        ),
        (&["permessage-deflate; server_max_window_bits=16"], lean(), None),
        (&["permessage-deflate; server_max_window_bits=255"], lean(), None),
        (&["permessage-deflate; server_max_window_bits=7"], lean(), None),
        (&["permessage-deflate; server_max_window_bits=0"], lean(), None),
        (&["permessage-deflate; server_max_window_bits=09"], lean(), None),
        (&["permessage-deflate; server_max_window_bits=+9"], lean(), None),
        (&["permessage-deflate; server_max_window_bits"], lean(), None),
        (&["permessage-deflate; client_max_window_bits=16"], lean(), None),
        (&["permessage-deflate; client_max_window_bits=7"], lean(), None),
        (&["permessage-deflate; client_max_window_bits=010"], lean(), None),
        (&["permessage-deflate; client_max_window_bits=abc"], lean(), None),
        // Quoted values (RFC 7692 §7.1: token or quoted-string).
        (
            &["permessage-deflate; client_max_window_bits=\"10\""],
            ctx(15),
            Some("permessage-deflate; client_max_window_bits=10"),
        ),
        (
            &["permessage-deflate; server_max_window_bits=\"1\\1\""],
            ctx(15),
            Some("permessage-deflate; server_max_window_bits=11"),
        ),
        (&["permessage-deflate; client_max_window_bits=\"\""], lean(), None),
        (&["permessage-deflate; client_max_window_bits=\"1 0\""], lean(), None),
        (&["permessage-deflate; client_max_window_bits=\"10"], lean(), None),
        // Unknown, repeated and misused parameters decline that offer only.
        (&["permessage-deflate; foo"], lean(), None),
        (&["permessage-deflate; foo=1, permessage-deflate"], lean(), Some(LEAN)),
        (
            &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
            lean(),
            None,
        ),
        (
            &["permessage-deflate; client_max_window_bits; client_max_window_bits=10"],
            lean(),
            None,
        ),
        (
            &["permessage-deflate; server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=10"],
            lean(),
            None,
        ),
        (&["permessage-deflate; server_no_context_takeover=1"], lean(), None),
        (&["permessage-deflate; client_no_context_takeover=\"x\""], lean(), None),
        // The client's own no-context-takeover requests and hints.
        (
            &["permessage-deflate; server_no_context_takeover"],
            ctx(15),
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        (
            &["permessage-deflate; client_no_context_takeover"],
            ctx(15),
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        // Several offers: the first acceptable one, in the client's order.
        (
            &["permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate; client_max_window_bits"],
            ctx(15),
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        (
            &["permessage-deflate; server_max_window_bits=8; client_max_window_bits, permessage-deflate; client_max_window_bits=9"],
            ctx(15),
            Some("permessage-deflate; client_max_window_bits=9"),
        ),
        // Several header lines, unknown extensions first, odd but valid spacing and case.
        (
            &["x-foo", "permessage-deflate; client_max_window_bits=9"],
            ctx(12),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=9"),
        ),
        (&["permessage-deflate; foo", "permessage-deflate"], lean(), Some(LEAN)),
        (&["x-foo; a=\"b,c;d\", permessage-deflate"], lean(), Some(LEAN)),
        (
            &[" \t,PerMessage-Deflate ;\tClient_Max_Window_Bits = 11 ,"],
            ctx(15),
            Some("permessage-deflate; client_max_window_bits=11"),
        ),
        // A malformed element is skipped, not fatal.
        (&["permessage-deflate;;, permessage-deflate"], lean(), Some(LEAN)),
        (&["permessage-deflate client_max_window_bits"], lean(), None),
        // Window bits below what the config allows are taken as they are.
        (
            &["permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"],
            ctx(13),
            Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"),
        ),
    ];
    for (lines, config, expected) in cases {
        assert_eq!(
            answer(lines, config).as_deref(),
            *expected,
            "offer {lines:?} under {config:?}"
        );
    }
}

#[test]
fn server_params_and_clamped_config() {
    let offer: &[u8] = b"permessage-deflate; client_max_window_bits=8";
    assert_eq!(
        accept_offer([offer], &ctx(12)),
        Some(DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 12,
            client_max_window_bits: 8,
        })
    );
    // Fields set outside 9..=15 are clamped, never trusted or panicked on.
    let wild = DeflateConfig {
        server_max_window_bits: 200,
        client_max_window_bits: 0,
        ..lean()
    };
    let offer: &[u8] = b"permessage-deflate; client_max_window_bits";
    assert_eq!(
        answer(&["permessage-deflate; client_max_window_bits"], &wild).as_deref(),
        Some(&*format!("{LEAN}; client_max_window_bits=9"))
    );
    assert_eq!(
        accept_offer([offer], &wild).map(|p| p.server_max_window_bits),
        Some(15)
    );
}

#[test]
fn client_offers() {
    let cases = [
        (
            lean(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
        ),
        (ctx(15), "permessage-deflate; client_max_window_bits"),
        (
            ctx(10),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10",
        ),
        (
            DeflateConfig {
                client_no_context_takeover: false,
                server_max_window_bits: 9,
                ..lean()
            },
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(client_offer(&config), expected, "{config:?}");
    }
}

fn params(snct: bool, cnct: bool, server: u8, client: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: server,
        client_max_window_bits: client,
    }
}

#[test]
fn client_checks_answers() {
    use NegotiationError::*;
    let server_bits = "server_max_window_bits";
    let client_bits = "client_max_window_bits";
    let cases: Vec<(&str, DeflateConfig, Result<DeflateParams, NegotiationError>)> = vec![
        (
            "permessage-deflate",
            ctx(15),
            Ok(params(false, false, 15, 15)),
        ),
        (
            "permessage-deflate",
            lean(),
            Err(MissingParameter("server_no_context_takeover")),
        ),
        (
            "permessage-deflate; server_no_context_takeover",
            lean(),
            Ok(params(true, true, 15, 15)),
        ),
        (LEAN, lean(), Ok(params(true, true, 15, 15))),
        (
            "permessage-deflate; server_no_context_takeover",
            ctx(15),
            Ok(params(true, false, 15, 15)),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            ctx(15),
            Ok(params(false, true, 15, 15)),
        ),
        (
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10",
            ctx(10),
            Ok(params(false, false, 10, 10)),
        ),
        (
            "permessage-deflate; server_max_window_bits=9",
            ctx(10),
            Ok(params(false, false, 9, 10)),
        ),
        (
            "permessage-deflate",
            ctx(10),
            Err(MissingParameter(server_bits)),
        ),
        (
            "permessage-deflate; server_max_window_bits=11",
            ctx(10),
            Err(WindowTooLarge {
                name: server_bits,
                answered: 11,
                offered: 10,
            }),
        ),
        (
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
            ctx(10),
            Err(WindowTooLarge {
                name: client_bits,
                answered: 12,
                offered: 10,
            }),
        ),
        (
            "permessage-deflate; client_max_window_bits",
            ctx(15),
            Err(InvalidValue(client_bits)),
        ),
        (
            "permessage-deflate; client_max_window_bits=8",
            ctx(15),
            Ok(params(false, false, 15, 8)),
        ),
        (
            "permessage-deflate; server_max_window_bits=8",
            ctx(15),
            Ok(params(false, false, 8, 15)),
        ),
        (
            "permessage-deflate; server_max_window_bits=\"12\"",
            ctx(15),
            Ok(params(false, false, 12, 15)),
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            ctx(15),
            Err(InvalidValue(server_bits)),
        ),
        (
            "permessage-deflate; server_max_window_bits",
            ctx(15),
            Err(InvalidValue(server_bits)),
        ),
        (
            "permessage-deflate; server_no_context_takeover=x",
            ctx(15),
            Err(InvalidValue("server_no_context_takeover")),
        ),
        (
            "permessage-deflate; foo",
            ctx(15),
            Err(UnknownParameter("foo".into())),
        ),
        (
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            ctx(15),
            Err(DuplicateParameter("client_no_context_takeover")),
        ),
        ("x-foo", ctx(15), Err(UnexpectedExtension("x-foo".into()))),
        (
            "permessage-deflate, x-foo",
            ctx(15),
            Err(UnexpectedExtension("x-foo".into())),
        ),
        (
            "permessage-deflate, permessage-deflate",
            ctx(15),
            Err(Repeated),
        ),
        ("permessage-deflate, x=\"", ctx(15), Err(Malformed)),
        ("", ctx(15), Err(Malformed)),
        (" , ", ctx(15), Err(Malformed)),
        ("permessage-deflate;", ctx(15), Err(Malformed)),
        ("permessage-deflate; =", ctx(15), Err(Malformed)),
    ];
    for (header, offered, expected) in cases {
        assert_eq!(
            accept_answer(header.as_bytes(), &offered),
            expected,
            "answer {header:?} to {offered:?}"
        );
    }
}

/// Whatever two configs meet, the client reads the server's answer as the server meant it.
#[test]
fn both_ends_agree() {
    let mut configs = vec![lean(), lean().threshold(0)];
    configs.extend((9..=15).map(ctx));
    configs.push(DeflateConfig {
        server_no_context_takeover: true,
        client_max_window_bits: 11,
        ..ctx(13)
    });
    for client in &configs {
        for server in &configs {
            let offer = client_offer(client);
            // The offer always has client_max_window_bits, so no server config declines it.
            let agreed = accept_offer([offer.as_bytes()], server).expect(&offer);
            let header = agreed.response_header();
            assert_eq!(
                accept_answer(header.as_bytes(), client),
                Ok(agreed),
                "offer {offer:?} answered {header:?}"
            );
        }
    }
}

#[test]
fn arbitrary_offers_never_panic() {
    let mut rng = super::Rng::new(7);
    let pieces: &[&str] = &[
        "permessage-deflate",
        "x",
        ";",
        ",",
        " ",
        "=",
        "\"",
        "\\",
        "8",
        "9",
        "15",
        "16",
        "08",
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "\u{7f}",
        "\t",
    ];
    for _ in 0..20_000 {
        let mut offer = String::new();
        for _ in 0..rng.below(12) {
            offer.push_str(pieces[rng.below(pieces.len())]);
        }
        for config in [lean(), ctx(9), ctx(15)] {
            if let Some(agreed) = accept_offer([offer.as_bytes()], &config) {
                assert!(
                    (9..=15).contains(&agreed.server_max_window_bits),
                    "{offer:?}"
                );
                assert!(
                    (8..=15).contains(&agreed.client_max_window_bits),
                    "{offer:?}"
                );
            }
            let _ = accept_answer(offer.as_bytes(), &config);
        }
    }
}
