//! HTTP/1.1 message heads (RFC 9112 §2–§5): the request-head parser the server uses for the
//! WebSocket handshake and the HTTP API, and the response-head parser the upstream client uses.
//!
//! Strict by design (never guess): requests need CRLF line ends (a bare LF or bare CR is a 400),
//! obs-fold, whitespace before a field's colon, non-token method/field-name bytes and control
//! bytes in values are rejected. Responses additionally accept a bare LF line end (RFC 9112 §2.2
//! "MAY"), because the gateway is the recipient and cannot ask the upstream to fix itself.
//! Every parse is bounded by `max_size` / `max_headers` (431) and the request target by
//! `max_target` (414). Parsing is one linear pass once the end of the head is found; callers
//! that retry on a growing buffer pass `start_hint` so the end search is not repeated.

use memchr::memchr;

/// A malformed or oversized head: the HTTP status a server should answer with, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError {
    pub status: u16,
    pub message: &'static str,
}

const fn err<T>(status: u16, message: &'static str) -> Result<T, HeadError> {
    Err(HeadError { status, message })
}

/// Status carried by response-head errors: the gateway answers a broken upstream with 502.
pub const BAD_GATEWAY: u16 = 502;

/// One field line: the name lowercased (borrowed when it already was) and the trimmed value.
pub type Header<'a> = (FieldName<'a>, &'a [u8]);

/// A field name, lowercase: the bytes as received when they were lowercase already, else a
/// lowercase copy, held inline when it fits (every name clients and providers usually send:
/// `Content-Type`, `Authorization`, `X-Stainless-Package-Version`...), so parsing a head
/// allocates nothing per field; a longer one on the heap.
#[derive(Clone)]
pub enum FieldName<'a> {
    Received(&'a [u8]),
    Inline { len: u8, bytes: [u8; FieldName::INLINE] },
    Heap(Vec<u8>),
}

impl<'a> FieldName<'a> {
    /// The longest name held inline.
    pub const INLINE: usize = 46;

    /// `name` lowercased (ASCII), borrowed when it is lowercase already.
    pub fn lowercase(name: &'a [u8]) -> Self {
        if !name.iter().any(u8::is_ascii_uppercase) {
            return FieldName::Received(name);
        }
        if name.len() > Self::INLINE {
            return FieldName::Heap(name.to_ascii_lowercase());
        }
        let mut bytes = [0u8; Self::INLINE];
        for (to, from) in bytes.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        FieldName::Inline { len: name.len() as u8, bytes }
    }
}

impl std::ops::Deref for FieldName<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FieldName::Received(name) => name,
            FieldName::Inline { len, bytes } => &bytes[..usize::from(*len)],
            FieldName::Heap(name) => name,
        }
    }
}

impl AsRef<[u8]> for FieldName<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for FieldName<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for FieldName<'_> {}

impl std::fmt::Debug for FieldName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[derive(Debug)]
pub struct RequestHead<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub minor_version: u8,
    pub headers: Vec<Header<'a>>,
    /// Bytes of input the head took, including leading empty lines and the final CRLF.
    pub consumed: usize,
}

#[derive(Debug)]
pub struct ResponseHead<'a> {
    pub status: u16,
    pub reason: &'a [u8],
    pub minor_version: u8,
    pub headers: Vec<Header<'a>>,
    pub consumed: usize,
}

/// Limits for one parse.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_size: usize,
    pub max_headers: usize,
    pub max_target: usize,
}

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
//       / DIGIT / ALPHA   (RFC 9110 §5.6.2)
const fn make_token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
                    | b'`' | b'|' | b'~'
            );
        i += 1;
    }
    t
}
static TOKEN: [bool; 256] = make_token_table();

// field-vchar / SP / HTAB / obs-text: every byte but the CTLs (other than HTAB) and DEL.
const fn make_value_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i == 0x09 || (i >= 0x20 && i != 0x7f);
        i += 1;
    }
    t
}
static FIELD_VALUE: [bool; 256] = make_value_table();

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| TOKEN[c as usize])
}

