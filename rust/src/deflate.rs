//! permessage-deflate (RFC 7692): offer parsing and server-side negotiation, and the per-message
//! compressor/decompressor (flate2 over zlib-rs, raw deflate).
//!
//! Messages are compressed with a sync flush and the trailing `00 00 ff ff` stripped (§7.2.1);
//! the decompressor appends it back (§7.2.2). Context takeover is honoured per direction, window
//! bits are 8..=15 on the wire and 9..=15 for zlib (8 is treated as 9, as zlib itself does).
//! zlib state is allocated lazily on the first message. Inflation is capped inside the loop, so
//! a compression bomb stops once its output passes the cap.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Compression level for outgoing messages: fast; the sync flush per message dominates anyway.
const LEVEL: u32 = 1;
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Agreed permessage-deflate parameters (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` response value announcing these parameters.
    pub fn response_header(&self, client_bits_offered: bool) -> String {
        let mut s = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if client_bits_offered && self.client_max_window_bits < 15 {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        s
    }

    /// `self` when both window sizes are in 8..=15 (RFC 7692 §7.1.2); otherwise an error naming
    /// the first bad one, e.g. "server_max_window_bits must be 8..15, got 16".
    pub fn validated(self) -> Result<Self, InvalidParams> {
        let check = |name: &str, bits: u8| {
            if (8..=15).contains(&bits) {
                Ok(())
            } else {
                Err(InvalidParams(format!("{name} must be 8..15, got {bits}")))
            }
        };
        check("server_max_window_bits", self.server_max_window_bits)?;
        check("client_max_window_bits", self.client_max_window_bits)?;
        Ok(self)
    }

    /// The parameters written as the Python constructor call that rebuilds them (the binding's
    /// `repr`).
    pub fn repr(&self) -> String {
        let b = |v: bool| if v { "True" } else { "False" };
        format!(
            "DeflateParams(server_no_context_takeover={}, client_no_context_takeover={}, server_max_window_bits={}, client_max_window_bits={})",
            b(self.server_no_context_takeover),
            b(self.client_no_context_takeover),
            self.server_max_window_bits,
            self.client_max_window_bits
        )
    }
}

/// Parameters outside what RFC 7692 allows (a window size not in 8..=15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidParams(pub String);

/// The `Sec-WebSocket-Extensions` value does not follow RFC 7230/6455 syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedHeader(pub String);

/// One extension offer: its name and (parameter, optional value) pairs, values unquoted.
type Offer = (String, Vec<(String, Option<String>)>);

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Parse a `Sec-WebSocket-Extensions` header value (several header lines may be joined with
/// commas): `1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) )`.
fn parse_extensions(value: &str) -> Result<Vec<Offer>, MalformedHeader> {
    let b = value.as_bytes();
    let mut i = 0;
    let mut out: Vec<Offer> = Vec::new();
    let err = |msg: &str, at: usize| {
        MalformedHeader(format!("{msg} at offset {at} in Sec-WebSocket-Extensions"))
    };
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> Option<String> {
        let s = *i;
        while *i < b.len() && is_tchar(b[*i]) {
            *i += 1;
        }
        (*i > s).then(|| value[s..*i].to_string())
    };
    loop {
        skip_ws(&mut i);
        if i < b.len() && b[i] == b',' {
            i += 1; // empty list elements are allowed by the #rule
            continue;
        }
        if i >= b.len() {
            break;
        }
        let name = token(&mut i).ok_or_else(|| err("expected extension name", i))?;
        let mut params = Vec::new();
        loop {
            skip_ws(&mut i);
            if i >= b.len() || b[i] == b',' {
                break;
            }
            if b[i] != b';' {
                return Err(err("expected ';' or ','", i));
            }
            i += 1;
            skip_ws(&mut i);
            let pname = token(&mut i).ok_or_else(|| err("expected parameter name", i))?;
            skip_ws(&mut i);
            let mut pval = None;
            if i < b.len() && b[i] == b'=' {
                i += 1;
                skip_ws(&mut i);
                if i < b.len() && b[i] == b'"' {
                    i += 1;
                    let mut v = String::new();
                    loop {
                        match b.get(i) {
                            None => return Err(err("unterminated quoted string", i)),
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') => {
                                let c = *b.get(i + 1).ok_or_else(|| err("dangling escape", i))?;
                                v.push(char::from(c));
                                i += 2;
                            }
                            Some(&c) => {
                                v.push(char::from(c));
                                i += 1;
                            }
                        }
                    }
                    pval = Some(v);
                } else {
                    pval = Some(token(&mut i).ok_or_else(|| err("expected parameter value", i))?);
                }
            }
            params.push((pname, pval));
        }
        out.push((name, params));
    }
    Ok(out)
}

/// A window-bits value: 1-2 decimal digits, no leading zero, 8..=15.
fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    v.parse::<u8>().ok().filter(|n| (8..=15).contains(n))
}

/// Server side: accept one permessage-deflate offer against the server's preferences, or
/// `None` when the offer has unknown, duplicate or invalid parameters, or cannot satisfy
/// `prefs` (a client window limit the client did not offer to honour).
fn accept_offer(
    params: &[(String, Option<String>)],
    prefs: &DeflateParams,
) -> Option<(String, DeflateParams)> {
    let mut seen = [false; 4];
    let mut snct = false;
    let mut cnct = false;
    let mut smwb: Option<u8> = None;
    let mut cmwb: Option<Option<u8>> = None;
    for (name, value) in params {
        let idx = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return None,
        };
        if std::mem::replace(&mut seen[idx], true) {
            return None;
        }
        match idx {
            0 | 1 if value.is_some() => return None,
            0 => snct = true,
            1 => cnct = true,
            2 => smwb = Some(window_bits(value.as_deref()?)?),
            _ => {
                cmwb = Some(match value {
                    None => None,
                    Some(v) => Some(window_bits(v)?),
                })
            }
        }
    }
    let server_bits = smwb.unwrap_or(15).min(prefs.server_max_window_bits);
    let (client_bits, client_bits_offered) = match cmwb {
        None if prefs.client_max_window_bits < 15 => return None,
        None => (15, false),
        Some(v) => (v.unwrap_or(15).min(prefs.client_max_window_bits), true),
    };
    let agreed = DeflateParams {
        server_no_context_takeover: snct || prefs.server_no_context_takeover,
        // The client's flag is a hint; we only promise what we announce.
        client_no_context_takeover: prefs.client_no_context_takeover || cnct,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    };
    Some((agreed.response_header(client_bits_offered), agreed))
}

/// Pick the first acceptable permessage-deflate offer in a `Sec-WebSocket-Extensions` value.
/// `prefs` are the server's limits: its `*_no_context_takeover` flags are imposed, its window
/// bits are upper bounds. Returns the response header value and the agreed parameters, `None`
/// if no offer is acceptable, or an error if the header is malformed.
pub fn negotiate(
    offers: &str,
    prefs: &DeflateParams,
) -> Result<Option<(String, DeflateParams)>, MalformedHeader> {
    for (name, params) in parse_extensions(offers)? {
        if name.eq_ignore_ascii_case("permessage-deflate") {
            if let Some(found) = accept_offer(&params, prefs) {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// zlib's raw deflate does not support an 8-bit window; 9 is the closest it accepts.
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// Compresses outgoing data messages of one direction.
pub struct Compressor {
    zlib: Option<Compress>,
    window_bits: u8,
    no_context_takeover: bool,
}

impl Compressor {
    /// A compressor for our direction; zlib state is created on the first message.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Self {
            zlib: None,
            window_bits: zlib_bits(window_bits),
            no_context_takeover,
        }
    }

    /// Append the compressed form of one whole message to `out` (sync flush, trailer stripped).
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let bits = self.window_bits;
        let z = self.zlib.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(LEVEL), false, bits)
        });
        let start = out.len();
        let before_in = z.total_in();
        loop {
            let consumed = (z.total_in() - before_in) as usize;
            out.reserve(data.len().saturating_sub(consumed) / 2 + 64);
            // Errors are impossible for a raw deflate stream fed from memory; a failure would
            // only leave a shorter output, which the peer rejects, never unsound state.
            if z.compress_vec(
                data.get(consumed..).unwrap_or(&[]),
                out,
                FlushCompress::Sync,
            )
            .is_err()
            {
                break;
            }
            let done = (z.total_in() - before_in) as usize >= data.len();
            // A sync flush is complete once zlib leaves output space unused.
            if done && out.len() < out.capacity() {
                break;
            }
        }
        if out.len() >= start + 4 && out[out.len() - 4..] == TRAILER {
            out.truncate(out.len() - 4);
        }
        if out.len() == start {
            // zlib emits nothing for a flush with no new input; a lone empty stored-block
            // header (which the peer completes with the trailer) stands for "" (§7.2.3.6).
            out.push(0x00);
        }
        if self.no_context_takeover {
            z.reset();
        }
    }
}

/// Why inflating a message failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The inflated message exceeds the cap (close 1009).
    TooBig,
    /// The compressed data is not valid deflate (close 1007).
    Corrupt,
}

/// Decompresses incoming data messages of one direction, fragment by fragment.
pub struct Decompressor {
    zlib: Option<Decompress>,
    window_bits: u8,
    no_context_takeover: bool,
    /// The message's deflate stream ended with a BFINAL block; the rest is ignored.
    ended: bool,
}

impl Decompressor {
    /// A decompressor for the peer's direction; zlib state is created on the first message.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Self {
            zlib: None,
            window_bits: zlib_bits(window_bits),
            no_context_takeover,
            ended: false,
        }
    }

    /// Inflate one fragment of a compressed message, appending to `out`; `fin` marks the last
    /// fragment (the stripped trailer is fed back then). Fails with `TooBig` as soon as `out`
    /// would grow past `cap` bytes; memory stays bounded by about `cap`.
    pub fn decompress(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        cap: usize,
    ) -> Result<(), InflateError> {
        self.inflate(input, out, cap)?;
        if fin {
            self.inflate(&TRAILER, out, cap)?;
            if self.no_context_takeover || self.ended {
                if let Some(z) = self.zlib.as_mut() {
                    z.reset(false);
                }
            }
            self.ended = false;
        }
        Ok(())
    }

    fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), InflateError> {
        if self.ended {
            return Ok(());
        }
        let bits = self.window_bits;
        let z = self
            .zlib
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let before_in = z.total_in();
        loop {
            let consumed = (z.total_in() - before_in) as usize;
            let rest = input.get(consumed..).unwrap_or(&[]);
            if out.len() == out.capacity() {
                if out.len() > cap {
                    return Err(InflateError::TooBig);
                }
                // Grow in bounded steps, never past cap + 1 (one byte over proves "too big").
                let room = (cap.saturating_add(1) - out.len())
                    .min(rest.len().saturating_mul(4).max(16 * 1024));
                out.reserve_exact(room);
            }
            let before_out = out.len();
            let status = z.decompress_vec(rest, out, FlushDecompress::None);
            // The first failure in stream order wins, so the verdict depends only on the bytes,
            // never on how they were chunked. zlib emits all output of earlier symbols before it
            // decodes the next one, and it decodes (and may reject) the next symbol even with
            // no output room left. So output past the cap always precedes a bad symbol seen in
            // the same call: check the cap before the data error. (Cut before the bad bits, the
            // same bytes give TooBig with no error at all.)
            if out.len() > cap {
                return Err(InflateError::TooBig);
            }
            let status = status.map_err(|_| InflateError::Corrupt)?;
            let now = (z.total_in() - before_in) as usize;
            if status == Status::StreamEnd {
                self.ended = true;
                return Ok(());
            }
            if out.len() < out.capacity() {
                if now >= input.len() {
                    return Ok(());
                }
                if now == consumed && out.len() == before_out {
                    // Input left, room left, and zlib made no progress: it cannot continue.
                    return Err(InflateError::Corrupt);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bits_8_to_15_are_valid() {
        for bits in 8..=15 {
            let p = DeflateParams { server_max_window_bits: bits, client_max_window_bits: bits, ..Default::default() };
            assert_eq!(p.validated(), Ok(p));
        }
    }

    #[test]
    fn window_bits_outside_8_to_15_name_the_parameter() {
        let p = DeflateParams { server_max_window_bits: 16, ..Default::default() };
        assert_eq!(p.validated(), Err(InvalidParams("server_max_window_bits must be 8..15, got 16".into())));
        let p = DeflateParams { client_max_window_bits: 7, ..Default::default() };
        assert_eq!(p.validated(), Err(InvalidParams("client_max_window_bits must be 8..15, got 7".into())));
    }

    #[test]
    fn repr_is_the_python_constructor_call() {
        let p = DeflateParams { client_no_context_takeover: true, server_max_window_bits: 10, ..Default::default() };
        assert_eq!(
            p.repr(),
            "DeflateParams(server_no_context_takeover=False, client_no_context_takeover=True, server_max_window_bits=10, client_max_window_bits=15)"
        );
    }

    fn inflate_all(d: &mut Decompressor, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        d.decompress(data, true, &mut out, 1 << 20).unwrap();
        out
    }

    #[test]
    fn rfc7692_compressed_hello() {
        let mut d = Decompressor::new(15, false);
        assert_eq!(
            inflate_all(&mut d, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
    }

    #[test]
    fn rfc7692_shared_window_second_message() {
        let mut d = Decompressor::new(15, false);
        assert_eq!(
            inflate_all(&mut d, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
        assert_eq!(
            inflate_all(&mut d, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
            b"Hello"
        );
    }

    #[test]
    fn rfc7692_no_compression_block() {
        let mut d = Decompressor::new(15, false);
        assert_eq!(
            inflate_all(
                &mut d,
                &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]
            ),
            b"Hello"
        );
    }

    #[test]
    fn rfc7692_bfinal_block_then_next_message() {
        let mut d = Decompressor::new(15, false);
        assert_eq!(
            inflate_all(&mut d, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]),
            b"Hello"
        );
        assert_eq!(
            inflate_all(&mut d, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
    }

    #[test]
    fn compressor_strips_trailer_and_round_trips_with_context() {
        let mut c = Compressor::new(15, false);
        let mut d = Decompressor::new(15, false);
        let msg = b"{\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}".repeat(3);
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let mut wire = Vec::new();
            c.compress(&msg, &mut wire);
            assert!(!wire.ends_with(&TRAILER));
            sizes.push(wire.len());
            assert_eq!(inflate_all(&mut d, &wire), msg);
        }
        assert!(
            sizes[1] < sizes[0],
            "context takeover shrinks repeats: {sizes:?}"
        );
    }

    #[test]
    fn empty_messages_keep_the_shared_window_intact() {
        let mut c = Compressor::new(15, false);
        let mut d = Decompressor::new(15, false);
        let big: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        for msg in [&b"first"[..], b"", b"", &big, b""] {
            let mut wire = Vec::new();
            c.compress(msg, &mut wire);
            assert_eq!(inflate_all(&mut d, &wire), msg);
        }
    }

    #[test]
    fn no_context_takeover_messages_decode_independently() {
        let mut c = Compressor::new(10, true);
        let msg = b"abcabcabcabc hello hello hello";
        for _ in 0..3 {
            let mut wire = Vec::new();
            c.compress(msg, &mut wire);
            assert_eq!(inflate_all(&mut Decompressor::new(10, true), &wire), msg);
        }
    }

    #[test]
    fn window_bits_8_compresses_as_9() {
        let mut c = Compressor::new(8, false);
        let mut wire = Vec::new();
        c.compress(b"eight bits", &mut wire);
        assert_eq!(
            inflate_all(&mut Decompressor::new(8, false), &wire),
            b"eight bits"
        );
    }

    #[test]
    fn bomb_is_stopped_at_the_cap() {
        let mut c = Compressor::new(15, false);
        let mut wire = Vec::new();
        c.compress(&vec![0u8; 10 << 20], &mut wire);
        let mut out = Vec::new();
        let r = Decompressor::new(15, false).decompress(&wire, true, &mut out, 100_000);
        assert_eq!(r, Err(InflateError::TooBig));
        assert!(out.capacity() < 300_000, "capacity {}", out.capacity());
    }

    #[test]
    fn garbage_is_corrupt() {
        let mut out = Vec::new();
        let r = Decompressor::new(15, false).decompress(
            &[0xff, 0xff, 0xff, 0xff],
            true,
            &mut out,
            1000,
        );
        assert_eq!(r, Err(InflateError::Corrupt));
    }

    #[test]
    fn fragmented_inflate_equals_whole() {
        let mut c = Compressor::new(15, false);
        let msg: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        c.compress(&msg, &mut wire);
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        for part in wire.chunks(7) {
            d.decompress(part, false, &mut out, 1 << 20).unwrap();
        }
        d.decompress(&[], true, &mut out, 1 << 20).unwrap();
        assert_eq!(out, msg);
    }

    /// A compressed `n`-byte message followed by a block header with the reserved type 3
    /// (invalid deflate right after the last output byte).
    fn output_then_bad_block(n: usize) -> Vec<u8> {
        let msg: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        let mut wire = Vec::new();
        Compressor::new(15, false).compress(&msg, &mut wire);
        wire.extend_from_slice(&TRAILER); // byte-align after the sync flush
        wire.push(0b110); // BFINAL=0, BTYPE=11
        wire
    }

    /// Inflate `wire` whole and one byte at a time; both verdicts.
    fn verdict_whole_and_bytewise(wire: &[u8], cap: usize) -> [Result<(), InflateError>; 2] {
        let mut out = Vec::new();
        let whole = Decompressor::new(15, false).decompress(wire, true, &mut out, cap);
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        let bytewise = wire
            .iter()
            .try_for_each(|b| d.decompress(std::slice::from_ref(b), false, &mut out, cap))
            .and_then(|()| d.decompress(&[], true, &mut out, cap));
        [whole, bytewise]
    }

    #[test]
    fn output_past_the_cap_before_bad_data_is_too_big_however_it_arrives() {
        let wire = output_then_bad_block(300);
        assert_eq!(verdict_whole_and_bytewise(&wire, 299), [Err(InflateError::TooBig); 2]);
    }

    #[test]
    fn bad_data_within_the_cap_is_corrupt_however_it_arrives() {
        let wire = output_then_bad_block(300);
        assert_eq!(verdict_whole_and_bytewise(&wire, 300), [Err(InflateError::Corrupt); 2]);
    }

    fn neg(offers: &str) -> Option<(String, DeflateParams)> {
        negotiate(offers, &DeflateParams::default()).unwrap()
    }

    #[test]
    fn plain_offer_is_accepted_as_is() {
        let (h, p) = neg("permessage-deflate").unwrap();
        assert_eq!(h, "permessage-deflate");
        assert_eq!(p, DeflateParams::default());
    }

    #[test]
    fn offer_parameters_are_honoured() {
        let (h, p) = neg("permessage-deflate; server_no_context_takeover; client_max_window_bits; server_max_window_bits=10").unwrap();
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        assert!(p.server_no_context_takeover);
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (10, 15)
        );
        let (h, p) = neg("permessage-deflate; client_max_window_bits=\"9\"").unwrap();
        assert_eq!(h, "permessage-deflate; client_max_window_bits=9");
        assert_eq!(p.client_max_window_bits, 9);
    }

    #[test]
    fn bad_offers_fall_through_to_the_next() {
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown_param",
            "permessage-deflate; server_no_context_takeover=1",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(neg(bad), None, "{bad}");
            let (h, _) = neg(&format!(
                "{bad}, permessage-deflate; client_max_window_bits"
            ))
            .unwrap();
            assert_eq!(h, "permessage-deflate", "{bad}");
        }
    }

    #[test]
    fn server_client_window_limit_needs_client_support() {
        let prefs = DeflateParams {
            client_max_window_bits: 12,
            ..DeflateParams::default()
        };
        assert_eq!(negotiate("permessage-deflate", &prefs).unwrap(), None);
        let (h, p) = negotiate("permessage-deflate; client_max_window_bits", &prefs)
            .unwrap()
            .unwrap();
        assert_eq!(h, "permessage-deflate; client_max_window_bits=12");
        assert_eq!(p.client_max_window_bits, 12);
    }

    #[test]
    fn malformed_header_is_an_error() {
        for bad in [
            "permessage-deflate;",
            "permessage-deflate; a=\"x",
            "permessage-deflate x",
            "; foo",
            "pmd; a==",
        ] {
            assert!(negotiate(bad, &DeflateParams::default()).is_err(), "{bad}");
        }
    }
}
