//! The attribute's values: settings, durations, subprotocols and the origin policy.

use syn::{Ident, LitStr};

use crate::ast::Handler;
use crate::attr::{Args, DurationArg, Keyed, List, OriginArg};
use crate::diagnostics::Errors;
use crate::model::{Origin, Settings};
use crate::valid::hooks::hook_fn;

/// The origin policy: the `origin` key or the `#[check_origin]` hook, not both.
pub fn origin(args: &Args, hook: Option<&Handler>, errors: &mut Errors) -> Option<Origin> {
    let arg = args.origin.as_ref();
    if let (Some(arg), Some(hook)) = (arg, hook) {
        errors.at(
            arg.key.span(),
            format!(
                "`origin = ...` and the `#[check_origin]` hook `{}` both decide the origin \
                 policy; keep one: remove this key, or remove `#[check_origin]`",
                hook.name()
            ),
        );
        return None;
    }
    if let Some(hook) = hook {
        return hook_fn(hook, errors).map(|h| Origin::Hook(Box::new(h)));
    }
    Some(match arg.map(|a| &a.value) {
        None | Some(OriginArg::SameHost) => Origin::Default,
        Some(OriginArg::Any) => Origin::Any,
        Some(OriginArg::Fn(path)) => Origin::Fn(path.clone()),
        Some(OriginArg::List(list)) => {
            if list.items.is_empty() {
                errors.spanned(
                    &list.tokens,
                    "an empty origin list would refuse every browser; list the allowed \
                     origins (`[\"https://example.com\"]`), or write `origin = any` to allow \
                     all",
                );
                return None;
            }
            let mut patterns = Vec::new();
            for lit in &list.items {
                let value = lit.value();
                if let Err(reason) = origin_pattern(&value) {
                    errors.at(
                        lit.span(),
                        format!(
                            "invalid origin pattern `{value}`: {reason} (e.g. \
                             \"https://example.com\", \"https://*.example.com\", \
                             \"http://localhost:3000\")"
                        ),
                    );
                } else {
                    patterns.push(value);
                }
            }
            Origin::List(patterns)
        }
    })
}

/// The rules of `ws_controller::origin::OriginAllowList`, from the grammar both crates share.
fn origin_pattern(pattern: &str) -> Result<(), &'static str> {
    ws_controller_origin::Pattern::parse(pattern).map(drop)
}

/// `compression_window_bits`: 9 to 15, and only with `compression = context_takeover` (the
/// lean mode keeps no window between messages, so it has none to size).
fn compression_window_bits(args: &Args, errors: &mut Errors) -> Option<u64> {
    let arg = args.compression_window_bits.as_ref()?;
    let takeover = args
        .compression
        .as_ref()
        .is_some_and(|c| c.value == crate::attr::CompressionArg::ContextTakeover);
    if !takeover {
        errors.at(
            arg.key.span(),
            "`compression_window_bits` sizes the window kept between messages: it needs \
             `compression = context_takeover`",
        );
        return None;
    }
    match arg.value.base10_parse::<u64>() {
        Ok(bits @ 9..=15) => Some(bits),
        _ => {
            errors.at(
                arg.value.span(),
                "`compression_window_bits` is 9 to 15 (a window of 2^bits bytes; zlib cannot \
                 compress raw deflate with 8)",
            );
            None
        }
    }
}

/// `compression_level`: zlib's 0 to 9, and only with compression on (it sets how what is
/// sent is compressed).
fn compression_level(args: &Args, errors: &mut Errors) -> Option<u64> {
    let arg = args.compression_level.as_ref()?;
    let on = args
        .compression
        .as_ref()
        .is_some_and(|c| c.value != crate::attr::CompressionArg::Off);
    if !on {
        errors.at(
            arg.key.span(),
            "`compression_level` sets how messages are compressed: it needs `compression = on` \
             or `compression = context_takeover`",
        );
        return None;
    }
    match arg.value.base10_parse::<u64>() {
        Ok(level @ 0..=9) => Some(level),
        _ => {
            errors.at(
                arg.value.span(),
                "`compression_level` is zlib's level, 0 (no compression) to 9 (smallest and \
                 slowest); 1 is the fastest that compresses, 6 the default",
            );
            None
        }
    }
}

