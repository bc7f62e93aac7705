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

use crate::swar;

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
        i = field_value_end(block, i);
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

/// The index of the first byte at or after `at` that is not a field value byte (`FIELD_VALUE`),
/// or the end. Eight bytes at a time up to a word that may hold a byte below 0x20 or DEL
/// (`swar`: the lowest flag exact, so no stop byte is skipped); from there one byte at a time,
/// and eight at a time again past a tab or a false flag.
fn field_value_end(data: &[u8], mut at: usize) -> usize {
    loop {
        while let Some(word) = swar::word_at(data, at) {
            let stops = swar::below(word, 0x20) | swar::equal_to(word, 0x7f);
            if stops != 0 {
                at += swar::first(stops);
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
pub fn plain_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Whether the connection may serve another request after this response: HTTP/1.1 and no
/// `close` in its Connection values (`b"close" not in connection.lower()`, as the client reads it).
pub fn reusable(minor_version: u8, fields: &FramingFields<'_>) -> bool {
    minor_version >= 1 && !fields.connection.as_deref().is_some_and(says_close)
}

/// Whether Connection values (joined) hold `close`, as the client reads them
/// (`b"close" in connection.lower()`).
pub fn says_close(connection: &[u8]) -> bool {
    connection.windows(5).any(|w| w.eq_ignore_ascii_case(b"close"))
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

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
