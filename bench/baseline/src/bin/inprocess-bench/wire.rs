//! The real connection path in one process: a server on a loopback socket and one client
//! connection sending pipelined requests, so hyper's connection handling, dice-server's
//! connection builder and header read deadline are measured along with the router.

use std::io;
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Requests written before the client reads their answers (wrk keeps one in flight per
/// connection; pipelining keeps this single-threaded loop from measuring round trips).
pub const PIPELINE: usize = 16;
const REQUEST: &[u8] = b"GET /roll?die=fair HTTP/1.1\r\nhost: bench\r\n\r\n";

/// One keep-alive connection whose buffers are allocated once, so every allocation counted
/// while it runs is the server's.
pub struct WireClient {
    stream: TcpStream,
    batch: Vec<u8>,
    received: Vec<u8>,
}

impl WireClient {
    pub async fn connect(address: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            batch: REQUEST.repeat(PIPELINE),
            received: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends `count` requests (rounded up to whole batches) and reads every `200` answer.
    pub async fn roll(&mut self, count: u32) -> io::Result<u32> {
        let batches = (count as usize).div_ceil(PIPELINE);
        for _ in 0..batches {
            self.stream.write_all(&self.batch).await?;
            let mut answered = 0;
            while answered < PIPELINE {
                answered += self.complete_responses()?;
                if answered < PIPELINE {
                    self.fill().await?;
                }
            }
        }
        Ok((batches * PIPELINE) as u32)
    }

    /// Reads what has arrived. `try_read` rather than `read`: after a short read, tokio's
    /// `read` assumes the socket is drained and waits for the next edge, which never comes when
    /// the rest was already queued on this loopback socket (the benchmark hung there).
    async fn fill(&mut self) -> io::Result<()> {
        let start = self.received.len();
        self.received.resize(start + 16 * 1024, 0);
        let read = loop {
            self.stream.readable().await?;
            match self.stream.try_read(&mut self.received[start..]) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                result => break result,
            }
        };
        let read = read.inspect_err(|_| self.received.truncate(start))?;
        self.received.truncate(start + read);
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Removes the complete responses at the front of the buffer and counts them.
    fn complete_responses(&mut self) -> io::Result<usize> {
        let mut consumed = 0;
        let mut complete = 0;
        while let Some(length) = response_length(&self.received[consumed..])? {
            consumed += length;
            complete += 1;
        }
        self.received.drain(..consumed);
        Ok(complete)
    }
}

/// The length of the first response in `bytes` once it has fully arrived.
fn response_length(bytes: &[u8]) -> io::Result<Option<usize>> {
    let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..head_end]).map_err(io::Error::other)?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!("unexpected answer: {head}")));
    }
    let body = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| io::Error::other("no content-length"))?;
    let total = head_end + 4 + body;
    Ok((bytes.len() >= total).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_split_at_their_content_length() {
        let one = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n{1}";
        let two = [&one[..], &one[..], b"HTTP/1.1 200"].concat();
        assert_eq!(response_length(&two).ok().flatten(), Some(one.len()));
        assert_eq!(response_length(&one[..one.len() - 1]).ok().flatten(), None);
        assert!(response_length(b"HTTP/1.1 503 x\r\n\r\n").is_err());
    }
}
