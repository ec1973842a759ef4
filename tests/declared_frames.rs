//! 300 connections that each declare a 16 MiB frame and send 100 bytes of it: the server's
//! memory follows the bytes that arrived, not the lengths declared. (With tungstenite, which
//! reserved a frame's declared length, this grew the process's address space by 4.8 GB.)
//! Alone in its binary so that the process's memory reflects the server.

mod common;

use std::future::IntoFuture;

use common::{raw_upgrade, within, RawConn, Req, MASK, OP_BINARY};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use ws_controller::{Conn, Controller, Error, Settings};

struct Echo;

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default().max_message_size(32 << 20)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_lengths_reserve_nothing() {
    const CONNECTIONS: usize = 300;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ws_controller::serve(listener, ws_controller::route("/ws", Echo)).into_future());
    // One connection first, so the runtime's own one-time allocations are in the baseline.
    let (_, mut warm) = raw_upgrade(addr, &Req::upgrade("/ws")).await;
    warm.send_frame(&common::client_frame(OP_BINARY, b"warm"))
        .await;
    assert_eq!(
        within("warm-up echo", warm.read_frame())
            .await
            .unwrap()
            .payload,
        b"warm"
    );

    let (size_before, rss_before) = (common::status_kib("VmSize:"), common::status_kib("VmRSS:"));
    let mut held: Vec<RawConn> = Vec::with_capacity(CONNECTIONS);
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&(16u64 << 20).to_be_bytes());
    head.extend_from_slice(&MASK);
    head.extend_from_slice(&[0u8; 100]);
    for _ in 0..CONNECTIONS {
        let (_, mut raw) = raw_upgrade(addr, &Req::upgrade("/ws")).await;
        raw.stream.write_all(&head).await.unwrap();
        held.push(raw);
    }
    // Each connection has a task of its own, woken by its bytes: by the time a fresh
    // connection's echo comes back, the held ones have had their turns.
    let (_, mut probe) = raw_upgrade(addr, &Req::upgrade("/ws")).await;
    probe
        .send_frame(&common::client_frame(OP_BINARY, b"probe"))
        .await;
    assert_eq!(
        within("probe echo", probe.read_frame())
            .await
            .unwrap()
            .payload,
        b"probe"
    );
    let (size_after, rss_after) = (common::status_kib("VmSize:"), common::status_kib("VmRSS:"));
    let (size_growth, rss_growth) = (
        size_after.saturating_sub(size_before),
        rss_after.saturating_sub(rss_before),
    );
    eprintln!(
        "{CONNECTIONS} connections each declaring 16 MiB: VmSize +{size_growth} KiB, VmRSS +{rss_growth} KiB"
    );
    // Generous bounds (allocator arenas and thread stacks move VmSize by tens of MiB); a
    // reservation of the declared lengths would be 4.8 GB.
    assert!(size_growth < 512 << 10, "VmSize grew by {size_growth} KiB");
    assert!(rss_growth < 64 << 10, "VmRSS grew by {rss_growth} KiB");
    drop(held);
}