/// `rate_limit_messages` is a `u32` in the runtime.
fn fits_u32(n: u64, arg: Option<&Keyed<syn::LitInt>>, errors: &mut Errors) -> Option<u64> {
    if n > u64::from(u32::MAX) {
        if let Some(arg) = arg {
            errors.at(
                arg.value.span(),
                "`rate_limit_messages` is at most 4_294_967_295 per second",
            );
        }
        return None;
    }
    Some(n)
}

/// `rate_limit_action` only means something with a limit to act on.
fn rate_limit_action(args: &Args, errors: &mut Errors) -> Option<crate::attr::RateLimitActionArg> {
    let arg = args.rate_limit_action.as_ref()?;
    if args.rate_limit_messages.is_none() && args.rate_limit_bytes.is_none() {
        errors.at(
            arg.key.span(),
            "`rate_limit_action` says what happens past a rate limit: add \
             `rate_limit_messages = ..` or `rate_limit_bytes = ..` (per second)",
        );
        return None;
    }
    Some(arg.value)
}

pub fn settings(args: &Args, errors: &mut Errors) -> Settings {
    let size = |arg: &Option<Keyed<syn::LitInt>>, errors: &mut Errors| -> Option<u64> {
        let lit = &arg.as_ref()?.value;
        let key = &arg.as_ref()?.key;
        if !matches!(lit.suffix(), "" | "usize") {
            errors.at(
                lit.span(),
                format!("`{key}` is a `usize`: remove the `{}` suffix", lit.suffix()),
            );
            return None;
        }
        match lit.base10_parse::<u64>() {
            Ok(0) => {
                errors.at(
                    lit.span(),
                    if ["max_connections", "rate_limit"]
                        .iter()
                        .any(|k| key.to_string().starts_with(k))
                    {
                        format!("`{key}` must be greater than zero (remove the key for no limit)")
                    } else {
                        format!(
                            "`{key}` must be greater than zero (remove the key for the default)"
                        )
                    },
                );
                None
            }
            Ok(n) => Some(n),
            Err(err) => {
                errors.at(lit.span(), format!("`{key}`: {err}"));
                None
            }
        }
    };
    let subprotocols = args
        .subprotocols
        .as_ref()
        .and_then(|arg| subprotocols(&arg.value, errors));
    Settings {
        max_message_size: size(&args.max_message_size, errors),
        read_buffer_size: size(&args.read_buffer_size, errors),
        write_buffer_size: size(&args.write_buffer_size, errors),
        send_queue: size(&args.send_queue, errors),
        send_queue_bytes: size(&args.send_queue_bytes, errors),
        slow_consumer: args.slow_consumer,
        compression: args.compression.as_ref().map(|arg| arg.value),
        compression_window_bits: compression_window_bits(args, errors),
        compression_level: compression_level(args, errors),
        compression_threshold: args.compression_threshold.as_ref().and_then(|arg| {
            match arg.value.base10_parse::<u64>() {
                Ok(n) => Some(n),
                Err(err) => {
                    errors.at(arg.value.span(), format!("`compression_threshold`: {err}"));
                    None
                }
            }
        }),
        close_timeout: args
            .close_timeout
            .as_ref()
            .and_then(|arg| duration(&arg.value, &arg.key, false, errors)),
        ping_interval: args
            .ping_interval
            .as_ref()
            .and_then(|arg| duration_or_off(arg, errors)),
        idle_timeout: args
            .idle_timeout
            .as_ref()
            .and_then(|arg| duration_or_off(arg, errors)),
        max_connections: size(&args.max_connections, errors),
        max_connections_per_client: size(&args.max_connections_per_client, errors),
        rate_limit_messages: size(&args.rate_limit_messages, errors)
            .and_then(|n| fits_u32(n, args.rate_limit_messages.as_ref(), errors)),
        rate_limit_bytes: size(&args.rate_limit_bytes, errors),
        rate_limit_action: rate_limit_action(args, errors),
        subprotocols,
        debug: args.debug.as_ref().map(|b| b.value),
    }
}

