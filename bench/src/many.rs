//! Phases over many connections: idle memory per connection and the binary broadcast.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{bad, encode, set_tag, Client, OP_BINARY, OP_TEXT};
use crate::load::{addr, check, Broadcast, Memory, Options, LARGE, SMALL};
use crate::ServerProcess;

/// Opens `n` connections to `path` (a few hundred handshakes at a time), each running
/// `setup` once it is open.
pub(crate) async fn open_many<F, Fut>(
    addr: SocketAddr,
    path: &'static str,
    n: usize,
    setup: F,
) -> io::Result<Vec<Client>>
where
    F: Fn(Client, u64) -> Fut,
    Fut: std::future::Future<Output = io::Result<Client>> + Send + 'static,
{
    let mut clients = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let end = n.min(next + 250);
        let handles: Vec<_> = (next..end)
            .map(|_| tokio::spawn(Client::connect(addr, path, 1024)))
            .collect();
        let mut setups = Vec::with_capacity(handles.len());
        for (i, handle) in (next..end).zip(handles) {
            let client = handle.await.map_err(io::Error::other)??;
            setups.push(setup(client, i as u64));
        }
        for result in futures_util::future::join_all(setups).await {
            clients.push(result?);
        }
        next = end;
    }
    Ok(clients)
}

/// One echo of `size` bytes on `client`, checked.
pub(crate) async fn echo_once(mut client: Client, tag: u64, size: usize) -> io::Result<Client> {
    let mut frame = encode(OP_BINARY, &crate::payload(tag, size));
    set_tag(&mut frame, tag);
    client.write(&frame).await?;
    let (opcode, range) = client.next_frame().await?;
    if opcode != OP_BINARY {
        return Err(bad(format!("expected a binary echo, got opcode {opcode}")));
    }
    check(client.payload(range), tag, &crate::pattern(size.max(8)))?;
    Ok(client)
}

pub(crate) async fn memory(server: &ServerProcess, n: usize) -> io::Result<Memory> {
    let addr = addr(server);
    // Warm the server up (runtime, router, allocator arenas) before the baseline reading.
    let warm = open_many(addr, "/echo", 10, |c, i| echo_once(c, i, SMALL)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_kib = server.status_kib("VmRSS");
    let clients = open_many(addr, "/echo", n, |c, i| echo_once(c, i, SMALL)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_kib = server.status_kib("VmRSS");
    // The same connections, idle again after each carried one 64 KiB message.
    let mut again = Vec::with_capacity(n);
    let mut it = clients.into_iter().enumerate();
    loop {
        let batch: Vec<_> = it
            .by_ref()
            .take(250)
            .map(|(i, c)| tokio::spawn(echo_once(c, i as u64, LARGE)))
            .collect();
        if batch.is_empty() {
            break;
        }
        for h in batch {
            again.push(h.await.map_err(io::Error::other)??);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_large_kib = server.status_kib("VmRSS");
    drop(again);
    drop(warm);
    Ok(Memory {
        conns: n,
        before_kib,
        idle_kib,
        after_large_kib,
    })
}

pub(crate) async fn broadcast(server: &ServerProcess, options: &Options) -> io::Result<Broadcast> {
    const SIZE: usize = 64;
    let addr = addr(server);
    let members = options.idle_conns.max(2);
    let warm = open_many(addr, "/echo", 10, |c, i| echo_once(c, i, SMALL)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(warm);
    let rss_before_kib = server.status_kib("VmRSS");
    let mut clients = open_many(addr, "/broadcast", members, |c, _| async move { Ok(c) }).await?;
    let mut trigger = clients.pop().expect("two members or more");
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    let total = (options.broadcast_rounds * options.broadcast_burst) as u64;
    let expected = crate::pattern(SIZE);
    for mut client in clients {
        let received = received.clone();
        let expected = expected.clone();
        readers.push(tokio::spawn(async move {
            for seq in 0..total {
                let (opcode, range) = client.next_frame().await?;
                if opcode != OP_BINARY {
                    return Err(bad(format!("broadcast: opcode {opcode}")));
                }
                check(client.payload(range), seq, &expected)?;
                received.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, io::Error>(client)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_conns_kib = server.status_kib("VmRSS");
    let command = encode(
        OP_TEXT,
        format!("{} {SIZE}", options.broadcast_burst).as_bytes(),
    );
    let cpu0 = server.cpu_seconds();
    let start = Instant::now();
    let mut seq = 0u64;
    for round in 1..=options.broadcast_rounds as u64 {
        trigger.write(&command).await?;
        for _ in 0..options.broadcast_burst {
            let (opcode, range) = trigger.next_frame().await?;
            if opcode != OP_BINARY {
                return Err(bad(format!("broadcast: opcode {opcode}")));
            }
            check(trigger.payload(range), seq, &expected)?;
            seq += 1;
        }
        let target = round * options.broadcast_burst as u64 * (members as u64 - 1);
        let waited = Instant::now();
        while received.load(Ordering::Relaxed) < target {
            if waited.elapsed() > Duration::from_secs(30) {
                return Err(bad("broadcast: deliveries missing after 30 s"));
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let server_cpu = server.cpu_seconds() - cpu0;
    for r in readers {
        r.await.map_err(io::Error::other)??;
    }
    Ok(Broadcast {
        members,
        deliveries: total * members as u64,
        seconds,
        server_cpu,
        rss_before_kib,
        rss_conns_kib,
        hwm_kib: server.status_kib("VmHWM"),
    })
}
