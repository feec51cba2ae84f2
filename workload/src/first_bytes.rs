//! Telling HTTP/1 from cleartext HTTP/2 by a connection's first bytes: read (never polled) and
//! then replayed to hyper, and the JSON refusal an HTTP/2 client gets.

use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a new connection opened with.
#[derive(Debug)]
pub enum FirstBytes {
    /// Anything but the HTTP/2 preface; the bytes read so far are replayed first.
    Http1(Replayed),
    /// The HTTP/2 connection preface (prior knowledge, h2c).
    Http2(TcpStream),
    /// Nothing decisive within the timeout, or the client went away.
    Nothing,
}

/// Reads until the first bytes tell HTTP/1 from HTTP/2, for at most `within`. hyper's header
/// read timeout starts only once the protocol is known, so a client that connects and sends
/// nothing, or a few bytes of the HTTP/2 preface, would otherwise hold the connection forever.
///
/// The bytes are read, not peeked: a peek that sees part of the preface leaves the socket
/// readable, so waiting for the rest meant polling (every 10 ms: 2,000 partial prefaces cost
/// 4.1 CPU-seconds per 8 s). A read waits for new bytes at no cost.
pub async fn first_bytes(mut stream: TcpStream, within: Duration) -> FirstBytes {
    let mut start = [0_u8; HTTP2_PREFACE.len()];
    let mut filled = 0;
    let sniff = async {
        loop {
            match stream.read(&mut start[filled..]).await {
                Ok(0) | Err(_) => return Protocol::Unknown,
                Ok(n) => filled += n,
            }
            if start[..filled] != HTTP2_PREFACE[..filled] {
                return Protocol::Http1;
            }
            if filled == HTTP2_PREFACE.len() {
                return Protocol::Http2;
            }
        }
    };
    match tokio::time::timeout(within, sniff).await {
        Ok(Protocol::Http1) => FirstBytes::Http1(replayed(&start[..filled], stream)),
        Ok(Protocol::Http2) => FirstBytes::Http2(stream),
        Ok(Protocol::Unknown) | Err(_) => FirstBytes::Nothing,
    }
}

enum Protocol {
    Http1,
    Http2,
    Unknown,
}

/// An HTTP/1.1 400 with a JSON body (like every other error), then the connection is closed.
pub async fn refuse_http2(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BODY: &str = r#"{"error":"dice-server speaks HTTP/1.1 only; HTTP/2 without TLS is refused","code":"http2_not_supported"}"#;
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// A connection whose first bytes were already read: they are read again first.
pub type Replayed = tokio::io::Join<
    tokio::io::Chain<std::io::Cursor<Vec<u8>>, tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
>;

fn replayed(start: &[u8], stream: TcpStream) -> Replayed {
    let (reader, writer) = stream.into_split();
    tokio::io::join(std::io::Cursor::new(start.to_vec()).chain(reader), writer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::Poll;
    use tokio::io::AsyncWriteExt;

    async fn connected() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        (client, accepted)
    }

    #[tokio::test]
    async fn http1_bytes_read_while_sniffing_reach_hyper_in_order() {
        let (mut client, accepted) = connected().await;
        // Sent in two pieces, the first a prefix of the HTTP/2 preface.
        client.write_all(b"PR").await.expect("write");
        let sniffing = tokio::spawn(first_bytes(accepted, Duration::from_secs(5)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        client
            .write_all(b"OPFIND / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        client.shutdown().await.expect("shutdown");
        let FirstBytes::Http1(mut replayed) = sniffing.await.expect("sniff") else {
            panic!("not told apart as HTTP/1");
        };
        let mut everything = Vec::new();
        replayed.read_to_end(&mut everything).await.expect("read");
        assert_eq!(everything, b"PROPFIND / HTTP/1.1\r\n\r\n");
    }

    /// The former peek polled every 10 ms while part of the preface sat in the socket.
    #[tokio::test]
    async fn part_of_the_preface_is_waited_for_without_polling() {
        let (mut client, accepted) = connected().await;
        client.write_all(&HTTP2_PREFACE[..16]).await.expect("write");
        let mut sniffing = Box::pin(first_bytes(accepted, Duration::from_secs(30)));
        let mut polls = 0;
        let waited = std::future::poll_fn(|cx| {
            polls += 1;
            match sniffing.as_mut().poll(cx) {
                Poll::Ready(_) => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        });
        let finished = tokio::time::timeout(Duration::from_millis(300), waited).await;
        assert!(finished.is_err(), "a partial preface decided something");
        assert!(
            polls <= 3,
            "polled {polls} times in 300 ms with nothing new to read"
        );
    }

    #[tokio::test]
    async fn the_whole_preface_is_http2_and_part_of_it_is_nothing_in_time() {
        let (mut client, accepted) = connected().await;
        client.write_all(HTTP2_PREFACE).await.expect("write");
        let sniffed = first_bytes(accepted, Duration::from_secs(5)).await;
        assert!(matches!(sniffed, FirstBytes::Http2(_)), "{sniffed:?}");

        let (mut client, accepted) = connected().await;
        client.write_all(&HTTP2_PREFACE[..16]).await.expect("write");
        let sniffed = first_bytes(accepted, Duration::from_millis(200)).await;
        assert!(matches!(sniffed, FirstBytes::Nothing), "{sniffed:?}");
    }
}