/// Finds the end of a head (the offset just past the empty line) in `data[start..]`, scanning
/// line feeds from `from` (a hint: bytes before it were searched already). A bare LF is an
/// error unless `lf_ok`. Returns Ok(None) when no complete head is there yet.
fn find_head_end(data: &[u8], start: usize, from: usize, lf_ok: bool) -> Result<Option<usize>, HeadError> {
    let mut pos = from.max(start);
    while let Some(i) = memchr(b'\n', data.get(pos..).unwrap_or(&[])) {
        let lf = pos + i;
        let cr = lf > start && data.get(lf - 1) == Some(&b'\r');
        if !cr && !lf_ok {
            return err(400, "bare LF line terminator");
        }
        // The line that this LF ends is empty when the previous line end sits right before it.
        let line_start = if cr { lf - 1 } else { lf };
        if line_start == start || (line_start > start && data.get(line_start - 1) == Some(&b'\n')) {
            return Ok(Some(lf + 1));
        }
        pos = lf + 1;
    }
    Ok(None)
}

/// Iterates the lines of a complete head, without their terminators.
struct Lines<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let lf = memchr(b'\n', self.data)?;
        let (line, rest) = self.data.split_at(lf);
        self.data = rest.get(1..).unwrap_or(&[]);
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// "HTTP/1.x" → x; other majors are 505, anything else 400.
fn parse_version(v: &[u8], bad: u16) -> Result<u8, HeadError> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', m] if m.is_ascii_digit() => Ok(m - b'0'),
        [b'H', b'T', b'T', b'P', b'/', d, rest @ ..]
            if d.is_ascii_digit() && (rest.is_empty() || (rest.len() == 2 && rest[0] == b'.' && rest[1].is_ascii_digit())) =>
        {
            err(if bad == BAD_GATEWAY { BAD_GATEWAY } else { 505 }, "unsupported HTTP version")
        }
        _ => err(bad, "malformed HTTP version"),
    }
}

fn parse_fields<'a>(lines: Lines<'a>, max_headers: usize, bad: u16) -> Result<Vec<Header<'a>>, HeadError> {
    let mut headers = Vec::with_capacity(8);
    for line in lines {
        if line.is_empty() {
            break;
        }
        if headers.len() >= max_headers {
            return err(if bad == BAD_GATEWAY { BAD_GATEWAY } else { 431 }, "too many header fields");
        }
        let Some(colon) = memchr(b':', line) else {
            return err(bad, "header line without a colon");
        };
        let (name, rest) = line.split_at(colon);
        if matches!(name.first(), Some(b' ' | b'\t')) {
            return err(bad, "obsolete line folding or leading whitespace in a header line");
        }
        if !is_token(name) {
            return err(bad, "invalid header field name");
        }
        let value = trim_ows(rest.get(1..).unwrap_or(&[]));
        if !value.iter().all(|&c| FIELD_VALUE[c as usize]) {
            return err(bad, "invalid byte in a header field value");
        }
        headers.push((FieldName::lowercase(name), value));
    }
    Ok(headers)
}

/// The usual field block read in one pass: `block` is what follows the start line, up to and
/// including the empty line that ends the head. Every line a token, a colon, optional
/// whitespace and value bytes, ended by CRLF; the block ended by exactly one empty CRLF line;
/// at most `max_headers` fields. What `parse_fields` answers for such a block, without
/// finding each line's end and colon again (a `memchr` call each) or walking each value twice;
/// None for anything else (an error, a bare LF, obsolete folding), which `parse_fields` then
/// reads and reports. A proptest and the `http_head` fuzz target hold the two equal.
#[doc(hidden)]
pub fn fields_in_one_pass(block: &[u8], max_headers: usize) -> Option<Vec<Header<'_>>> {
    let mut headers = Vec::with_capacity(8);
    let mut i = 0;
    loop {
        if block.get(i..) == Some(b"\r\n") {
            return Some(headers); // the empty line, the last bytes of the head
        }
        if headers.len() >= max_headers {
            return None;
        }
        let name_start = i;
        i += block[i..].iter().position(|&c| !TOKEN[c as usize])?;
        if i == name_start || block[i] != b':' {
            return None;
        }
        let name = &block[name_start..i];
        i += 1;
        while let Some(b' ' | b'\t') = block.get(i) {
            i += 1;
        }
        let value_start = i;
        i = value_end(block, i);
        if block.get(i..i + 2) != Some(b"\r\n") {
            return None;
        }
        let mut value = &block[value_start..i];
        while let [rest @ .., b' ' | b'\t'] = value {
            value = rest;
        }
        headers.push((FieldName::lowercase(name), value));
        i += 2;
    }
}

