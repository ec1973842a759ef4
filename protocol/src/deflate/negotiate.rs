//! Offers and answers: the `Sec-WebSocket-Extensions` negotiation of RFC 7692 §5 and §7.1.

use super::header::{elements, Param};
use super::params::{DeflateConfig, DeflateParams};

const EXTENSION: &[u8] = b"permessage-deflate";
const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// Why a client must fail the connection after the server's answer (RFC 7692 §5: a
/// client that receives an answer it cannot accept "MUST _Fail the WebSocket Connection_").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The answer is not a valid extension list, or names no extension.
    #[error("the Sec-WebSocket-Extensions answer is not a valid extension list")]
    Malformed,
    /// The answer names an extension that was not offered.
    #[error("the server answered extension `{0}`, which was not offered")]
    UnexpectedExtension(String),
    /// The answer names permessage-deflate more than once.
    #[error("the server answered permessage-deflate more than once")]
    Repeated,
    /// The answer has a parameter RFC 7692 does not define.
    #[error("unknown permessage-deflate parameter `{0}`")]
    UnknownParameter(String),
    /// The answer has the same parameter twice.
    #[error("permessage-deflate parameter `{0}` given twice")]
    DuplicateParameter(&'static str),
    /// A parameter has a value it must not have, lacks one it needs, or has one outside
    /// 8..=15 (or with leading zeros).
    #[error("invalid value for permessage-deflate parameter `{0}`")]
    InvalidValue(&'static str),
    /// The server set a window larger than the one offered.
    #[error("the server answered {name}={answered}, more than the offered {offered}")]
    WindowTooLarge {
        /// `server_max_window_bits` or `client_max_window_bits`.
        name: &'static str,
        /// The server's value.
        answered: u8,
        /// The offer's value.
        offered: u8,
    },
    /// The answer lacks a parameter that accepting the offer requires.
    #[error("the server's answer lacks `{0}`, which the offer requires")]
    MissingParameter(&'static str),
}

/// The parameters of one offer or answer, each checked for syntax only.
#[derive(Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value (allowed in an offer only).
    client_max_window_bits: Option<Option<u8>>,
}

impl Parsed {
    /// Reads the parameters of RFC 7692 §7.1, refusing unknown or repeated ones and
    /// values outside their grammar.
    fn read(params: &[Param<'_>]) -> Result<Parsed, NegotiationError> {
        let mut parsed = Parsed::default();
        let mut seen = [false; 4];
        for param in params {
            let (index, name) = [
                SERVER_NO_CONTEXT_TAKEOVER,
                CLIENT_NO_CONTEXT_TAKEOVER,
                SERVER_MAX_WINDOW_BITS,
                CLIENT_MAX_WINDOW_BITS,
            ]
            .into_iter()
            .enumerate()
            .find(|(_, name)| param.name.eq_ignore_ascii_case(name.as_bytes()))
            .ok_or_else(|| {
                // Tokens are ASCII, so this conversion is lossless.
                NegotiationError::UnknownParameter(String::from_utf8_lossy(param.name).into())
            })?;
            if std::mem::replace(&mut seen[index], true) {
                return Err(NegotiationError::DuplicateParameter(name));
            }
            let value = param.value.as_deref();
            let invalid = || NegotiationError::InvalidValue(name);
            match index {
                0 | 1 => {
                    if value.is_some() {
                        return Err(invalid());
                    }
                    if index == 0 {
                        parsed.server_no_context_takeover = true;
                    } else {
                        parsed.client_no_context_takeover = true;
                    }
                }
                2 => {
                    let bits = window_bits(value.ok_or_else(invalid)?).ok_or_else(invalid)?;
                    parsed.server_max_window_bits = Some(bits);
                }
                _ => {
                    let bits = match value {
                        None => None,
                        Some(value) => Some(window_bits(value).ok_or_else(invalid)?),
                    };
                    parsed.client_max_window_bits = Some(bits);
                }
            }
        }
        Ok(parsed)
    }
}

/// A window-bits value: "a decimal integer value without leading zeros between 8 to 15,
/// inclusive" (RFC 7692 §7.1.2.1, §7.1.2.2).
fn window_bits(value: &[u8]) -> Option<u8> {
    let bits = match value {
        [d @ b'8'..=b'9'] => d - b'0',
        [b'1', d @ b'0'..=b'5'] => 10 + (d - b'0'),
        _ => return None,
    };
    Some(bits)
}

/// A configured window, clamped to what this implementation can compress with.
fn config_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// Server side: chooses among the request's `Sec-WebSocket-Extensions` values.
///
/// Each value may list several comma-separated extensions and offers, in the client's
/// order of preference, and the header may come as several lines (pass each). Returns
/// the first permessage-deflate offer the server can honour under `config`, or `None`,
/// in which case no extension is answered and the connection goes uncompressed. The
/// answer to send is [`DeflateParams::response_header`] of the result.
///
/// An offer is declined (RFC 7692 §5, §7.1) when it has an unknown or repeated
/// parameter, a value on a `*_no_context_takeover` parameter, no value on
/// `server_max_window_bits`, or a window outside 8..=15. Parameter values may be tokens
/// or quoted-strings, and extension and parameter names match regardless of ASCII case.
/// A malformed list element is skipped, and the next one is still considered. Beyond
/// what the client asks for:
///
/// - the server answers `server_no_context_takeover` / `client_no_context_takeover`
///   when `config` wants them (both are the server's to add, §7.1.1.1, §7.1.1.2), and
///   `client_no_context_takeover` also when the client offered it, so it can drop its
///   decompressor between messages at no cost to the client, who has said it will not
///   use context takeover anyway;
/// - the server's window is the smaller of the offer's and `config`'s (§7.1.2.1 allows
///   the server to set one even if the offer did not ask);
/// - the client's window is the smaller of the offer's value, if any, and `config`'s, but
///   only if the offer has `client_max_window_bits` at all: otherwise the answer must not
///   have it (§7.1.2.2) and the client keeps its 15 bits.
///
/// An offer of `server_max_window_bits=8` is declined: zlib's raw deflate cannot compress
/// with a 256-byte window (it refuses it, and versions before 1.2.9 silently used 512
/// bytes, madler/zlib#171), and this server would have nothing else to send it.
/// `client_max_window_bits=8` is accepted and answered as 8: the server inflates with a
/// 15-bit window, which decodes any stream a smaller window produced.
///
/// This sees attacker bytes and never panics.
pub fn accept_offer<'a>(
    header_values: impl IntoIterator<Item = &'a [u8]>,
    config: &DeflateConfig,
) -> Option<DeflateParams> {
    header_values
        .into_iter()
        .flat_map(elements)
        .filter_map(Result::ok)
        .filter(|extension| extension.name.eq_ignore_ascii_case(EXTENSION))
        .find_map(|offer| honour(&Parsed::read(&offer.params).ok()?, config))
}

/// The parameters to answer `offer` with, or `None` when it cannot be honoured.
fn honour(offer: &Parsed, config: &DeflateConfig) -> Option<DeflateParams> {
    let server_limit = config_bits(config.server_max_window_bits);
    let server_max_window_bits = offer
        .server_max_window_bits
        .map_or(server_limit, |bits| bits.min(server_limit));
    if server_max_window_bits < 9 {
        return None;
    }
    let client_limit = config_bits(config.client_max_window_bits);
    let client_max_window_bits = match offer.client_max_window_bits {
        None => 15,
        Some(None) => client_limit,
        Some(Some(bits)) => bits.min(client_limit),
    };
    Some(DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover
            || config.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

/// Client side: the `Sec-WebSocket-Extensions` offer to send, one offer stating `config`.
///
/// It always has `client_max_window_bits` (with `config`'s value when below 15), which
/// tells the server it may limit the client's window; the server's window and the two
/// `*_no_context_takeover` flags appear when `config` asks for them. For example,
/// [`DeflateConfig::lean`] gives `"permessage-deflate; server_no_context_takeover;
/// client_no_context_takeover; client_max_window_bits"`.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from("permessage-deflate");
    let mut param = |name: &str, bits: Option<u8>| {
        offer.push_str("; ");
        offer.push_str(name);
        if let Some(bits) = bits {
            offer.push('=');
            offer.push_str(&bits.to_string());
        }
    };
    if config.server_no_context_takeover {
        param(SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    if config.client_no_context_takeover {
        param(CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    let server_bits = config_bits(config.server_max_window_bits);
    if server_bits < 15 {
        param(SERVER_MAX_WINDOW_BITS, Some(server_bits));
    }
    let client_bits = config_bits(config.client_max_window_bits);
    param(
        CLIENT_MAX_WINDOW_BITS,
        (client_bits < 15).then_some(client_bits),
    );
    offer
}

/// Client side: validates the server's answer against the offer [`client_offer`] made of
/// `offered`.
///
/// An error means the client must fail the connection (RFC 7692 §5). The answer must be
/// exactly one permessage-deflate extension whose parameters are defined, not repeated,
/// well-formed, and within the offer: `server_no_context_takeover` present if offered,
/// `server_max_window_bits` present and no larger if offered, `client_max_window_bits`
/// with a value no larger than the one offered. The server may add
/// `server_no_context_takeover`, `client_no_context_takeover` and a
/// `server_max_window_bits` the offer did not have (§7.1.1.1, §7.1.1.2, §7.1.2.1).
///
/// In the result, the client's window is the answer's or else the offer's, and
/// `client_no_context_takeover` is also set when the offer had it, as the offer promised.
/// A `client_max_window_bits=8` answer is accepted; zlib cannot compress with that window,
/// so the client's [`Deflater`](super::Deflater) then sends every message uncompressed.
pub fn accept_answer(
    header_value: &[u8],
    offered: &DeflateConfig,
) -> Result<DeflateParams, NegotiationError> {
    let mut list = elements(header_value);
    let answer = match list.next() {
        Some(Ok(extension)) => extension,
        Some(Err(_)) | None => return Err(NegotiationError::Malformed),
    };
    let unexpected = |name: &[u8]| {
        NegotiationError::UnexpectedExtension(String::from_utf8_lossy(name).into_owned())
    };
    if !answer.name.eq_ignore_ascii_case(EXTENSION) {
        return Err(unexpected(answer.name));
    }
    match list.next() {
        None => {}
        Some(Err(_)) => return Err(NegotiationError::Malformed),
        Some(Ok(other)) if other.name.eq_ignore_ascii_case(EXTENSION) => {
            return Err(NegotiationError::Repeated)
        }
        Some(Ok(other)) => return Err(unexpected(other.name)),
    }
    let answer = Parsed::read(&answer.params)?;

    if offered.server_no_context_takeover && !answer.server_no_context_takeover {
        return Err(NegotiationError::MissingParameter(
            SERVER_NO_CONTEXT_TAKEOVER,
        ));
    }
    let offered_server = config_bits(offered.server_max_window_bits);
    let server_max_window_bits = match answer.server_max_window_bits {
        Some(bits) if bits > offered_server => {
            return Err(NegotiationError::WindowTooLarge {
                name: SERVER_MAX_WINDOW_BITS,
                answered: bits,
                offered: offered_server,
            })
        }
        Some(bits) => bits,
        // Absent means 15, which only an offer of 15 (or none) allows.
        None if offered_server < 15 => {
            return Err(NegotiationError::MissingParameter(SERVER_MAX_WINDOW_BITS))
        }
        None => 15,
    };
    let offered_client = config_bits(offered.client_max_window_bits);
    let client_max_window_bits = match answer.client_max_window_bits {
        None => offered_client,
        // §7.1.2.2: in an answer, the parameter must have a value.
        Some(None) => return Err(NegotiationError::InvalidValue(CLIENT_MAX_WINDOW_BITS)),
        Some(Some(bits)) if bits > offered_client => {
            return Err(NegotiationError::WindowTooLarge {
                name: CLIENT_MAX_WINDOW_BITS,
                answered: bits,
                offered: offered_client,
            })
        }
        Some(Some(bits)) => bits,
    };
    Ok(DeflateParams {
        server_no_context_takeover: answer.server_no_context_takeover,
        client_no_context_takeover: answer.client_no_context_takeover
            || offered.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}
