//! The byte-level pieces of the one-pass JSON readers (json_fields.rs, and `is_json_text`
//! here): whitespace, strings scanned eight bytes at a time, numbers, literals. Each takes the
//! index where its token starts and answers the index after it, or None where the text is not
//! JSON; none panics on any input.
//!
//! Two strictnesses: the grammar alone (RFC 8259: what serde_json's ignoring parser accepts:
//! any `\uXXXX`, any number), and what a decoder accepts (orjson: no lone surrogate escape, no
//! number that overflows a double), chosen by the `PAIRED` and `FINITE` parameters.

use std::ops::Range;

use crate::swar;

/// Whether `data` is one JSON text by the grammar (surrounding whitespace allowed), as
/// `serde_json::from_slice::<IgnoredAny>` judges it: strings are checked for escapes and
/// control characters, not for their encoding (the caller checks UTF-8), any `\uXXXX` and any
/// number in the grammar pass. Nesting has no depth limit (`Nesting`: the heap only past 64
/// levels). Tests and the `json_text` fuzz target hold it equal to serde.
pub fn is_json_text(data: &[u8]) -> bool {
    value_end(data, skip_ws(data, 0)).is_some_and(|end| skip_ws(data, end) == data.len())
}

/// The index after the JSON value (grammar only, as `is_json_text`) starting at `at`; None
/// when no value starts there or it does not end.
pub(crate) fn value_end(data: &[u8], at: usize) -> Option<usize> {
    value_end_within::<false>(data, at, usize::MAX)
}

/// `value_end` for a value of at most `max_levels` levels of objects and arrays (None past
/// them), checked by the grammar alone or, with `DECODER`, as a decoder checks it (the
/// `PAIRED` strings and `FINITE` numbers below).
pub(crate) fn value_end_within<const DECODER: bool>(data: &[u8], at: usize, max_levels: usize) -> Option<usize> {
    value_end_from::<DECODER>(data, at, Nesting::new(), max_levels, |_, _| {})
}

/// `value_end_within` from the middle of a walk: a value starts at `at` inside the
/// containers `open`; the index after the outermost value. `seen(at, open)` hears of every
/// value start from `at` on, before its byte is read: the walk's whole state there, from which
/// a later walk of a text with the same bytes up to and including that byte may resume
/// (json_repeat.rs).
pub(crate) fn value_end_from<const DECODER: bool>(
    data: &[u8],
    mut at: usize,
    mut open: Nesting,
    max_levels: usize,
    mut seen: impl FnMut(usize, &Nesting),
) -> Option<usize> {
    loop {
        // A value starts at `at`.
        seen(at, &open);
        match *data.get(at)? {
            c @ (b'{' | b'[') => {
                if open.depth() >= max_levels {
                    return None;
                }
                at = skip_ws(data, at + 1);
                let opens_object = c == b'{';
                let close = if opens_object { b'}' } else { b']' };
                if data.get(at) == Some(&close) {
                    at += 1; // empty container: a complete value
                } else {
                    open.push(opens_object);
                    if opens_object {
                        at = member_key::<DECODER>(data, at)?.1;
                    }
                    continue;
                }
            }
            b'"' => at = string::<DECODER>(data, at)?,
            b'-' | b'0'..=b'9' => at = number::<DECODER>(data, at)?,
            b't' => at = literal(data, at, b"true")?,
            b'f' => at = literal(data, at, b"false")?,
            b'n' => at = literal(data, at, b"null")?,
            _ => return None,
        }
        // A value ended at `at`: close containers or go on to the next member.
        loop {
            let Some(object) = open.innermost_is_object() else {
                return Some(at);
            };
            at = skip_ws(data, at);
            let close = if object { b'}' } else { b']' };
            match data.get(at) {
                Some(&b',') => {
                    at = skip_ws(data, at + 1);
                    if object {
                        at = member_key::<DECODER>(data, at)?.1;
                    }
                    break;
                }
                Some(&b) if b == close => {
                    open.pop();
                    at += 1;
                }
                _ => return None,
            }
        }
    }
}

/// The containers still open while a reader walks a value, innermost last: the first 64 levels
/// as bits of one word (no allocation for the documents gateways see), deeper ones on the heap.
pub(crate) struct Nesting {
    objects: u64, // bit i: level i is an object (else an array), for levels below 64
    depth: usize,
    deeper: Vec<bool>, // levels 64 and up: true for an object
}

impl Nesting {
    pub(crate) const fn new() -> Self {
        Nesting { objects: 0, depth: 0, deeper: Vec::new() }
    }