/// `parse_fields` over a field block (as `fields_in_one_pass` takes it), for the fuzz target
/// that holds the two equal.
#[doc(hidden)]
pub fn fields_read_carefully(block: &[u8], max_headers: usize) -> Result<Vec<Header<'_>>, HeadError> {
    parse_fields(Lines { data: block }, max_headers, 400)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The index of the first byte at or after `at` that is not a field value byte (`FIELD_VALUE`),
/// or the end. Eight bytes at a time up to a word that may hold a byte below 0x20 or DEL: the
/// "has a zero byte" test flags the lowest such byte exactly (a borrow only carries out of a
/// byte that matched; higher flags may be false), so no stop byte is skipped; from there one
/// byte at a time, and eight at a time again past a tab or a false flag.
fn value_end(data: &[u8], mut at: usize) -> usize {
    loop {
        while let Some(chunk) = data.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let w = u64::from_le_bytes(word);
            let del = w ^ (ONES * 0x7f);
            let stops = (w.wrapping_sub(ONES * 0x20) & !w & HIGHS) | (del.wrapping_sub(ONES) & !del & HIGHS);
            if stops != 0 {
                at += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            at += 8;
        }
        match data.get(at) {
            Some(&c) if FIELD_VALUE[c as usize] => at += 1,
            _ => return at,
        }
    }
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Parses one request head at the start of `data`. Ok(None): incomplete (and within limits).
/// Leading empty lines (CRLF) before the request line are skipped (RFC 9112 §2.2).
pub fn parse_request_head<'a>(data: &'a [u8], limits: Limits, start_hint: usize) -> Result<Option<RequestHead<'a>>, HeadError> {
    let mut start = 0;
    while data.get(start..start + 2) == Some(b"\r\n") {
        start += 2;
    }
    if data.get(start..) == Some(b"\r") {
        return Ok(None);
    }
    let Some(end) = find_head_end(data, start, start_hint.saturating_sub(3), false)? else {
        if data.len() > limits.max_size {
            let line_end = memchr(b'\n', data.get(start..).unwrap_or(&[]));
            if line_end.is_none() && data.len() - start > limits.max_target {
                return err(414, "request target too long");
            }
            return err(431, "request head too large");
        }
        return Ok(None);
    };
    if end > limits.max_size {
        return err(431, "request head too large");
    }
    let mut lines = Lines { data: data.get(start..end).unwrap_or(&[]) };
    let line = lines.next().unwrap_or(&[]);
    let mut parts = line.splitn(3, |&c| c == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return err(400, "malformed request line");
    };
    if !is_token(method) {
        return err(400, "invalid method");
    }
    if target.len() > limits.max_target {
        return err(414, "request target too long");
    }
    if target.is_empty() || !target.iter().all(|&c| (0x21..0x7f).contains(&c)) {
        return err(400, "invalid request target");
    }
    let minor_version = parse_version(version, 400)?;
    let headers = match fields_in_one_pass(lines.data, limits.max_headers) {
        Some(headers) => headers,
        None => parse_fields(lines, limits.max_headers, 400)?,
    };
    Ok(Some(RequestHead { method, target, minor_version, headers, consumed: end }))
}

