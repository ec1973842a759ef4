//! permessage-deflate over real sockets: negotiation for every shape of offer in each mode,
//! compressed frames checked with an independent inflater (flate2), the crate's own client,
//! and the limits (decompression bombs).

mod common;

use std::fmt::Write;

use flate2::{Compress, Compression as Level, Decompress, FlushCompress, FlushDecompress};
use ws_controller::protocol::deflate::DeflateConfig;
use ws_controller::test::TestServer;
use ws_controller::{Compression, Conn, Settings};

use common::*;

/// An echo server with `settings` at `/ws` (pings off, so raw reads see only echoes).
async fn echo(settings: Settings) -> ScriptServer {
    let settings = settings.ping_interval(None).idle_timeout(None);
    serve_script(settings, |mut conn: Conn| async move {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    })
    .await
}

fn mode(compression: Compression) -> Settings {
    Settings::default().compression(compression)
}

/// The server's `Sec-WebSocket-Extensions` answer to `offers` (one header line each).
async fn answer(server: &ScriptServer, offers: &[&str]) -> Option<String> {
    let mut request = Req::upgrade("/ws");
    for offer in offers {
        request = request.header("sec-websocket-extensions", offer);
    }
    let (response, _raw) = raw_upgrade(server.addr, &request).await;
    assert_eq!(response.status, 101);
    response
        .header("sec-websocket-extensions")
        .map(str::to_owned)
}

#[tokio::test]
async fn negotiation_answers_every_shape_of_offer() {
    const LEAN: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    let off = echo(mode(Compression::Off)).await;
    let lean = echo(mode(Compression::On)).await;
    let takeover = echo(mode(Compression::ContextTakeover { window_bits: 12 })).await;
    let cases: &[(&ScriptServer, &[&str], Option<&str>)] = &[
        (&off, &["permessage-deflate"], None),
        (&lean, &[], None),
        (&lean, &["x-webkit-deflate-frame"], None),
        (&lean, &["permessage-deflate"], Some(LEAN)),
        // What browsers send.
        (&lean, &["permessage-deflate; client_max_window_bits"], Some(LEAN)),
        (&lean, &["x-unknown, permessage-deflate; client_max_window_bits"], Some(LEAN)),
        (&lean, &["x-unknown", "permessage-deflate"], Some(LEAN)),
        // An offer the server cannot honour is declined; the next one is taken.
        (
            &lean,
            &["permessage-deflate; server_max_window_bits=8, permessage-deflate"],
            Some(LEAN),
        ),
        (&lean, &["permessage-deflate; server_max_window_bits=8"], None),
        (&lean, &["permessage-deflate; unknown_param"], None),
        (&lean, &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], None),
        (&lean, &["permessage-deflate; client_max_window_bits=16"], None),
        (&lean, &["permessage-deflate; server_no_context_takeover=1"], None),
        (
            &lean,
            &["permessage-deflate; server_max_window_bits=10"],
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"),
        ),
        (
            &lean,
            &["permessage-deflate; client_max_window_bits=\"10\""],
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10"),
        ),
        (
            &takeover,
            &["permessage-deflate; client_max_window_bits"],
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
        ),
        (&takeover, &["permessage-deflate"], Some("permessage-deflate; server_max_window_bits=12")),
    ];
    for (server, offers, expected) in cases {
        assert_eq!(
            answer(server, offers).await.as_deref(),
            *expected,
            "offers {offers:?}"
        );
    }
}