    /// Opens a container: an object when `object`, else an array.
    pub(crate) fn push(&mut self, object: bool) {
        if self.depth < 64 {
            self.objects = (self.objects & !(1 << self.depth)) | (u64::from(object) << self.depth);
        } else {
            self.deeper.push(object);
        }
        self.depth += 1;
    }

    /// Closes the innermost container.
    pub(crate) fn pop(&mut self) {
        if self.depth > 64 {
            self.deeper.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }

    /// Whether the innermost open container is an object; None when none is open.
    pub(crate) fn innermost_is_object(&self) -> Option<bool> {
        match self.depth {
            0 => None,
            d if d <= 64 => Some(self.objects & (1 << (d - 1)) != 0),
            _ => self.deeper.last().copied(),
        }
    }

    /// How many containers are open.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// The open containers as one word and a depth, when there are at most 64 (None deeper:
    /// those levels live on the heap).
    pub(crate) fn shallow(&self) -> Option<(u64, usize)> {
        (self.depth <= 64).then_some((self.objects, self.depth))
    }

    /// The nesting `shallow` answered.
    pub(crate) fn from_shallow(objects: u64, depth: usize) -> Self {
        Nesting { objects, depth: depth.min(64), deeper: Vec::new() }
    }
}

/// An object member's key and colon at `at`: the key's string literal (quotes included, checked
/// with `PAIRED` as `string` does) and where its value starts (whitespace skipped).
#[inline(always)]
pub(crate) fn member_key<const PAIRED: bool>(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    if data.get(at) != Some(&b'"') {
        return None;
    }
    let end = string::<PAIRED>(data, at)?;
    let colon = skip_ws(data, end);
    if data.get(colon) != Some(&b':') {
        return None;
    }
    Some((&data[at..end], skip_ws(data, colon + 1)))
}

/// The object whose `{` is at `at`: `each(key, value_at)` for every member in order, `key`
/// the index range of its name's string literal (quotes included, checked as a decoder checks
/// it) and `value_at` where its value starts; `each` answers where that value ends. The index
/// after the object; None where it is not JSON or `each` answers None.
pub(crate) fn members(data: &[u8], at: usize, mut each: impl FnMut(Range<usize>, usize) -> Option<usize>) -> Option<usize> {
    let mut at = skip_ws(data, at + 1);
    if data.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        let (literal, value_at) = member_key::<true>(data, at)?;
        at = skip_ws(data, each(at..at + literal.len(), value_at)?);
        match data.get(at) {
            Some(&b',') => at = skip_ws(data, at + 1),
            Some(&b'}') => return Some(at + 1),
            _ => return None,
        }
    }
}

/// Whether a JSON value may start with `byte` (None: the text ended): a quick no before the
/// checks that cost more (`envelope::is_json`'s UTF-8 pass).
pub(crate) fn may_start_value(byte: Option<&u8>) -> bool {
    matches!(byte, Some(b'{' | b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9'))
}

/// The index of the first byte at or after `at` that is not JSON whitespace.
#[inline(always)]
pub(crate) fn skip_ws(data: &[u8], mut at: usize) -> usize {
    // Whitespace is below b'!': one comparison answers for the byte a compact text has here.
    while let Some(&b) = data.get(at) {
        if b > b' ' || !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
            break;
        }
        at += 1;
    }
    at
}

/// `STOP[b]`: byte `b` ends a run of plain string bytes (a quote, a backslash, a control).
static STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The stop bytes of `word` (eight string bytes, the first in the low byte): quotes,
/// backslashes and controls, flagged as `swar` flags them (the lowest flag exact).
fn stops_in(word: u64) -> u64 {
    swar::equal_to(word, b'"') | swar::equal_to(word, b'\\') | swar::below(word, 0x20)
}

/// The string starting with the quote at `at`; the index after its closing quote. None for a
/// string that does not end, a control character or a bad escape, and with `PAIRED` a lone
/// surrogate escape (what a decoder refuses; the grammar alone allows any four hex digits).
#[inline(always)]
pub(crate) fn string<const PAIRED: bool>(data: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        // Plain bytes eight at a time to the word holding the next stop byte; the last few
        // (fewer than eight) one at a time.
        let mut found = false;
        while let Some(word) = swar::word_at(data, i) {
            let stops = stops_in(word);
            if stops != 0 {
                i += swar::first(stops);
                found = true;
                break;
            }
            i += 8;
        }
        if !found {
            while i < data.len() && !STOP[data[i] as usize] {
                i += 1;
            }
        }
        match data.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match data.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' if PAIRED => i = unicode_escape(data, i)?,
                b'u' => {
                    hex4(data, i + 2)?;
                    i += 6;
                }
                _ => return None,
            },
            _ => return None, // a control character
        }
    }
}

