//! Fuzz target: the upstream request writer never panics, and a request it writes is one head
//! whose only line breaks are its own CRLFs (so no field can smuggle a header or a second
//! request), ending at the first blank line, followed by exactly the body.
#![no_main]

use _codec::http_request::{write_request, Field};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // Pieces split at 0xFF bytes: method, then name/value pairs; the last odd piece is the body.
    let mut pieces = input.split(|&b| b == 0xFF);
    let method = String::from_utf8_lossy(pieces.next().unwrap_or_default()).into_owned();
    let rest: Vec<&[u8]> = pieces.collect();
    let texts: Vec<String> = rest.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    let mut fields = Vec::new();
    for (i, pair) in rest.chunks_exact(2).enumerate() {
        // Even pairs as text (ISO-8859-1 written), odd ones as bytes.
        if i % 2 == 0 {
            fields.push((Field::Text(&texts[2 * i]), Field::Text(&texts[2 * i + 1])));
        } else {
            fields.push((Field::Bytes(pair[0]), Field::Bytes(pair[1])));
        }
    }
    let body = (rest.len() % 2 == 1).then(|| rest[rest.len() - 1]);
    let mut out = Vec::new();
    if write_request(&mut out, &method, b"/t", b"h", &fields, body).is_none() {
        return;
    }
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a head ends in a blank line") + 4;
    assert_eq!(&out[end..], body.unwrap_or_default(), "the body follows the head exactly");
    let head = &out[..end];
    let crlfs = head.windows(2).filter(|w| w == b"\r\n").count();
    assert_eq!(head.iter().filter(|&&b| b == b'\r').count(), crlfs, "no bare CR");
    assert_eq!(head.iter().filter(|&&b| b == b'\n').count(), crlfs, "no bare LF");
    assert!(head.starts_with(method.as_bytes()) && head[method.len()..].starts_with(b" /t HTTP/1.1\r\nHost: h"));
});
