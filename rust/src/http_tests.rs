//! Tests of http.rs: the head parsers against hand-written heads, their limits and errors,
//! and the one-pass field reader against the careful one.

use super::*;

#[test]
fn field_names_are_lowercased_inline_up_to_the_limit_and_on_the_heap_past_it() {
    let borrowed = FieldName::lowercase(b"content-type");
    assert!(matches!(borrowed, FieldName::Received(_)) && &*borrowed == b"content-type");
    let inline = FieldName::lowercase(b"X-Stainless-Package-Version");
    assert!(matches!(inline, FieldName::Inline { .. }) && &*inline == b"x-stainless-package-version");
    let longest = [b'A'; FieldName::INLINE];
    assert!(matches!(FieldName::lowercase(&longest), FieldName::Inline { .. }));
    assert_eq!(&*FieldName::lowercase(&longest), &[b'a'; FieldName::INLINE][..]);
    let longer = [b'A'; FieldName::INLINE + 1];
    let heap = FieldName::lowercase(&longer);
    assert!(matches!(heap, FieldName::Heap(_)) && *heap == [b'a'; FieldName::INLINE + 1][..]);
    assert_eq!(FieldName::lowercase(b"Host"), FieldName::lowercase(b"host"));
}

const L: Limits = Limits { max_size: 16384, max_headers: 100, max_target: 8192 };

fn req(data: &[u8]) -> Result<Option<RequestHead<'_>>, HeadError> {
    parse_request_head(data, L, 0)
}
fn req_status(data: &[u8]) -> u16 {
    match req(data) {
        Err(e) => e.status,
        Ok(r) => panic!("expected an error, got {r:?}"),
    }
}
fn resp(data: &[u8]) -> Result<Option<ResponseHead<'_>>, HeadError> {
    parse_response_head(data, L, 0)
}

#[test]
fn parses_the_rfc_9112_example_request() {
    let data = b"GET /hello.txt HTTP/1.1\r\nUser-Agent: curl/7.64.1\r\nHost: www.example.com\r\nAccept-Language: en, mi\r\n\r\nBODY";
    let h = req(data).unwrap().unwrap();
    assert_eq!(h.method, b"GET");
    assert_eq!(h.target, b"/hello.txt");
    assert_eq!(h.minor_version, 1);
    assert_eq!(h.consumed, data.len() - 4);
    let names: Vec<&[u8]> = h.headers.iter().map(|(n, _)| n.as_ref()).collect();
    assert_eq!(names, [&b"user-agent"[..], b"host", b"accept-language"]);
    assert_eq!(h.headers[2].1, b"en, mi");
}

#[test]
fn every_prefix_of_a_head_is_incomplete() {
    let data = b"\r\nPOST /x HTTP/1.0\r\nA: 1\r\nB:\r\n\r\n";
    for n in 0..data.len() {
        assert!(req(&data[..n]).unwrap().is_none(), "prefix {n}");
        assert!(parse_request_head(data, L, n).unwrap().is_some(), "hint {n}");
    }
    let h = req(data).unwrap().unwrap();
    assert_eq!(h.minor_version, 0);
    assert_eq!(h.headers[1].1, b"");
    assert_eq!(h.consumed, data.len());
}

#[test]
fn trims_optional_whitespace_around_values() {
    let h = req(b"GET / HTTP/1.1\r\nX:  \t a b \t\r\n\r\n").unwrap().unwrap();
    assert_eq!(h.headers[0].1, b"a b");
}

#[test]
fn rejects_bare_lf_and_bare_cr() {
    assert_eq!(req_status(b"GET / HTTP/1.1\nHost: a\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\nHost: a\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET /\r HTTP/1.1\r\n\r\n"), 400);
}

