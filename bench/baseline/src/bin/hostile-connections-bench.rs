//! Hostile-connection benchmark: what clients that never finish a request cost dice-server.
//! Two attacks, each against a fresh server with default settings:
//! - **unfinished headers**: connections that send a request line and then header lines without
//!   end, as fast as the server reads them (up to 400 KiB each);
//! - **partial h2c prefaces**: connections that send the first 16 bytes of the 24-byte HTTP/2
//!   preface and then wait.
//!
//! Reports the server's peak resident memory, its CPU time while the connections are held, how
//! the attacking connections ended, and whether a well-behaved `/health` request made in the
//! middle of the attack is answered (and how fast), as Markdown table rows.
//!
//! `hostile-connections-bench LABEL=<dice-server binary>...` (several builds: rows side by side)

use dice_bench::Server;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const UNFINISHED_HEADER_CONNECTIONS: usize = 300;
const UNFINISHED_HEADER_BYTES: usize = 400 * 1024;
const PARTIAL_PREFACE_CONNECTIONS: usize = 2_000;
/// How long the attacking connections are held once opened (below the 10 s header deadline).
const HOLD: Duration = Duration::from_secs(8);

#[derive(Default)]
struct Endings {
    /// The server answered something (a status line) before closing.
    answered: AtomicU64,
    /// Closed or reset without an answer.
    closed: AtomicU64,
    /// Still open when the hold ended.
    held: AtomicU64,
}

#[derive(Clone, Copy)]
enum Attack {
    UnfinishedHeaders,
    PartialPreface,
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Self::UnfinishedHeaders => "unfinished headers",
            Self::PartialPreface => "partial h2c preface",
        }
    }

    fn connections(self) -> usize {
        match self {
            Self::UnfinishedHeaders => UNFINISHED_HEADER_CONNECTIONS,
            Self::PartialPreface => PARTIAL_PREFACE_CONNECTIONS,
        }
    }
}

/// One attacking connection: sends its bytes, then waits for the server until `until`.
async fn attack_one(address: String, attack: Attack, until: Instant, endings: Arc<Endings>) {
    let Ok(mut stream) = TcpStream::connect(&address).await else {
        endings.closed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let sent = match attack {
        Attack::PartialPreface => stream.write_all(b"PRI * HTTP/2.0\r\n").await,
        Attack::UnfinishedHeaders => send_unfinished_headers(&mut stream).await,
    };
    let mut answer = [0_u8; 16];
    let ending = match sent {
        Err(_) => read_answer(&mut stream, &mut answer, until)
            .await
            .unwrap_or(0),
        Ok(()) => match read_answer(&mut stream, &mut answer, until).await {
            Some(n) => n,
            None => {
                endings.held.fetch_add(1, Ordering::Relaxed);
                return;
            }
        },
    };
    let counter = if ending > 0 {
        &endings.answered
    } else {
        &endings.closed
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

async fn send_unfinished_headers(stream: &mut TcpStream) -> std::io::Result<()> {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: dice\r\n")
        .await?;
    let line = format!("X-Filler: {}\r\n", "0123456789abcdef".repeat(63));
    let mut sent = 0;
    while sent < UNFINISHED_HEADER_BYTES {
        stream.write_all(line.as_bytes()).await?;
        sent += line.len();
    }
    Ok(())
}

/// Bytes the server answered before closing, or `None` if the connection is still open at `until`.
async fn read_answer(stream: &mut TcpStream, buffer: &mut [u8], until: Instant) -> Option<usize> {
    match tokio::time::timeout_at(until.into(), stream.read(buffer)).await {
        Ok(read) => Some(read.unwrap_or(0)),
        Err(_) => None,
    }
}

/// A well-behaved request in the middle of the attack: its status and milliseconds.
async fn health_probe(address: &str) -> String {
    let started = Instant::now();
    let answer = async {
        let mut stream = TcpStream::connect(address).await.ok()?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: dice\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.split_whitespace().nth(1).map(str::to_owned)
    };
    match tokio::time::timeout(Duration::from_secs(5), answer).await {
        Ok(Some(status)) => format!(
            "{status} in {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        ),
        Ok(None) => "no answer".to_owned(),
        Err(_) => "timed out (5 s)".to_owned(),
    }
}

async fn run(
    label: &str,
    binary: &str,
    attack: Attack,
) -> Result<String, Box<dyn std::error::Error>> {
    let server = Server::start(binary, &[])?;
    let idle_rss = server.rss_kib();
    let endings = Arc::new(Endings::default());
    let opened = Instant::now();
    let until = opened + HOLD;
    let cpu_before = server.cpu_seconds();
    let attackers: Vec<_> = (0..attack.connections())
        .map(|_| {
            tokio::spawn(attack_one(
                server.address.clone(),
                attack,
                until,
                endings.clone(),
            ))
        })
        .collect();
    let mut peak_rss = idle_rss;
    let mut probe = None;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak_rss = peak_rss.max(server.rss_kib());
        if probe.is_none() && opened.elapsed() >= HOLD / 2 {
            probe = Some(health_probe(&server.address).await);
        }
    }
    let cpu = server.cpu_seconds() - cpu_before;
    for attacker in attackers {
        let _ = attacker.await;
    }
    Ok(format!(
        "| {} | {label} | {} | {:.1} → {:.1} | {cpu:.2} | {} / {} / {} | {} |",
        attack.name(),
        attack.connections(),
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        endings.answered.load(Ordering::Relaxed),
        endings.closed.load(Ordering::Relaxed),
        endings.held.load(Ordering::Relaxed),
        probe.unwrap_or_default(),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let builds: Vec<(String, String)> = std::env::args()
        .skip(1)
        .map(|arg| {
            let (label, binary) = arg.split_once('=').unwrap_or(("dice-server", &arg));
            (label.to_owned(), binary.to_owned())
        })
        .collect();
    if builds.is_empty() {
        return Err("usage: hostile-connections-bench LABEL=<dice-server>...".into());
    }
    println!(
        "| attack | build | connections | RSS idle → peak MiB | server CPU s in {} s | answered / closed / held | /health meanwhile |",
        HOLD.as_secs()
    );
    println!("|---|---|---:|---:|---:|---:|---|");
    for attack in [Attack::UnfinishedHeaders, Attack::PartialPreface] {
        for (label, binary) in &builds {
            println!("{}", run(label, binary, attack).await?);
        }
    }
    Ok(())
}
