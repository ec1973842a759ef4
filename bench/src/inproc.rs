//! The library's own cost per message, without the kernel: servers on in-memory streams
//! (`tokio::io::duplex`) in one current-thread runtime, with the same client for all.
//!
//! Over TCP most of a 32-byte ping-pong's CPU is the kernel's (two syscalls and the
//! loopback's TCP work), the same for every server. Here there are no syscalls: a round
//! trip costs the client, the in-memory stream, and the server's own work. A raw byte echo
//! (no WebSocket at all) gives the floor; what a server costs above it is its overhead.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use ws_controller::{serve_connection, Conn, Controller, Error, Negotiated};

use crate::servers::{fast_echo, Echo};

/// The message size, as in the TCP ping-pong.
const SIZE: usize = 32;

pub struct Options {
    pub conns: usize,
    pub messages: usize,
    pub repeat: usize,
    /// Run only the macro server (for profiling).
    pub macro_only: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self {
            conns: 50,
            messages: 20_000,
            repeat: 5,
            macro_only: false,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--macro-only" {
                options.macro_only = true;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let value: usize = value
                .parse()
                .map_err(|_| format!("{flag}: not a number: {value}"))?;
            match flag.as_str() {
                "--conns" => options.conns = value.max(1),
                "--messages" => options.messages = value.max(1),
                "--repeat" => options.repeat = value.max(1),
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(options)
    }
}

#[derive(Clone, Copy)]
enum Server {
    Raw,
    Macro,
    Fastwebsockets,
    Hand,
}

impl Server {
    const ALL: [Self; 4] = [Self::Raw, Self::Macro, Self::Fastwebsockets, Self::Hand];

    fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw byte echo",
            Self::Macro => "macro",
            Self::Fastwebsockets => "fastwebsockets",
            Self::Hand => "hand-written Controller (recv/send loop, no macro)",
        }
    }
}

/// The echo loop written by hand on the runtime, to show what the macro's loop adds.
struct HandEcho;

impl Controller for HandEcho {
    type Extract = ();

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    }
}

/// Runs every server `repeat` times, interleaved, and prints the medians.
pub fn run(options: &Options) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); Server::ALL.len()];
    for _ in 0..options.repeat {
        for (i, server) in Server::ALL.into_iter().enumerate() {
            if options.macro_only && !matches!(server, Server::Macro) {
                continue;
            }
            let elapsed = runtime.block_on(round(server, options))?;
            let per_message = elapsed.as_secs_f64() * 1e9 / total(options) as f64;
            times[i].push(per_message);
        }
    }
    if options.macro_only {
        println!("macro: {:.0} ns per round trip", median(&mut times[1]));
        return Ok(());
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    let floor = medians[0];
    println!(
        "\n# In-process 32 B ping-pong ({} connections x {} round trips, median of {} runs, one thread)\n",
        options.conns, options.messages, options.repeat
    );
    println!("| server | ns per round trip | above the raw echo |");
    println!("|---|---|---|");
    for (server, ns) in Server::ALL.iter().zip(&medians) {
        println!("| {} | {ns:.0} | {:.0} |", server.name(), ns - floor);
    }
    let ours = medians[1] - floor;
    let theirs = medians[2] - floor;
    println!(
        "\nmacro / fastwebsockets, cost above the raw echo: {:.2}",
        ours / theirs
    );
    Ok(())
}

fn total(options: &Options) -> usize {
    options.conns * options.messages
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One run: every connection's client does its round trips; returns the time they took.
async fn round(server: Server, options: &Options) -> std::io::Result<Duration> {
    let mut clients = Vec::with_capacity(options.conns);
    let mut servers = Vec::with_capacity(options.conns);
    for _ in 0..options.conns {
        let (client, stream) = tokio::io::duplex(64 << 10);
        servers.push(tokio::spawn(serve(server, stream)));
        clients.push(client);
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(ping_pong(client, options.messages, server)))
        .collect();
    for task in tasks {
        task.await.map_err(std::io::Error::other)??;
    }
    let elapsed = started.elapsed();
    for server in servers {
        server.await.map_err(std::io::Error::other)?;
    }
    Ok(elapsed)
}

async fn serve(server: Server, stream: DuplexStream) {
    match server {
        Server::Raw => raw_echo(stream).await,
        Server::Macro => {
            let settings = <Echo as Controller>::settings(&Echo);
            let request = http::Request::new(()).into_parts().0;
            serve_connection::<Echo, (), _>(
                &Echo,
                &settings,
                stream,
                request,
                (),
                Negotiated::default(),
            )
            .await;
        }
        Server::Hand => {
            let settings = <Echo as Controller>::settings(&Echo);
            let request = http::Request::new(()).into_parts().0;
            let negotiated = Negotiated::default();
            serve_connection::<HandEcho, (), _>(
                &HandEcho,
                &settings,
                stream,
                request,
                (),
                negotiated,
            )
            .await;
        }
        Server::Fastwebsockets => fast_echo(stream).await,
    }
}

/// The floor: answers each client frame with the bytes a server frame of the same payload
/// takes, doing no WebSocket work (the client's frames are short, unfragmented, masked).
async fn raw_echo(mut stream: DuplexStream) {
    let mut buf = [0u8; 2 + 4 + 125];
    let reply = server_frame();
    loop {
        if stream.read_exact(&mut buf[..2]).await.is_err() {
            return;
        }
        let len = usize::from(buf[1] & 0x7f);
        if stream.read_exact(&mut buf[2..6 + len]).await.is_err() {
            return;
        }
        if buf[0] == 0x88 {
            let _ = stream.write_all(&[0x88, 0x00]).await;
            return;
        }
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn server_frame() -> Vec<u8> {
    let mut frame = vec![0x81, SIZE as u8];
    frame.extend(std::iter::repeat_n(b'x', SIZE));
    frame
}

/// `messages` round trips of a masked 32-byte text frame, each reply checked, then a close.
async fn ping_pong(
    mut stream: DuplexStream,
    messages: usize,
    server: Server,
) -> std::io::Result<()> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81, 0x80 | SIZE as u8];
    frame.extend_from_slice(&mask);
    frame.extend((0..SIZE).map(|i| b'x' ^ mask[i % 4]));
    let expected = server_frame();
    let mut reply = [0u8; SIZE + 2];
    for _ in 0..messages {
        stream.write_all(&frame).await?;
        stream.read_exact(&mut reply).await?;
        if reply[..] != expected[..] {
            return Err(std::io::Error::other(format!(
                "{}: unexpected reply {reply:?}",
                server.name()
            )));
        }
    }
    // A close frame (code 1000), masked with a zero mask; wait for the server's close.
    stream
        .write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
        .await?;
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    Ok(())
}
