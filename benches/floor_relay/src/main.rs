//! The floor of a realtime relay on this machine: one thread, one epoll, and for every readable
//! socket one `read` and one `write` of the bytes to its peer, nothing parsed, nothing framed.
//! A WebSocket relay does at least this per frame, so its CPU per frame cannot be lower than
//! this program's in the same benchmark (`run_realtime.py --floor`).
//!
//! Usage: `floor-relay LISTEN_PORT UPSTREAM_PORT` (both on 127.0.0.1). Each accepted client
//! gets its own upstream connection; bytes flow both ways unchanged (the WebSocket handshake
//! included), so a client speaks to the upstream as if directly. Written for a benchmark:
//! what a peer cannot take at once is buffered (unbounded) and written when it can.
//!
//! `floor-relay mux LISTEN_PORT UPSTREAM_PORT`: many upstream streams relayed into one client
//! connection, the multiplexed shape's floor (see `mux.rs`).

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

mod mux;

const LISTENER: Token = Token(0);

struct Side {
    stream: TcpStream,
    peer: Token,
    pending: Vec<u8>, // bytes read from the peer not yet written to this side
}

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().collect();
    let multiplexed = args.get(1).map(String::as_str) == Some("mux");
    if multiplexed {
        args.remove(1);
    }
    if args.len() != 3 {
        eprintln!("usage: floor-relay [mux] LISTEN_PORT UPSTREAM_PORT");
        std::process::exit(2);
    }
    let listen: SocketAddr = format!("127.0.0.1:{}", args[1]).parse().expect("port");
    let upstream: SocketAddr = format!("127.0.0.1:{}", args[2]).parse().expect("port");
    if multiplexed {
        let listener = std::net::TcpListener::bind(listen)?;
        for client in listener.incoming() {
            let client = client?;
            std::thread::spawn(move || {
                if let Err(e) = mux::serve(client, upstream) {
                    eprintln!("mux client ended: {e}");
                }
            });
        }
        return Ok(());
    }
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(listen)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut sides: HashMap<Token, Side> = HashMap::new();
    let mut next = 1usize;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            let token = event.token();
            if token == LISTENER {
                while let Ok((client, _)) = listener.accept() {
                    let up = std::net::TcpStream::connect(upstream)?;
                    up.set_nonblocking(true)?;
                    let (a, b) = (Token(next), Token(next + 1));
                    next += 2;
                    for (t, p, mut s) in [(a, b, client), (b, a, TcpStream::from_std(up))] {
                        s.set_nodelay(true)?;
                        poll.registry().register(&mut s, t, Interest::READABLE)?;
                        sides.insert(t, Side { stream: s, peer: p, pending: Vec::new() });
                    }
                }
                continue;
            }
            if event.is_writable() {
                if let Some(side) = sides.get_mut(&token) {
                    if flush(side).is_err() {
                        close_pair(&mut poll, &mut sides, token);
                        continue;
                    }
                }
            }
            if event.is_readable() || event.is_read_closed() {
                if !relay(&mut poll, &mut sides, token, &mut buf) {
                    close_pair(&mut poll, &mut sides, token);
                }
            }
        }
    }
}

/// Read what `token` has and write it to its peer; false when either side is done.
fn relay(poll: &mut Poll, sides: &mut HashMap<Token, Side>, token: Token, buf: &mut [u8]) -> bool {
    let peer = match sides.get(&token) {
        Some(side) => side.peer,
        None => return true,
    };
    loop {
        let n = match sides.get_mut(&token).map(|s| s.stream.read(buf)) {
            Some(Ok(0)) | None => return false,
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Some(Err(_)) => return false,
        };
        let Some(out) = sides.get_mut(&peer) else { return false };
        if out.pending.is_empty() {
            match out.stream.write(&buf[..n]) {
                Ok(w) if w == n => {}
                Ok(w) => out.pending.extend_from_slice(&buf[w..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => out.pending.extend_from_slice(&buf[..n]),
                Err(_) => return false,
            }
        } else {
            out.pending.extend_from_slice(&buf[..n]);
        }
        if !out.pending.is_empty() {
            let _ = poll.registry().reregister(&mut out.stream, peer, Interest::READABLE | Interest::WRITABLE);
        }
        if n < buf.len() {
            return true; // drained: epoll is edge-triggered, but a short read means empty
        }
    }
}

fn flush(side: &mut Side) -> io::Result<()> {
    while !side.pending.is_empty() {
        match side.stream.write(&side.pending) {
            Ok(w) => {
                side.pending.drain(..w);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn close_pair(poll: &mut Poll, sides: &mut HashMap<Token, Side>, token: Token) {
    if let Some(mut side) = sides.remove(&token) {
        let _ = poll.registry().deregister(&mut side.stream);
        if let Some(mut peer) = sides.remove(&side.peer) {
            let _ = poll.registry().deregister(&mut peer.stream);
        }
    }
}