/// Parses one response head at the start of `data`. Ok(None): incomplete (and within limits).
/// Errors carry status 502 (what the gateway answers its client with).
pub fn parse_response_head<'a>(data: &'a [u8], limits: Limits, start_hint: usize) -> Result<Option<ResponseHead<'a>>, HeadError> {
    const BAD: u16 = BAD_GATEWAY;
    let Some(end) = find_head_end(data, 0, start_hint.saturating_sub(3), true)? else {
        if data.len() > limits.max_size {
            return err(BAD, "response head too large");
        }
        return Ok(None);
    };
    if end > limits.max_size {
        return err(BAD, "response head too large");
    }
    let mut lines = Lines { data: data.get(..end).unwrap_or(&[]) };
    let line = lines.next().unwrap_or(&[]);
    let mut parts = line.splitn(3, |&c| c == b' ');
    let version = parts.next().unwrap_or(&[]);
    let minor_version = parse_version(version, BAD)?;
    let status = match parts.next() {
        Some(&[a, b, c]) if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() && a != b'0' => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return err(BAD, "malformed status code"),
    };
    let reason = parts.next().unwrap_or(&[]);
    if !reason.iter().all(|&c| FIELD_VALUE[c as usize]) {
        return err(BAD, "invalid byte in the reason phrase");
    }
    let headers = match fields_in_one_pass(lines.data, limits.max_headers) {
        Some(headers) => headers,
        None => parse_fields(lines, limits.max_headers, BAD)?,
    };
    Ok(Some(ResponseHead { status, reason, minor_version, headers, consumed: end }))
}

/// `b` as text, invalid UTF-8 replaced by U+FFFD (a parsed method or target is ASCII already).
pub fn ascii_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The fields of a response head that frame its body and govern its connection, gathered in
/// one pass over the parsed fields (names lowercased), as the upstream client reads them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FramingFields<'a> {
    /// The first Content-Length value.
    pub content_length: Option<&'a [u8]>,
    /// A later Content-Length field differs from the first (a malformed response).
    pub conflicting_lengths: bool,
    /// Every Transfer-Encoding value, joined with ",".
    pub transfer_encoding: Option<Vec<u8>>,
    /// Every Connection value, joined with ",".
    pub connection: Option<Vec<u8>>,
    /// The last Content-Encoding value.
    pub content_encoding: Option<&'a [u8]>,
    /// The last Keep-Alive value.
    pub keep_alive: Option<&'a [u8]>,
    /// The first Content-Type value (not framing, but every caller reads it next).
    pub content_type: Option<&'a [u8]>,
}

/// See `FramingFields`.
pub fn framing_fields<'a>(headers: &'a [Header<'a>]) -> FramingFields<'a> {
    fn join(into: &mut Option<Vec<u8>>, value: &[u8]) {
        match into {
            Some(v) => {
                v.push(b',');
                v.extend_from_slice(value);
            }
            None => *into = Some(value.to_vec()),
        }
    }
    let mut f = FramingFields::default();
    for (name, value) in headers {
        match &name[..] {
            b"content-length" => match f.content_length {
                Some(first) => f.conflicting_lengths |= first != *value,
                None => f.content_length = Some(value),
            },
            b"transfer-encoding" => join(&mut f.transfer_encoding, value),
            b"connection" => join(&mut f.connection, value),
            b"content-encoding" => f.content_encoding = Some(value),
            b"keep-alive" => f.keep_alive = Some(value),
            b"content-type" if f.content_type.is_none() => f.content_type = Some(value),
            _ => {}
        }
    }
    f
}

/// The body of a response that arrived whole with its head, when it is the usual small
/// answer: a final status that has a body (not 1xx, 204 or 304), no Transfer-Encoding, one
/// plain Content-Length (up to 18 digits; repeated fields equal) and exactly that many bytes
/// after the head, and no Content-Encoding when `decode` (the client would inflate it). The
/// upstream client hands such an answer over at once; anything else (None) it frames field by
/// field, which also reports every malformed case. Not for a HEAD request's answer (its
/// Content-Length describes no body).
pub fn whole_body<'a>(data: &'a [u8], head: &ResponseHead<'_>, fields: &FramingFields<'_>, decode: bool) -> Option<&'a [u8]> {
    if head.status < 200 || head.status == 204 || head.status == 304 {
        return None;
    }
    if fields.transfer_encoding.is_some() || fields.conflicting_lengths || (decode && fields.content_encoding.is_some()) {
        return None;
    }
    let n = plain_length(fields.content_length?)?;
    let body = data.get(head.consumed..)?;
    (n == body.len() as u64).then_some(body)
}