/// Raw deflate of `data` with a sync flush and the 4-byte tail removed (RFC 7692 §7.2.1).
fn deflate(compressor: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut input = data;
    loop {
        let before = (compressor.total_in(), compressor.total_out());
        out.reserve(4096);
        compressor
            .compress_vec(input, &mut out, FlushCompress::Sync)
            .expect("deflate");
        input = &input[(compressor.total_in() - before.0) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn inflate(decompressor: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(input.len() * 8);
    loop {
        let consumed = decompressor.total_in();
        out.reserve(64 << 10);
        decompressor
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .expect("inflate");
        input.drain(..(decompressor.total_in() - consumed) as usize);
        if input.is_empty() {
            return out;
        }
    }
}

fn json_like(n: usize) -> String {
    let mut text = String::new();
    for i in 0.. {
        if text.len() >= n {
            break;
        }
        let _ = write!(
            text,
            r#"{{"id":{i},"name":"item {i}","price":{}.5,"tags":["a","b"]}},"#,
            i * 3
        );
    }
    text.truncate(n);
    text
}

#[tokio::test]
async fn lean_mode_compresses_each_message_on_its_own() {
    let server = echo(mode(Compression::On)).await;
    let request = Req::upgrade("/ws").header("sec-websocket-extensions", "permessage-deflate");
    let (_, mut raw) = raw_upgrade(server.addr, &request).await;
    let text = json_like(4096);
    for _ in 0..2 {
        // The client may keep its context; it said nothing about its own takeover, but the
        // server asked for none, so a fresh compressor per message is what it may send.
        let mut compressor = Compress::new_with_window_bits(Level::default(), false, 15);
        let payload = deflate(&mut compressor, text.as_bytes());
        raw.send_frame(&frame(true, 4, OP_TEXT, &payload, Some(MASK)))
            .await;
        let echoed = raw.read_frame().await.expect("echo");
        assert_eq!((echoed.opcode, echoed.rsv, echoed.fin), (OP_TEXT, 4, true));
        assert!(
            echoed.payload.len() < text.len() / 3,
            "{} bytes",
            echoed.payload.len()
        );
        // No context takeover: every message inflates with a fresh inflater.
        let mut decompressor = Decompress::new_with_window_bits(false, 15);
        assert_eq!(inflate(&mut decompressor, &echoed.payload), text.as_bytes());
    }
    // Below the threshold: sent as is.
    raw.send_frame(&client_frame(OP_TEXT, b"short")).await;
    let echoed = raw.read_frame().await.expect("echo");
    assert_eq!((echoed.rsv, echoed.payload.as_slice()), (0, &b"short"[..]));
    // Control frames are never compressed, and RSV1 on one is a violation.
    raw.send_frame(&frame(true, 4, OP_PING, b"", Some(MASK)))
        .await;
    assert_eq!(raw.expect_close().await, (1002, "Protocol error".into()));
}

/// `Settings::compression_level` decides what the server sends: each echo is exactly what
/// zlib gives at that level from a fresh state (the lean mode), and inflates to the text.
#[tokio::test]
async fn the_compression_level_is_applied_to_what_the_server_sends() {
    let text = json_like(16 << 10);
    let mut sizes = Vec::new();
    for level in [0u8, 1, 9] {
        let server = echo(mode(Compression::On).compression_level(level)).await;
        let request = Req::upgrade("/ws").header("sec-websocket-extensions", "permessage-deflate");
        let (_, mut raw) = raw_upgrade(server.addr, &request).await;
        let mut compressor = Compress::new_with_window_bits(Level::default(), false, 15);
        let payload = deflate(&mut compressor, text.as_bytes());
        raw.send_frame(&frame(true, 4, OP_TEXT, &payload, Some(MASK)))
            .await;
        let echoed = raw.read_frame().await.expect("echo");
        assert_eq!((echoed.opcode, echoed.rsv), (OP_TEXT, 4), "level {level}");
        let mut expected = Compress::new_with_window_bits(Level::new(level.into()), false, 15);
        assert_eq!(
            echoed.payload,
            deflate(&mut expected, text.as_bytes()),
            "level {level}"
        );
        let mut decompressor = Decompress::new_with_window_bits(false, 15);
        assert_eq!(inflate(&mut decompressor, &echoed.payload), text.as_bytes());
        sizes.push(echoed.payload.len());
    }
    assert!(sizes[0] > text.len(), "level 0 stores: {sizes:?}");
    assert!(sizes[2] < sizes[1] && sizes[1] < sizes[0], "{sizes:?}");
}

#[tokio::test]
async fn context_takeover_carries_the_window_across_messages() {
    let server = echo(mode(Compression::ContextTakeover { window_bits: 15 })).await;
    let request = Req::upgrade("/ws").header("sec-websocket-extensions", "permessage-deflate");
    let (response, mut raw) = raw_upgrade(server.addr, &request).await;
    assert_eq!(
        response.header("sec-websocket-extensions"),
        Some("permessage-deflate")
    );
    let text = json_like(2048);
    let mut compressor = Compress::new_with_window_bits(Level::default(), false, 15);
    let mut decompressor = Decompress::new_with_window_bits(false, 15);
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let payload = deflate(&mut compressor, text.as_bytes());
        raw.send_frame(&frame(true, 4, OP_TEXT, &payload, Some(MASK)))
            .await;
        let echoed = raw.read_frame().await.expect("echo");
        assert_eq!(echoed.rsv, 4);
        assert_eq!(inflate(&mut decompressor, &echoed.payload), text.as_bytes());
        sizes.push(echoed.payload.len());
    }
    assert!(
        sizes[1] < sizes[0] / 4,
        "the second message refers to the first: {sizes:?}"
    );
}

#[tokio::test]
async fn fragmented_compressed_message_has_rsv1_on_the_first_frame_only() {
    let server = echo(mode(Compression::On)).await;
    let request = Req::upgrade("/ws").header("sec-websocket-extensions", "permessage-deflate");
    let (_, mut raw) = raw_upgrade(server.addr, &request).await;
    let text = json_like(3000);
    let mut compressor = Compress::new_with_window_bits(Level::default(), false, 15);
    let payload = deflate(&mut compressor, text.as_bytes());
    let (a, b) = payload.split_at(payload.len() / 2);
    raw.send_frame(&frame(false, 4, OP_TEXT, a, Some(MASK)))
        .await;
    raw.send_frame(&frame(true, 0, OP_CONT, b, Some(MASK)))
        .await;
    let echoed = raw.read_frame().await.expect("echo");
    let mut decompressor = Decompress::new_with_window_bits(false, 15);
    assert_eq!(inflate(&mut decompressor, &echoed.payload), text.as_bytes());
    // RSV1 on a continuation frame is a violation.
    let payload = deflate(&mut compressor, text.as_bytes());
    raw.send_frame(&frame(false, 4, OP_TEXT, &payload[..10], Some(MASK)))
        .await;
    raw.send_frame(&frame(true, 4, OP_CONT, &payload[10..], Some(MASK)))
        .await;
    assert_eq!(raw.expect_close().await, (1002, "Protocol error".into()));
}

#[tokio::test]
async fn a_decompression_bomb_closes_with_1009() {
    let server = echo(mode(Compression::On).max_message_size(64 << 10)).await;
    let request = Req::upgrade("/ws").header("sec-websocket-extensions", "permessage-deflate");
    let (_, mut raw) = raw_upgrade(server.addr, &request).await;
    // 16 MiB of zeros deflate to about 16 KiB.
    let mut compressor = Compress::new_with_window_bits(Level::best(), false, 15);
    let bomb = deflate(&mut compressor, &vec![0u8; 16 << 20]);
    assert!(bomb.len() < 32 << 10, "{} bytes", bomb.len());
    raw.send_frame(&frame(true, 4, OP_BINARY, &bomb, Some(MASK)))
        .await;
    assert_eq!(raw.expect_close().await, (1009, "Message too big".into()));
}

#[tokio::test]
async fn corrupt_compressed_data_closes_with_1007() {
    let server = echo(mode(Compression::On)).await;
    let request = Req::upgrade("/ws").header("sec-websocket-extensions", "permessage-deflate");
    let (_, mut raw) = raw_upgrade(server.addr, &request).await;
    // Block type 3 is reserved in DEFLATE (RFC 1951 §3.2.3).
    raw.send_frame(&frame(true, 4, OP_BINARY, &[0xff, 0xff, 0xff], Some(MASK)))
        .await;
    assert_eq!(
        raw.expect_close().await,
        (1007, "Invalid compressed data".into())
    );
}

#[tokio::test]
async fn rsv1_without_negotiation_is_a_protocol_error() {
    let server = echo(mode(Compression::On)).await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    raw.send_frame(&frame(true, 4, OP_TEXT, b"x", Some(MASK)))
        .await;
    assert_eq!(raw.expect_close().await, (1002, "Protocol error".into()));
}

#[tokio::test]
async fn the_crate_client_round_trips_compressed_messages_in_each_mode() {
    for (compression, offer) in [
        (Compression::On, DeflateConfig::lean()),
        (
            Compression::ContextTakeover { window_bits: 10 },
            DeflateConfig::context_takeover(10),
        ),
        (
            Compression::ContextTakeover { window_bits: 15 },
            DeflateConfig::lean(),
        ),
    ] {
        let settings = mode(compression).ping_interval(None);
        let app = ws_controller::route("/echo", EchoWith(settings));
        let server = TestServer::bind(app).await.unwrap();
        let mut client = server
            .request("/echo")
            .compression(offer)
            .connect()
            .await
            .unwrap();
        assert!(client.compression().is_some(), "{compression:?}");
        for n in [0, 10, 1000, 5000, 60_000] {
            let text = json_like(n);
            client.send_text(text.clone()).await.unwrap();
            assert_eq!(
                client.recv_text().await.unwrap(),
                text,
                "{compression:?} {n}"
            );
            let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            client.send_binary(data.clone()).await.unwrap();
            assert_eq!(
                client.recv_binary().await.unwrap(),
                data,
                "{compression:?} {n}"
            );
        }
        client
            .close(ws_controller::CloseCode::NORMAL_CLOSURE, "done")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn invalid_utf8_fails_inside_a_compressed_message() {
    let server = echo(mode(Compression::On)).await;
    let request = Req::upgrade("/ws").header("sec-websocket-extensions", "permessage-deflate");
    let (_, mut raw) = raw_upgrade(server.addr, &request).await;
    let mut compressor = Compress::new_with_window_bits(Level::default(), false, 15);
    let payload = deflate(&mut compressor, b"valid, then \xff and more");
    raw.send_frame(&frame(true, 4, OP_TEXT, &payload, Some(MASK)))
        .await;
    assert_eq!(raw.expect_close().await, (1007, "Invalid UTF-8".into()));
}

/// An echo controller with the given settings.
struct EchoWith(Settings);

impl ws_controller::Controller for EchoWith {
    type Extract = ();

    fn settings(&self) -> Settings {
        self.0.clone()
    }

    async fn serve(&self, mut conn: Conn, (): ()) -> Result<(), ws_controller::Error> {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    }
}
