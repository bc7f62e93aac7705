//! The floor of a multiplexing stream relay: many upstream streams into one client connection.
//!
//! What a Universal WebSocket gateway does per relayed chunk, less everything it parses and
//! frames: for every readable upstream connection, one `read` (drained, as epoll's edge needs);
//! then, once per poll, one `write` to the client carrying every upstream's bytes of that poll.
//! The relay drives the streams itself so that the client needs no protocol: it sends one line,
//! `STREAMS MODEL\n`, and from then on only reads. Each of the STREAMS upstream connections
//! (HTTP/1.1 keep-alive) asks for a streamed chat completion of MODEL and, when the answer's
//! last chunk (`0\r\n\r\n`) arrives, asks for the next at once. The client counts the SSE events
//! it receives; CPU per event of this process is the floor a multiplexing relay of these streams
//! stands on, on this machine.

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

const CLIENT: Token = Token(0);
/// The chunked body's last chunk, with the CRLF that ends the chunk before it.
const LAST_CHUNK: &[u8] = b"\r\n0\r\n\r\n";

struct Upstream {
    stream: TcpStream,
    tail: Vec<u8>, // the last bytes read, to see LAST_CHUNK split across reads
}

/// Serve one client on `client` (already accepted and blocking-free) until it goes away.
pub fn serve(client: std::net::TcpStream, upstream: SocketAddr) -> io::Result<()> {
    client.set_nonblocking(true)?;
    client.set_nodelay(true)?;
    let mut client = TcpStream::from_std(client);
    let (streams, model) = read_order(&mut client)?;
    let request = stream_request(&model);
    let mut poll = Poll::new()?;
    poll.registry().register(&mut client, CLIENT, Interest::READABLE)?;
    let mut ups = Vec::with_capacity(streams);
    for i in 0..streams {
        let std_up = std::net::TcpStream::connect(upstream)?;
        std_up.set_nodelay(true)?;
        std_up.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std_up);
        poll.registry().register(&mut stream, Token(i + 1), Interest::READABLE)?;
        write_all(&mut stream, &request)?;
        ups.push(Upstream { stream, tail: Vec::with_capacity(LAST_CHUNK.len() * 2) });
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut client_writable = true;
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == CLIENT {
                if event.is_read_closed() || client_gone(&mut client) {
                    return Ok(());
                }
                if event.is_writable() {
                    client_writable = true;
                }
                continue;
            }
            let up = &mut ups[event.token().0 - 1];
            loop {
                let n = match up.stream.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                pending.extend_from_slice(&buf[..n]);
                if answer_ended(&mut up.tail, &buf[..n]) {
                    write_all(&mut up.stream, &request)?;
                }
                if n < buf.len() {
                    break; // drained: a short read means the socket is empty
                }
            }
        }
        if client_writable && !pending.is_empty() {
            match client.write(&pending) {
                Ok(w) => {
                    pending.drain(..w);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Ok(()),
            }
            if !pending.is_empty() {
                client_writable = false;
                poll.registry().reregister(&mut client, CLIENT, Interest::READABLE | Interest::WRITABLE)?;
            }
        }
    }
}

/// The client's one line, `STREAMS MODEL\n`.
fn read_order(client: &mut TcpStream) -> io::Result<(usize, String)> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        match client.read(&mut byte) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "client left before its order")),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(std::time::Duration::from_millis(1)),
            Err(e) => return Err(e),
        }
        if line.len() > 300 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "order line too long"));
        }
    }
    let text = String::from_utf8_lossy(&line);
    let mut words = text.split_whitespace();
    let streams = words.next().and_then(|w| w.parse().ok()).filter(|&n| (1..=4096).contains(&n));
    let model = words.next().filter(|m| m.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
    match (streams, model) {
        (Some(n), Some(m)) => Ok((n, m.to_string())),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "expected `STREAMS MODEL`")),
    }
}

/// The HTTP request for one streamed chat completion of `model` (the load clients' body).
fn stream_request(model: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"model":"{model}","messages":[{{"role":"system","content":"You are a helpful assistant."}},{{"role":"user","content":"Say hello in one short sentence."}}],"max_tokens":32,"stream":true}}"#
    );
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: upstream\r\ncontent-type: application/json\r\nauthorization: Bearer sk-bench-dummy\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Whether the bytes read so far on an upstream end with its answer's last chunk; `tail`
/// keeps the last few bytes between reads and is emptied when an answer ends.
fn answer_ended(tail: &mut Vec<u8>, read: &[u8]) -> bool {
    tail.extend_from_slice(&read[read.len().saturating_sub(LAST_CHUNK.len())..]);
    let keep = tail.len().saturating_sub(LAST_CHUNK.len());
    tail.drain(..keep);
    if tail.as_slice() == LAST_CHUNK {
        tail.clear();
        return true;
    }
    false
}

/// True when the client closed its side (its reads are nothing but the end).
fn client_gone(client: &mut TcpStream) -> bool {
    let mut scratch = [0u8; 512];
    loop {
        match client.read(&mut scratch) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// Write all of `bytes` to a fresh connection's small send (a request: the kernel takes it whole).
fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    let mut at = 0;
    while at < bytes.len() {
        match stream.write(&bytes[at..]) {
            Ok(w) => at += w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
