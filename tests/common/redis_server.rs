//! A real `redis-server` from `PATH` on a free port of 127.0.0.1, killed when dropped (also
//! when a test panics), and a raw RESP client for commands the hub does not send.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

impl RedisServer {
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// Starts `redis-server` on `port`, returning once it accepts connections.
    pub async fn start_on(port: u16) -> Self {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "notice"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be on PATH (apt-get install redis-server)");
        let stdout = child.stdout.take().expect("stdout");
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        // Keeps the log (and drains it, so redis never blocks on a full pipe); signals
        // once redis is ready.
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("Ready to accept connections") {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(());
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        let server = Self {
            child: Some(child),
            port,
            log,
        };
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("redis-server did not start within 10 s")
            .expect("redis-server exited before it was ready");
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Lines of the server's log containing `text`.
    pub fn log_lines(&self, text: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    /// Kills the server at once (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one command and returns the reply's text: a status, an error, an integer or a
    /// bulk string (arrays are returned raw).
    pub async fn command(&self, args: &[&[u8]]) -> String {
        command(self.port, args).await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn command(port: u16, args: &[&[u8]]) -> String {
    let mut tcp = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .expect("connect timed out")
    .expect("connect to redis");
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    tcp.write_all(&request).await.expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("reply timed out")
            .expect("read");
        assert!(n > 0, "redis closed the connection");
        reply.extend_from_slice(&buf[..n]);
        if let Some(text) = complete(&reply) {
            return text;
        }
    }
}

/// The reply's text once it is complete.
fn complete(reply: &[u8]) -> Option<String> {
    let end = reply.windows(2).position(|w| w == b"\r\n")?;
    let head = String::from_utf8_lossy(&reply[1..end]).into_owned();
    match reply[0] {
        b'$' => {
            let len: i64 = head.parse().ok()?;
            if len < 0 {
                return Some(String::new());
            }
            let body = reply.get(end + 2..end + 2 + len as usize)?;
            Some(String::from_utf8_lossy(body).into_owned())
        }
        b'*' => {
            // Enough for the small arrays the tests read (PUBSUB NUMSUB): wait for the
            // expected number of CRLF-terminated lines.
            let items: usize = head.parse().ok()?;
            let lines = reply.windows(2).filter(|w| w == b"\r\n").count();
            (lines > items * 2 - 1).then(|| String::from_utf8_lossy(reply).into_owned())
        }
        _ => Some(head),
    }
}
