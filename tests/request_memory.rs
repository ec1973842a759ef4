//! What 2,000 idle connections cost when each upgrade request carried ~360 KB of headers:
//! a connection keeps only `Settings::kept_headers_bytes` (8 KiB) of them. Alone in its
//! binary so that the process's resident memory reflects this test. Prints the figure and
//! asserts only a generous bound; `KEPT_HEADERS_BYTES=1000000000` measures what keeping
//! every header cost.

mod common;

use std::future::IntoFuture;

use common::{RawConn, Req};
use tokio::net::TcpListener;
use ws_controller::{Conn, Controller, Error, Settings};

struct Idle(usize);

impl Controller for Idle {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default().kept_headers_bytes(self.0)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            conn.recv().await?;
        }
    }
}

const CONNECTIONS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_keep_a_bounded_copy_of_huge_request_heads() {
    let kept = std::env::var("KEPT_HEADERS_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(Settings::default().kept_headers_bytes);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = ws_controller::route("/ws", Idle(kept));
    let server = ws_controller::serve(listener, app).max_request_head(400 << 10);
    tokio::spawn(server.into_future());

    // 36 headers of 10 KB: ~360 KB, under hyper's header count and the head limit above.
    let filler = "h".repeat(10_000);
    let request = (0..36)
        .fold(Req::upgrade("/ws"), |r, i| {
            r.header(&format!("x-filler-{i}"), &filler)
        })
        .to_bytes();
    let rss_before = common::status_kib("VmRSS:");
    let mut open = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS / 100 {
        let batch = (0..100).map(|_| async {
            let mut conn = RawConn::connect(addr).await;
            conn.write(&request).await;
            assert_eq!(conn.read_response().await.status, 101);
            conn
        });
        open.extend(futures_util::future::join_all(batch).await);
    }
    let growth_mib = common::status_kib("VmRSS:").saturating_sub(rss_before) / 1024;
    println!(
        "{CONNECTIONS} connections with {} KB request heads, kept_headers_bytes = {kept}: \
         RSS grew by {growth_mib} MiB",
        request.len() / 1000
    );
    if kept == Settings::default().kept_headers_bytes {
        // 8 KiB of headers and ~7 KiB of connection each, plus the allocator's slack.
        assert!(growth_mib < 200, "RSS grew by {growth_mib} MiB");
    }
    drop(open);
}
