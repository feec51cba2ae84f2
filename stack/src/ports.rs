//! Ports on 127.0.0.1: the one asked for when it is free, otherwise any free one.

use crate::{Error, Result};
use std::net::{SocketAddr, TcpListener};

/// A listener on `preferred` if that port is free, else on a port the kernel picks.
pub fn listener(preferred: Option<u16>) -> Result<TcpListener> {
    if let Some(port) = preferred
        && let Ok(listener) = TcpListener::bind(("127.0.0.1", port))
    {
        return Ok(listener);
    }
    TcpListener::bind(("127.0.0.1", 0)).map_err(|e| Error::io("127.0.0.1:0", e))
}

/// An address for a program we start. The port is released before the program binds it; on a
/// busy machine another process could take it first, and the program's readiness check then
/// fails with its log, rather than the stack talking to a stranger.
pub fn free(preferred: Option<u16>) -> Result<SocketAddr> {
    let listener = listener(preferred)?;
    listener.local_addr().map_err(|e| Error::io("127.0.0.1", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_preferred_port_falls_back_to_another() -> Result<()> {
        let taken = listener(None)?;
        let port = taken.local_addr().map_err(|e| Error::io("", e))?.port();
        let other = free(Some(port))?;
        assert_ne!(other.port(), port);
        assert!(other.ip().is_loopback());
        Ok(())
    }
}
