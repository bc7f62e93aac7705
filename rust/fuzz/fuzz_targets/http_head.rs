//! Fuzz target: the HTTP/1.1 request- and response-head parsers never panic, respect their
//! limits, and give the same answer whether or not a resume hint is used; the framing fields of
//! a parsed response come from its fields; a whole body (request or response) is exactly the
//! bytes its Content-Length names, right after the head; the one-pass field reader answers only
//! what the careful one would.
#![no_main]

use _codec::http::{fields_in_one_pass, fields_read_carefully, framing_fields, parse_request_head, parse_response_head, request_keeps_alive, reusable, whole_body, whole_request_body, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The one-pass field reader answers only what the careful one would.
    if let Some(fast) = fields_in_one_pass(data, 16) {
        assert_eq!(Some(fast), fields_read_carefully(data, 16).ok());
    }
    let limits = Limits { max_size: 4096, max_headers: 16, max_target: 1024 };
    let whole = parse_request_head(data, limits, 0);
    if let Ok(Some(h)) = &whole {
        assert!(h.consumed <= data.len() && h.consumed <= limits.max_size);
        assert!(h.headers.len() <= limits.max_headers);
        let f = framing_fields(&h.headers);
        if let Some((body, end)) = whole_request_body(data, h, &f, 64) {
            assert!(body.len() <= 64 && end == h.consumed + body.len() && end <= data.len());
            assert_eq!(body, &data[h.consumed..end]);
        }
        let _ = request_keeps_alive(h.minor_version, &f);
    }
    // Feeding a growing buffer with hints must end in the same place as one parse.
    let mut hint = 0;
    let mut incremental = None;
    for end in (0..=data.len()).step_by(7).chain(std::iter::once(data.len())) {
        match parse_request_head(&data[..end], limits, hint) {
            Ok(None) => hint = end,
            other => {
                incremental = Some(other.map(|h| h.map(|h| h.consumed)).map_err(|e| e.status));
                break;
            }
        }
    }
    if let Some(Ok(Some(consumed))) = incremental {
        assert_eq!(whole.as_ref().ok().and_then(|h| h.as_ref()).map(|h| h.consumed), Some(consumed));
    }
    if let Ok(Some(h)) = parse_response_head(data, limits, 0) {
        assert!(h.consumed <= data.len() && (100..1000).contains(&h.status));
        let f = framing_fields(&h.headers);
        let named = |name: &[u8]| h.headers.iter().any(|(n, _)| &n[..] == name);
        assert_eq!(f.content_length.is_some(), named(b"content-length"));
        assert_eq!(f.transfer_encoding.is_some(), named(b"transfer-encoding"));
        assert!(!f.conflicting_lengths || h.headers.iter().filter(|(n, _)| &n[..] == b"content-length").count() > 1);
        if let Some(body) = whole_body(data, &h, &f, true) {
            assert_eq!(body, &data[h.consumed..]);
            assert!(f.transfer_encoding.is_none() && f.content_encoding.is_none() && h.status >= 200);
        }
        let _ = reusable(h.minor_version, &f);
    }
});