#[test]
fn rejects_obs_fold_and_space_before_colon() {
    assert_eq!(req_status(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\n\tA: b\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
}

#[test]
fn rejects_invalid_tokens_and_values() {
    assert_eq!(req_status(b"G(T / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\nA\"b: c\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\n: c\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\nA: b\x7fc\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET  / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / HTTP/1.1 \r\n\r\n"), 400);
    assert!(req(b"GET / HTTP/1.1\r\nA: \xc3\xa9\t\r\n\r\n").unwrap().is_some());
}

#[test]
fn rejects_versions_other_than_1x() {
    assert_eq!(req_status(b"GET / HTTP/2.0\r\n\r\n"), 505);
    assert_eq!(req_status(b"GET / HTTP/3\r\n\r\n"), 505);
    assert_eq!(req_status(b"GET / HTTP/0.9\r\n\r\n"), 505);
    assert_eq!(req_status(b"GET / HTTP/1.1x\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET / http/1.1\r\n\r\n"), 400);
    assert_eq!(req_status(b"GET /\r\n\r\n"), 400);
}

#[test]
fn enforces_size_header_count_and_target_limits() {
    let small = Limits { max_size: 64, max_headers: 2, max_target: 16 };
    let long_target = [&b"GET /"[..], &[b'a'; 100]].concat();
    assert_eq!(parse_request_head(&long_target, small, 0).unwrap_err().status, 414);
    let complete_long = [&b"GET /"[..], &[b'a'; 20], b" HTTP/1.1\r\n\r\n"].concat();
    assert_eq!(parse_request_head(&complete_long, small, 0).unwrap_err().status, 414);
    let big = [&b"GET / HTTP/1.1\r\nA: "[..], &[b'a'; 100]].concat();
    assert_eq!(parse_request_head(&big, small, 0).unwrap_err().status, 431);
    let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(parse_request_head(many, small, 0).unwrap_err().status, 431);
    assert!(parse_request_head(b"GET / HTTP/1.1\r\nA", small, 0).unwrap().is_none());
}

#[test]
fn parses_a_response_head_and_lowercases_names() {
    let data = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
    let h = resp(data).unwrap().unwrap();
    assert_eq!((h.status, h.reason, h.minor_version), (200, &b"OK"[..], 1));
    assert_eq!(h.headers[1].0.as_ref(), b"transfer-encoding");
    assert_eq!(&data[h.consumed..], b"5\r\n");
}

#[test]
fn response_heads_accept_bare_lf_and_empty_reasons() {
    let h = resp(b"HTTP/1.0 404\nA: b\n\n").unwrap().unwrap();
    assert_eq!((h.status, h.reason, h.minor_version), (404, &b""[..], 0));
    let h = resp(b"HTTP/1.1 503 Service  Unavailable\r\n\r\n").unwrap().unwrap();
    assert_eq!(h.reason, b"Service  Unavailable");
}

#[test]
fn response_errors_carry_502() {
    for bad in [&b"HTTP/1.1 20 OK\r\n\r\n"[..], b"HTTP/2 200 OK\r\n\r\n", b"ICY 200 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n"] {
        assert_eq!(resp(bad).unwrap_err().status, 502, "{bad:?}");
    }
}

#[test]
fn no_input_panics() {
    proptest::proptest!(|(data: Vec<u8>, hint in 0usize..64)| {
        let _ = parse_request_head(&data, L, hint);
        let _ = parse_response_head(&data, L, hint);
    });
}

#[test]
fn ascii_text_replaces_invalid_utf8() {
    assert_eq!(ascii_text(b"GET"), "GET");
    assert_eq!(ascii_text(b"a\xffb"), "a\u{fffd}b");
}

#[test]
fn framing_fields_gather_what_frames_the_body_in_one_pass() {
    let head = parse_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nTransfer-Encoding: gzip\r\nconnection: close\r\nTransfer-Encoding: chunked\r\nContent-Encoding: br\r\nContent-Encoding: gzip\r\nKeep-Alive: timeout=5\r\nContent-Type: text/plain\r\ncontent-type: text/html\r\n\r\n",
        Limits { max_size: 4096, max_headers: 20, max_target: 4096 },
        0,
    )
    .unwrap()
    .unwrap();
    let f = framing_fields(&head.headers);
    assert_eq!(f.content_length, Some(&b"5"[..]));
    assert!(!f.conflicting_lengths);
    assert_eq!(f.transfer_encoding.as_deref(), Some(&b"gzip,chunked"[..]));
    assert_eq!(f.connection.as_deref(), Some(&b"keep-alive,close"[..]));
    assert_eq!((f.content_encoding, f.keep_alive), (Some(&b"gzip"[..]), Some(&b"timeout=5"[..])));
    assert_eq!(f.content_type, Some(&b"text/plain"[..]));
}

#[test]
fn framing_fields_flag_a_second_content_length_that_differs() {
    let limits = Limits { max_size: 4096, max_headers: 20, max_target: 4096 };
    let same = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", limits, 0).unwrap().unwrap();
    assert!(!framing_fields(&same.headers).conflicting_lengths);
    let differ = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", limits, 0).unwrap().unwrap();
    let f = framing_fields(&differ.headers);
    assert!(f.conflicting_lengths && f.content_length == Some(&b"5"[..]));
    assert_eq!(framing_fields(&[]), FramingFields::default());
}

/// `whole_body` of `data` parsed as a response head (decoding asked for).
fn whole(data: &[u8]) -> Option<&[u8]> {
    let head = resp(data).unwrap().unwrap();
    whole_body(data, &head, &framing_fields(&head.headers), true)
}

#[test]
fn a_body_of_exactly_its_content_length_after_the_head_is_whole() {
    assert_eq!(whole(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), Some(&b"hello"[..]));
    assert_eq!(whole(b"HTTP/1.1 429 Too Many\r\ncontent-length: 2\r\n\r\n{}"), Some(&b"{}"[..]));
    assert_eq!(whole(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Some(&b""[..]));
    assert_eq!(whole(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"), Some(&b"ok"[..]));
}

#[test]
fn a_body_short_of_or_past_its_content_length_is_not_whole() {
    assert_eq!(whole(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell"), None);
    assert_eq!(whole(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello!"), None);
}

#[test]
fn only_a_plain_single_content_length_without_other_framing_is_whole() {
    for data in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0000000000000000002\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\n\r\nread until close",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok",
    ] {
        assert_eq!(whole(data), None, "{}", String::from_utf8_lossy(data));
    }
}

#[test]
fn interim_and_bodiless_statuses_are_not_whole() {
    for status in ["100 Continue", "101 Switching Protocols", "103 Early Hints", "204 No Content", "304 Not Modified"] {
        let data = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(whole(data.as_bytes()), None, "{status}");
    }
}

#[test]
fn a_content_encoding_is_whole_when_the_client_does_not_decode() {
    let data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok";
    let head = resp(data).unwrap().unwrap();
    assert_eq!(whole_body(data, &head, &framing_fields(&head.headers), false), Some(&b"ok"[..]));
}

/// `whole_request_body` of `data` parsed as a request head, with a 64-byte body limit.
fn whole_req(data: &[u8]) -> Option<(&[u8], usize)> {
    let head = req(data).unwrap().unwrap();
    whole_request_body(data, &head, &framing_fields(&head.headers), 64)
}

#[test]
fn a_request_body_all_here_is_taken_with_the_bytes_it_ends_at() {
    let data = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /next";
    assert_eq!(whole_req(data), Some((&b"hello"[..], data.len() - b"GET /next".len())));
    assert_eq!(whole_req(b"GET / HTTP/1.1\r\n\r\n"), Some((&b""[..], 18)));
    assert_eq!(whole_req(b"POST / HTTP/1.1\r\ncontent-length: 2\r\nContent-Length: 2\r\n\r\nok"), Some((&b"ok"[..], 59)));
}

#[test]
fn a_request_body_that_is_not_plainly_all_here_is_left_to_the_general_reader() {
    for data in [
        &b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhell"[..],
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
        b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nok",
        b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
    ] {
        assert_eq!(whole_req(data), None, "{}", String::from_utf8_lossy(data));
    }
}

#[test]
fn a_request_keeps_its_connection_by_version_and_connection_tokens() {
    let keeps = |data: &[u8]| {
        let head = req(data).unwrap().unwrap();
        request_keeps_alive(head.minor_version, &framing_fields(&head.headers))
    };
    assert!(keeps(b"GET / HTTP/1.1\r\n\r\n"));
    assert!(!keeps(b"GET / HTTP/1.1\r\nConnection: upgrade, CLOSE\r\n\r\n"));
    assert!(!keeps(b"GET / HTTP/1.1\r\nConnection: keep-alive,\xa0close\xa0\r\n\r\n"));
    assert!(keeps(b"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n"));
    assert!(!keeps(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(keeps(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(!keeps(b"GET / HTTP/1.2\r\n\r\n"));
}

#[test]
fn a_connection_is_reusable_on_http_1_1_without_close() {
    let reuse = |data: &[u8]| {
        let head = resp(data).unwrap().unwrap();
        reusable(head.minor_version, &framing_fields(&head.headers))
    };
    assert!(reuse(b"HTTP/1.1 200 OK\r\n\r\n"));
    assert!(reuse(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"));
    assert!(!reuse(b"HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n"));
    assert!(!reuse(b"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nConnection: keep-alive, CLOSE\r\n\r\n"));
    assert!(!reuse(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
}

/// Field blocks near the usual: lines of names, colons, whitespace and values from pieces
/// that include every separator and terminator a head may get wrong.
fn field_block() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let name = prop_oneof![
        Just(&b"Host"[..]), Just(&b"content-type"[..]), Just(&b"X-A"[..]), Just(&b""[..]), Just(&b"a b"[..]),
        Just(&b" lead"[..]), Just(&b"\tlead"[..]), Just(&b"A\"b"[..]), Just(&b"n\x80"[..]),
    ];
    let sep = prop_oneof![Just(&b":"[..]), Just(&b": "[..]), Just(&b":\t "[..]), Just(&b""[..]), Just(&b"::"[..])];
    let value = prop_oneof![
        Just(&b"v"[..]), Just(&b""[..]), Just(&b"a b  "[..]), Just(&b" \t"[..]), Just(&b"\xc3\xa9"[..]),
        Just(&b"x\x00y"[..]), Just(&b"x\x7fy"[..]), Just(&b"x\ry"[..]), Just(&b"a:b"[..]),
    ];
    let end = prop_oneof![4 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b"\r"[..]), 1 => Just(&b""[..])];
    let line = (name, sep, value, end).prop_map(|(n, s, v, e)| [n, s, v, e].concat());
    let last = prop_oneof![4 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b"\r\n\r\n"[..]), 1 => Just(&b""[..])];
    (proptest::collection::vec(line, 0..6), last).prop_map(|(lines, last)| [lines.concat(), last.to_vec()].concat())
}

proptest::proptest! {
    #[test]
    fn the_one_pass_field_reader_answers_only_what_the_careful_one_would(block in field_block(), max in 0usize..5) {
        if let Some(fast) = fields_in_one_pass(&block, max) {
            let careful = parse_fields(Lines { data: &block }, max, 400).expect("the careful reader refused a block the fast one read");
            proptest::prop_assert_eq!(fast, careful);
        }
    }

    #[test]
    fn value_bytes_end_where_a_byte_by_byte_scan_ends(
        data in proptest::collection::vec(proptest::prop_oneof![8 => 0x20u8..0x7f, 1 => proptest::prelude::any::<u8>()], 0..40),
        at in 0usize..40,
    ) {
        let naive = (at..data.len()).find(|&i| !FIELD_VALUE[data[i] as usize]).unwrap_or(data.len().max(at));
        proptest::prop_assert_eq!(field_value_end(&data, at), naive);
    }

    #[test]
    fn the_usual_block_is_read_in_one_pass(values in proptest::collection::vec("[ -~]{0,12}", 0..5)) {
        let block: Vec<u8> = values.iter().enumerate()
            .flat_map(|(i, v)| format!("X-Field-{i}: {v}\r\n").into_bytes()).chain(*b"\r\n").collect();
        let fast = fields_in_one_pass(&block, 5);
        proptest::prop_assert!(fast.is_some());
        proptest::prop_assert_eq!(fast.unwrap(), parse_fields(Lines { data: &block }, 5, 400).unwrap());
    }
}
