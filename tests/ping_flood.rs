//! A ping flood: thousands of pings from a client that does not read the pongs. The server
//! must answer (or close) without holding more than it must, and owes only the latest
//! ping's pong (RFC 6455 §5.5.3): at most 16 pongs per batch of replies, the last one
//! answering the last ping. This is the only test in its binary so that the process's
//! resident memory reflects the server, not other tests.

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use common::{client_frame, within, Echo, Req, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test]
async fn a_ping_flood_is_answered_without_growing_memory() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ws_controller::serve(listener, ws_controller::route("/ws", Echo)).into_future());
    let (_, raw) = common::raw_upgrade(addr, &Req::upgrade("/ws")).await;
    let common::RawConn { stream, buf } = raw;
    let (mut read_half, mut write_half) = stream.into_split();

    const PINGS: usize = 20_000;
    // Each ping's payload starts with its number.
    let payload = |i: usize| {
        let mut payload = [0x55u8; 125];
        payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
        payload
    };
    let rss_before = common::status_kib("VmRSS:");
    // The flood is written by its own task: the server answers pongs only as fast as we
    // read them, so a writer that also had to read would deadlock itself, not the server.
    let writer = tokio::spawn(async move {
        let mut burst = Vec::new();
        for b in 0..PINGS / 100 {
            burst.clear();
            for i in 0..100 {
                burst.extend_from_slice(&client_frame(OP_PING, &payload(b * 100 + i)));
            }
            write_half.write_all(&burst).await.unwrap();
        }
        write_half
            .write_all(&client_frame(OP_TEXT, b"after the flood"))
            .await
            .unwrap();
        write_half
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Bytes that arrived with the 101 come first.
    let mut pending = buf;
    let mut pongs = 0usize;
    let mut last_answered = None;
    let echoed = loop {
        let frame = loop {
            if let Some((frame, used)) = parse_frame(&pending) {
                pending.drain(..used);
                break frame;
            }
            let mut chunk = [0u8; 16384];
            let n = within(
                "read",
                tokio::io::AsyncReadExt::read(&mut read_half, &mut chunk),
            )
            .await
            .unwrap();
            assert!(n > 0, "the server closed the flooded connection");
            pending.extend_from_slice(&chunk[..n]);
        };
        match frame.0 {
            OP_PONG => {
                let number = u64::from_be_bytes(frame.1[..8].try_into().unwrap()) as usize;
                assert_eq!(frame.1, payload(number), "a pong echoes its ping's payload");
                assert!(last_answered < Some(number), "pongs in order");
                last_answered = Some(number);
                pongs += 1;
            }
            OP_TEXT => break frame.1,
            OP_CLOSE => panic!("closed during a ping flood: {:?}", frame.1),
            other => panic!("unexpected opcode {other}"),
        }
    };
    assert_eq!(echoed, b"after the flood");
    // The text came after the last ping: that ping's pong came before the echo.
    assert_eq!(last_answered, Some(PINGS - 1));
    println!("{PINGS} pings answered by {pongs} pongs");
    assert!(
        pongs < PINGS / 2,
        "{pongs} pongs for {PINGS} pings: not coalesced"
    );
    let mut write_half = within("writer", writer).await.unwrap();
    write_half
        .write_all(&client_frame(OP_TEXT, b"bye"))
        .await
        .unwrap();

    // The server keeps at most one pending pong: the flood leaves no trace in memory.
    let growth = common::status_kib("VmRSS:").saturating_sub(rss_before);
    assert!(
        growth < 32 << 10,
        "resident memory grew by {growth} KiB during the flood"
    );
    let mut ws = common::connect(addr, "/ws").await;
    ws.send(WsMessage::text("still here")).await.unwrap();
    let echoed = within("echo", ws.next()).await.unwrap().unwrap();
    assert_eq!(echoed, WsMessage::text("still here"));
}

/// One unmasked server frame from the front of `data`: ((opcode, payload), bytes used).
fn parse_frame(data: &[u8]) -> Option<((u8, Vec<u8>), usize)> {
    if data.len() < 2 {
        return None;
    }
    let (len, header) = match data[1] & 0x7f {
        126 if data.len() >= 4 => (usize::from(u16::from_be_bytes([data[2], data[3]])), 4),
        126 => return None,
        127 => panic!("unexpectedly large server frame"),
        n => (usize::from(n), 2),
    };
    if data.len() < header + len {
        return None;
    }
    Some((
        (data[0] & 0x0f, data[header..header + len].to_vec()),
        header + len,
    ))
}
