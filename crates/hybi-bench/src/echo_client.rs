//! The socket chores of our own echo clients, closed-loop ([`crate::throughput`]) and open-loop
//! ([`crate::latency`]): both keep many non-blocking connections on one epoll, write until the
//! socket would block, and count the echoes in whatever a read returns.

use std::io::{self, Read, Write};
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::server::ServerProcess;
use crate::wire::{FrameScanner, WireError};

/// An epoll instance, and room for the events of up to 1024 connections per wait.
pub(crate) fn new_poll() -> Result<(Poll, Events), String> {
    let poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
    Ok((poll, Events::with_capacity(1024)))
}

/// Registers connection `i` for reading and writing, under `Token(i)`.
pub(crate) fn register(poll: &Poll, stream: &mut TcpStream, i: usize) -> Result<(), String> {
    poll.registry()
        .register(stream, Token(i), Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| format!("register: {e}"))
}

/// Writes `buf[*pos..]` until it is all written or the socket would block, advancing `pos`.
pub(crate) fn write_from(
    stream: &mut TcpStream,
    buf: &[u8],
    pos: &mut usize,
) -> Result<(), String> {
    while *pos < buf.len() {
        match stream.write(&buf[*pos..]) {
            Ok(0) => return Err("write: write returned 0".into()),
            Ok(n) => *pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(())
}

/// One read into `scratch`: the byte count, or `None` once the socket would block. A closed
/// connection is an error (the server's exit status first, if it died).
pub(crate) fn read_some(
    stream: &mut TcpStream,
    scratch: &mut [u8],
    server: &mut ServerProcess,
) -> Result<Option<usize>, String> {
    loop {
        match stream.read(scratch) {
            Ok(0) => {
                server.check_alive()?;
                return Err("the server closed a connection".into());
            }
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Feeds `bytes` to `scanner` and returns how many echoed messages they completed.
pub(crate) fn count_echoes(scanner: &mut FrameScanner, bytes: &[u8]) -> Result<u64, String> {
    let mut done = 0u64;
    scanner.feed(bytes, || done += 1).map_err(|e| match e {
        WireError::Closed => "the server sent Close".to_string(),
        WireError::Malformed(m) => format!("bad frame from server: {m}"),
    })?;
    Ok(done)
}

/// Waits for events up to `wait`; an interrupted wait is an empty one.
pub(crate) fn poll_for(poll: &mut Poll, events: &mut Events, wait: Duration) -> Result<(), String> {
    match poll.poll(events, Some(wait)) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(format!("poll: {e}")),
        _ => Ok(()),
    }
}