/// A Content-Length value as sent plainly: 1 to 18 ASCII digits (so it fits a u64), else None.
fn plain_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Whether the connection may serve another request after this response: HTTP/1.1 and no
/// `close` in its Connection values (`b"close" not in connection.lower()`, as the client reads it).
pub fn reusable(minor_version: u8, fields: &FramingFields<'_>) -> bool {
    minor_version >= 1 && !fields.connection.as_deref().is_some_and(|c| c.windows(5).any(|w| w.eq_ignore_ascii_case(b"close")))
}

/// The body of a request that is all here with its head (`fields`: its `framing_fields`), as
/// the server takes it without framing it field by field: no Transfer-Encoding, and either no Content-Length (no body) or
/// Content-Length fields that all hold the same plain number (up to 18 digits) of at most
/// `max_body` bytes, all of which follow the head in `data` (more may follow: a pipelined
/// request). Returns the body and the bytes the head and body took. None for anything else
/// (a body still arriving, a chunked or oversized body, a malformed length): the server reads
/// those the general way, which also reports each error.
pub fn whole_request_body<'a>(data: &'a [u8], head: &RequestHead<'_>, fields: &FramingFields<'_>, max_body: u64) -> Option<(&'a [u8], usize)> {
    if fields.transfer_encoding.is_some() || fields.conflicting_lengths {
        return None;
    }
    let n = match fields.content_length {
        None => 0,
        Some(value) => plain_length(value)?,
    };
    if n > max_body {
        return None;
    }
    let end = head.consumed.checked_add(usize::try_from(n).ok()?)?;
    Some((data.get(head.consumed..end)?, end))
}

/// Whether a request's connection may carry another request after it (RFC 9112 §9.3):
/// HTTP/1.1 unless a Connection token is `close`; any other 1.x only with a `keep-alive` token.
/// Tokens are the comma-separated items of every Connection field, trimmed, any case: as
/// the server's `wants_keep_alive` reads them from the values decoded as ISO-8859-1 (so
/// "trimmed" is Python's `str.strip`, which also drops U+0085 and U+00A0).
pub fn request_keeps_alive(minor_version: u8, fields: &FramingFields<'_>) -> bool {
    fn is_space(b: &u8) -> bool {
        matches!(b, b'\t'..=b'\r' | 0x1c..=0x20 | 0x85 | 0xa0)
    }
    fn trim(t: &[u8]) -> &[u8] {
        let start = t.iter().position(|b| !is_space(b)).unwrap_or(t.len());
        let end = t.iter().rposition(|b| !is_space(b)).map_or(start, |i| i + 1);
        &t[start..end]
    }
    // Every Connection value, joined with "," by framing_fields: its tokens are the fields'.
    let has = |token: &[u8]| fields.connection.as_deref().is_some_and(|c| c.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(token)));
    if minor_version == 1 {
        !has(b"close")
    } else {
        has(b"keep-alive")
    }
}

/// `b` decoded as ISO-8859-1, byte for char (a reason phrase may hold obs-text, RFC 9110 §5.5).
pub fn latin1_text(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn latin1_text_maps_each_byte_to_its_code_point() {
        assert_eq!(latin1_text(b"OK"), "OK");
        assert_eq!(latin1_text(b"Gr\xfc\xdf"), "Gr\u{fc}\u{df}");
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
        fn value_bytes_end_where_a_byte_by_byte_scan_ends(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), at in 0usize..40) {
            let naive = (at..data.len()).find(|&i| !FIELD_VALUE[data[i] as usize]).unwrap_or(data.len().max(at));
            proptest::prop_assert_eq!(value_end(&data, at), naive);
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
}