/// The end of the `\u` escape whose backslash is at `i` (of a surrogate pair: both escapes);
/// None for a lone surrogate or digits that are not hex (what a decoder refuses).
pub(crate) fn unicode_escape(data: &[u8], i: usize) -> Option<usize> {
    let unit = hex4(data, i + 2)?;
    if (0xDC00..0xE000).contains(&unit) {
        return None; // a low surrogate with no high one before it
    }
    if (0xD800..0xDC00).contains(&unit) {
        // A high surrogate must be followed by a low one.
        if data.get(i + 6..i + 8) != Some(b"\\u") || !(0xDC00..0xE000).contains(&hex4(data, i + 8)?) {
            return None;
        }
        return Some(i + 12);
    }
    Some(i + 6)
}

/// The four hex digits at `i` as a number.
fn hex4(data: &[u8], i: usize) -> Option<u32> {
    let digits = data.get(i..i + 4)?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The number at `at` (`-`? int frac? exp?); the index after it. None for bad grammar, and with
/// `FINITE` for a value that overflows a double (what a decoder refuses).
pub(crate) fn number<const FINITE: bool>(data: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    if data.get(at) == Some(&b'-') {
        at += 1;
    }
    match data.get(at)? {
        b'0' => {
            at += 1;
            if matches!(data.get(at), Some(b'0'..=b'9')) {
                return None; // a leading zero
            }
        }
        b'1'..=b'9' => at = digits(data, at + 1),
        _ => return None,
    }
    if data.get(at) == Some(&b'.') {
        let end = digits(data, at + 1);
        if end == at + 1 {
            return None;
        }
        at = end;
    }
    let mut exponent = false;
    if let Some(b'e' | b'E') = data.get(at) {
        exponent = true;
        at += 1;
        if let Some(b'+' | b'-') = data.get(at) {
            at += 1;
        }
        let end = digits(data, at);
        if end == at {
            return None;
        }
        at = end;
    }
    // Without an exponent only a number of more than 308 characters overflows a double.
    if FINITE && (exponent || at - start > 308) {
        let value: f64 = std::str::from_utf8(&data[start..at]).ok()?.parse().ok()?;
        if !value.is_finite() {
            return None;
        }
    }
    Some(at)
}

fn digits(data: &[u8], mut at: usize) -> usize {
    while let Some(b'0'..=b'9') = data.get(at) {
        at += 1;
    }
    at
}

/// The index after `word` when the bytes at `at` are `word`.
pub(crate) fn literal(data: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    (data.get(at..at + word.len())? == word).then_some(at + word.len())
}

/// Generators shared by the one-pass readers' property tests (here, json_fields.rs, usage.rs).
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    /// Any JSON value serde writes, a few levels deep; `names` join the random keys and strings
    /// (the names a reader looks for).
    pub(crate) fn json_value(names: &'static [&'static str]) -> impl Strategy<Value = serde_json::Value> {
        let name = move || prop::sample::select(names).prop_map(String::from);
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
            ".{0,6}".prop_map(serde_json::Value::String),
            name().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(prop_oneof![".{0,4}", name()], inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A string's bytes, plain but for one byte a string scan must stop at (or pass) inserted
    /// anywhere: the eight-at-a-time scan must find such a byte at any offset, and only those.
    pub(crate) fn string_bytes_with_one_odd_byte() -> impl Strategy<Value = Vec<u8>> {
        let plain = prop::collection::vec(prop::sample::select(vec![b'a', b' ', b'~', 0x7f, 0x80, 0xc3, 0xff]), 0..40);
        let inserted = prop::sample::select(vec![b'"', b'\\', 0x00, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc]);
        (plain, any::<prop::sample::Index>(), inserted).prop_map(|(mut text, at, byte)| {
            text.insert(at.index(text.len() + 1), byte);
            text
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_json_text;
    use super::strategies;
    use proptest::prelude::*;
    use serde::de::IgnoredAny;

    /// The reference: serde_json's ignoring parser over the whole text.
    fn serde_says(data: &[u8]) -> bool {
        serde_json::from_slice::<IgnoredAny>(data).is_ok()
    }

    #[test]
    fn any_json_value_with_whitespace_around_it_is_a_text() {
        for ok in [
            &b"{}"[..], b" [ ] ", b"\"s\"", b"0", b"-0.5e+3", b"true", b"null", b"\t{\"a\":[1,{\"b\":null}]}\n",
            b"\"\\ud800\"", b"1e999", b"[\"\\u00E9\\/\\b\\f\\n\\r\\t\\\"\\\\\"]", b"\"\xff\"",
        ] {
            assert!(is_json_text(ok), "{}", String::from_utf8_lossy(ok));
            assert!(serde_says(ok), "{}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn what_the_grammar_refuses_is_not_a_text() {
        for bad in [
            &b""[..], b" ", b"{", b"[1,]", b"{\"a\":1,}", b"{\"a\"}", b"{a:1}", b"01", b"-", b"1.", b"1e", b".5", b"tru",
            b"nul", b"\"\\x\"", b"\"\\u12g4\"", b"\"\x01\"", b"{} {}", b"[1 2]", b"\"open", b"]", b"+1",
        ] {
            assert!(!is_json_text(bad), "{}", String::from_utf8_lossy(bad));
            assert!(!serde_says(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn nesting_has_no_depth_limit() {
        let deep = [vec![b'['; 5000], vec![b']'; 5000]].concat();
        assert!(is_json_text(&deep) && serde_says(&deep));
    }

    #[test]
    fn objects_and_arrays_alternate_past_the_first_64_levels() {
        // [{"a":[{"a": ... }]}] with every level's closer checked against its opener.
        let (open, close): (Vec<&[u8]>, Vec<&[u8]>) = (0..150).map(|i| if i % 3 == 0 { (&b"{\"a\":"[..], &b"}"[..]) } else { (&b"["[..], &b"]"[..]) }).unzip();
        let deep = [open.concat(), b"1".to_vec(), close.iter().rev().copied().collect::<Vec<_>>().concat()].concat();
        assert!(is_json_text(&deep) && serde_says(&deep));
        let mut swapped = deep.clone();
        let last_brace = swapped.iter().rposition(|&b| b == b'}').unwrap();
        swapped[last_brace] = b']'; // the outermost object closed as an array
        assert!(!is_json_text(&swapped) && !serde_says(&swapped));
    }

    #[test]
    fn nesting_reports_the_innermost_container_at_every_depth() {
        let mut nesting = super::Nesting::new();
        let kinds: Vec<bool> = (0..200).map(|i| i % 5 == 1 || i % 7 == 0).collect();
        for (depth, &object) in kinds.iter().enumerate() {
            nesting.push(object);
            assert_eq!((nesting.depth(), nesting.innermost_is_object()), (depth + 1, Some(object)));
        }
        for depth in (0..kinds.len()).rev() {
            assert_eq!(nesting.innermost_is_object(), Some(kinds[depth]));
            nesting.pop();
        }
        assert_eq!((nesting.depth(), nesting.innermost_is_object()), (0, None));
    }

    /// JSON-ish text: the grammar's pieces in any order, so that near-misses are common.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"{"[..], b"}", b"[", b"]", b",", b":", b" ", b"\"", b"\"k\"", b"\"v\\n\"", b"\\u00e9", b"\\", b"0", b"-1",
            b"1.5", b"2E-9", b"1e999", b"e", b".", b"true", b"false", b"null", b"\x01", b"\xc3\xa9", b"\"\\ud800\"", b"01",
            b"\t", b"\\uzz", b"+",
        ]);
        prop::collection::vec(pieces, 0..24).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn agrees_with_serde_on_jsonish_text(data in jsonish()) {
            prop_assert_eq!(is_json_text(&data), serde_says(&data), "{:?}", String::from_utf8_lossy(&data));
        }

        #[test]
        fn agrees_with_serde_on_any_bytes(data in prop::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(is_json_text(&data), serde_says(&data));
        }

        #[test]
        fn agrees_on_long_strings_with_any_byte_anywhere(text in strategies::string_bytes_with_one_odd_byte()) {
            let document = [&b"[\""[..], &text, b"\"]"].concat();
            prop_assert_eq!(is_json_text(&document), serde_says(&document), "{:?}", document);
        }

        #[test]
        fn agrees_on_values_serde_writes_and_their_prefixes(value in strategies::json_value(&["k"])) {
            let text = serde_json::to_vec(&value).unwrap();
            prop_assert!(is_json_text(&text));
            for cut in 0..text.len() {
                prop_assert_eq!(is_json_text(&text[..cut]), serde_says(&text[..cut]));
            }
        }
    }
}