fn subprotocols(list: &List, errors: &mut Errors) -> Option<Vec<String>> {
    if list.items.is_empty() {
        errors.spanned(
            &list.tokens,
            "the subprotocol list is empty: list at least one (`[\"chat.v1\"]`), or remove \
             the key",
        );
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for lit in &list.items {
        let value = lit.value();
        let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if value.is_empty() || !value.chars().all(is_tchar) {
            errors.at(
                lit.span(),
                format!(
                    "`{value}` is not a valid subprotocol name: it must be an RFC 7230 token \
                     (letters, digits and ! # $ % & ' * + - . ^ _ ` | ~; no spaces, commas or \
                     slashes), e.g. \"chat.v1\""
                ),
            );
        } else if out.contains(&value) {
            errors.at(lit.span(), format!("`{value}` is listed twice; remove one"));
        } else {
            out.push(value);
        }
    }
    Some(out)
}

fn duration_or_off(arg: &Keyed<DurationArg>, errors: &mut Errors) -> Option<Option<u64>> {
    match &arg.value {
        DurationArg::Off => Some(None),
        DurationArg::Lit(lit) => duration(lit, &arg.key, true, errors).map(Some),
    }
}

/// `"10s"`, `"500ms"`, `"2m"`, `"1h"` → milliseconds.
fn duration(lit: &LitStr, key: &Ident, can_be_off: bool, errors: &mut Errors) -> Option<u64> {
    let value = lit.value();
    let text = value.as_str();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    // No space between number and unit: `"30 s"` is as wrong as `30 s` in Rust.
    let scale = match unit {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        _ => None,
    };
    let off = if can_be_off {
        "; or `off` (no quotes) to disable"
    } else {
        ""
    };
    let parsed = number.parse::<u64>().ok().zip(scale);
    let unit_after_space =
        matches!(unit.trim_start(), "ms" | "s" | "m" | "h") && unit != unit.trim_start();
    match parsed {
        None if unit_after_space && !number.is_empty() && text == text.trim() => {
            errors.at(
                lit.span(),
                format!(
                    "`{key}`: no space between the number and the unit: write \"{number}{}\"",
                    unit.trim_start()
                ),
            );
            None
        }
        None => {
            errors.at(
                lit.span(),
                format!(
                    "`{key}`: `{value}` is not a duration; write a whole number and a unit \
                     (`ms`, `s`, `m` or `h`), e.g. \"10s\", \"500ms\", \"2m\"{off}"
                ),
            );
            None
        }
        Some((0, _)) => {
            errors.at(
                lit.span(),
                format!("`{key}` must be greater than zero{off}"),
            );
            None
        }
        Some((n, scale)) => match n.checked_mul(scale) {
            Some(ms) => Some(ms),
            None => {
                errors.at(lit.span(), format!("`{key}` is too large"));
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::*;

    #[test]
    fn origin_patterns_follow_the_runtime_rules() {
        // The grammar itself is tested in `ws-controller-origin`; this checks the wiring.
        assert_eq!(origin_pattern("https://*.example.com"), Ok(()));
        assert!(origin_pattern("https://*.127.0.0.1").is_err());
    }

    fn ms(text: &str) -> Option<u64> {
        let lit = LitStr::new(text, Span::call_site());
        let key = Ident::new("close_timeout", Span::call_site());
        let mut errors = Errors::default();
        let out = duration(&lit, &key, true, &mut errors);
        assert_eq!(out.is_some(), errors.finish().is_ok());
        out
    }

    #[test]
    fn durations() {
        assert_eq!(ms("500ms"), Some(500));
        assert_eq!(ms("10s"), Some(10_000));
        assert_eq!(ms("2m"), Some(120_000));
        assert_eq!(ms("1h"), Some(3_600_000));
        for bad in [
            "0s",
            "10",
            "s",
            "1.5s",
            "10 seconds",
            "-1s",
            "",
            "30 s",
            " 1s",
            "1s ",
        ] {
            assert_eq!(ms(bad), None, "{bad}");
        }
    }
}
