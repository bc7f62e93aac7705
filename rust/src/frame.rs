//! WebSocket frame headers (RFC 6455 §5.2): opcodes, header parsing and encoding (2..14 bytes),
//! and the wire rules for control frames and close codes (§5.5, §7.4).
//!
//! Pure functions over byte slices; no state, no allocation except appending to a caller's Vec.

/// Continuation frame.
pub const OP_CONT: u8 = 0x0;
/// Text data frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary data frame.
pub const OP_BINARY: u8 = 0x2;
/// Close control frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping control frame.
pub const OP_PING: u8 = 0x9;
/// Pong control frame.
pub const OP_PONG: u8 = 0xA;

/// Largest payload a control frame may carry (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest frame header: 2 bytes + 8-byte extended length + 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Close codes (§7.4.1) used by the codec itself.
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_NO_STATUS: u16 = 1005;
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
pub const CLOSE_TOO_BIG: u16 = 1009;

/// True for the close, ping and pong opcodes (and the reserved control range 0xB..0xF).
#[inline]
pub fn is_control(opcode: u8) -> bool {
    opcode & 0x8 != 0
}

/// True for the six opcodes RFC 6455 defines; the others are reserved and fail with 1002.
#[inline]
pub fn is_known_opcode(opcode: u8) -> bool {
    matches!(
        opcode,
        OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    )
}

/// True when `code` may appear in a close frame on the wire (§7.4.1, §7.4.2 and the IANA
/// registry): 1000-1003, 1007-1014 and 3000-4999. 1004/1005/1006/1015 are reserved for local
/// use and everything else below 3000 is unassigned.
#[inline]
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A parsed frame header. `payload_len` is as declared on the wire; limits are the reader's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// Bytes the header occupies (2..=14).
    pub header_len: usize,
}

/// Why a header is malformed regardless of connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The 64-bit length has its most significant bit set (§5.2).
    LengthOverflow,
}

/// Parse the frame header at the start of `buf`. Returns `Ok(None)` when `buf` does not yet
/// hold the whole header. Opcode, RSV and control-frame rules are checked by [`check_header`].
#[inline]
pub fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, HeaderError> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(None),
    };
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let header_len = 2 + ext + if masked { 4 } else { 0 };
    if buf.len() < header_len {
        return Ok(None);
    }
    let payload_len = match ext {
        2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let v = u64::from_be_bytes(b);
            if v >> 63 != 0 {
                return Err(HeaderError::LengthOverflow);
            }
            v
        }
        _ => u64::from(len7),
    };
    let mask = if masked {
        let m = 2 + ext;
        Some([buf[m], buf[m + 1], buf[m + 2], buf[m + 3]])
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv2: b0 & 0x20 != 0,
        rsv3: b0 & 0x10 != 0,
        opcode: b0 & 0x0f,
        mask,
        payload_len,
        header_len,
    }))
}

/// Check the connection-independent rules of a header: known opcode, RSV2/RSV3 clear, RSV1
/// only when `rsv1_allowed` (permessage-deflate negotiated) and never on control frames,
/// control frames final and at most 125 bytes. Returns the reason on violation (close 1002).
#[inline]
pub fn check_header(h: &FrameHeader, rsv1_allowed: bool) -> Result<(), &'static str> {
    if !is_known_opcode(h.opcode) {
        return Err("reserved opcode");
    }
    if h.rsv2 || h.rsv3 {
        return Err("reserved bits set");
    }
    if is_control(h.opcode) {
        if h.rsv1 {
            return Err("RSV1 set on a control frame");
        }
        if !h.fin {
            return Err("fragmented control frame");
        }
        if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err("control frame payload over 125 bytes");
        }
    } else if h.rsv1 && !rsv1_allowed {
        return Err("RSV1 set without permessage-deflate");
    }
    Ok(())
}

/// Append a frame header to `out`: FIN, RSV1, opcode, the shortest length encoding, and the
/// mask key when given. Writes 2..=14 bytes.
#[inline]
pub fn encode_header(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
) {
    let b0 = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | (opcode & 0x0f);
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    let mut h = [0u8; MAX_HEADER_LEN];
    h[0] = b0;
    let mut n = 2;
    if len < 126 {
        h[1] = mbit | len as u8;
    } else if len <= 0xffff {
        h[1] = mbit | 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        n = 4;
    } else {
        h[1] = mbit | 127;
        h[2..10].copy_from_slice(&len.to_be_bytes());
        n = 10;
    }
    if let Some(m) = mask {
        h[n..n + 4].copy_from_slice(&m);
        n += 4;
    }
    out.extend_from_slice(&h[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &[u8]) -> FrameHeader {
        parse_header(bytes).unwrap().unwrap()
    }

    #[test]
    fn parses_rfc_single_frame_unmasked_hello() {
        let h = header(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert!(h.fin);
        assert_eq!(
            (h.opcode, h.payload_len, h.header_len, h.mask),
            (OP_TEXT, 5, 2, None)
        );
    }

    #[test]
    fn parses_rfc_masked_hello_header() {
        let h = header(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!((h.payload_len, h.header_len), (5, 6));
    }

    #[test]
    fn parses_rfc_256_byte_and_64k_lengths() {
        let h = header(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.opcode, h.payload_len, h.header_len), (OP_BINARY, 256, 4));
        let h = header(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!((h.payload_len, h.header_len), (65536, 10));
    }

    #[test]
    fn incomplete_headers_need_more_bytes() {
        for bytes in [
            &[][..],
            &[0x81],
            &[0x81, 0xFE, 0x01],
            &[0x82, 0x7F, 0, 0, 0],
            &[0x81, 0x85, 1, 2, 3],
        ] {
            assert_eq!(parse_header(bytes), Ok(None));
        }
    }

    #[test]
    fn length_with_top_bit_set_is_an_error() {
        assert_eq!(
            parse_header(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(HeaderError::LengthOverflow)
        );
    }

    #[test]
    fn encode_round_trips_all_length_forms() {
        for len in [0u64, 125, 126, 65535, 65536, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = Vec::new();
                encode_header(&mut out, true, false, OP_BINARY, mask, len);
                let h = header(&out);
                assert_eq!(
                    (h.payload_len, h.mask, h.header_len),
                    (len, mask, out.len())
                );
            }
        }
    }

    #[test]
    fn close_code_validity_follows_rfc_7_4() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
        ] {
            assert!(is_valid_close_code(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!is_valid_close_code(bad), "{bad}");
        }
    }

    #[test]
    fn control_frame_rules() {
        let ping = |b0: u8, len: u8| header(&[b0, len]);
        assert!(check_header(&ping(0x89, 125), false).is_ok());
        assert!(check_header(&ping(0x09, 0), false).is_err());
        assert!(check_header(&ping(0xC9, 0), true).is_err());
        assert!(check_header(&ping(0x83, 0), false).is_err());
        assert!(check_header(&ping(0xA1, 0), false).is_err());
        assert!(check_header(&ping(0xC1, 0), false).is_err());
        assert!(check_header(&ping(0xC1, 0), true).is_ok());
        let big = header(&[0x89, 0x7E, 0x00, 0x7E]);
        assert!(check_header(&big, false).is_err());
    }
}
