//! `RepeatScan`: `envelope::is_json` for the events of one stream, most of whose bytes repeat
//! from one event to the next, checked from where the last event stopped agreeing.
//!
//! A streamed answer's events share their beginning: every OpenAI chunk of one stream starts
//! `{"id":"chatcmpl-…","object":"chat.completion.chunk","created":…,"model":"…",` and
//! `"choices":[{"index":0,"delta":{"content":`, every Anthropic text delta
//! `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`. The relay
//! checks each event before it splices it into a `universal.stream` message, and that check
//! was most of what a relayed chunk cost (`json_scan::value_end`, ~1,800 instructions for the
//! benchmarks' 190-byte chunk).
//!
//! Why resuming is exact: the grammar walk (`json_scan::value_end_from`) is a function of the
//! bytes it has read, and where a value starts its whole state is the index and the containers
//! open. So a walk of text B reaches the same state at a value start `at` as the walk of text A
//! did when `B[..=at] == A[..=at]` (the bytes before it and the value's first byte, which the
//! whitespace skip before it also read), and from there it is the walk of B. UTF-8 splits there
//! too: A was valid as a whole and the value's first byte is ASCII, so `B[..at]` is valid and
//! only `B[at..]` needs checking. Only a text that passed is kept as the next one's base.

use crate::json_scan::{self, Nesting};

/// Largest text kept as the next one's base (a bigger one is checked whole, and the next too).
const MAX_KEPT: usize = 16 * 1024;

/// Most value starts remembered of one text (a longer run of values resumes from the last).
const MAX_STARTS: usize = 1024;

/// Where a value starts in the kept text, and the walk's state there.
#[derive(Clone, Copy, Debug)]
struct Start {
    at: usize,
    objects: u64,
    depth: usize,
}

/// `is_json` for a run of related texts (one stream's events); see the module docs.
#[derive(Default, Debug)]
pub struct RepeatScan {
    /// The last text that passed (empty: none yet, or the last failed or was too big).
    kept: Vec<u8>,
    /// Its value starts in order, at most 64 containers deep.
    starts: Vec<Start>,
}

impl RepeatScan {
    pub fn new() -> Self {
        Self::default()
    }

    /// `envelope::is_json(data)`, the same answer for every input, reading only what `data`
    /// does not share with the last text that passed.
    pub fn is_json(&mut self, data: &[u8]) -> bool {
        let same = common_prefix(&self.kept, data);
        // The last value start whose first byte both texts share.
        let shared = self.starts.partition_point(|s| s.at < same);
        self.starts.truncate(shared);
        let (from, open) = match self.starts.pop() {
            Some(s) => (s.at, Nesting::from_shallow(s.objects, s.depth)),
            None => {
                let at = json_scan::skip_ws(data, 0);
                // A quick no before the UTF-8 check, as `is_json` has it.
                if !json_scan::may_start_value(data.get(at)) {
                    return self.forget();
                }
                (at, Nesting::new())
            }
        };
        // What is left of a chunk is most often ASCII: checked sixteen bytes a step, before
        // the UTF-8 validator's set-up.
        let rest = &data[from..];
        if !rest.is_ascii() && simdutf8::basic::from_utf8(rest).is_err() {
            return self.forget();
        }
        let starts = &mut self.starts;
        let end = json_scan::value_end_from::<false>(data, from, open, usize::MAX, |at, open| {
            if let Some((objects, depth)) = open.shallow() {
                if starts.len() < MAX_STARTS {
                    starts.push(Start { at, objects, depth });
                }
            }
        });
        if end.is_none_or(|end| json_scan::skip_ws(data, end) != data.len()) {
            return self.forget();
        }
        if data.len() > MAX_KEPT {
            self.forget();
            return true;
        }
        // The kept text's first `same` bytes are the new one's already.
        self.kept.truncate(same);
        self.kept.extend_from_slice(&data[same..]);
        true
    }

    /// No base for the next text; false.
    fn forget(&mut self) -> bool {
        self.kept.clear();
        self.starts.clear();
        false
    }
}

/// How many bytes `a` and `b` share from their start.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    // Sixteen bytes a step while they agree (a fixed-size compare: vector instructions), then
    // eight, then one, to the first that differs.
    while let (Some(x), Some(y)) = (block(a, i), block(b, i)) {
        if x != y {
            break;
        }
        i += 16;
    }
    while i + 8 <= n {
        let (Some(x), Some(y)) = (crate::swar::word_at(a, i), crate::swar::word_at(b, i)) else {
            break;
        };
        let differ = x ^ y;
        if differ != 0 {
            return i + (differ.trailing_zeros() / 8) as usize; // the words are little-endian
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The sixteen bytes at `at`, when there are as many.
fn block(data: &[u8], at: usize) -> Option<&[u8; 16]> {
    data.get(at..at.checked_add(16)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::is_json;
    use crate::json_scan::strategies;
    use proptest::prelude::*;

    const CHUNK: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":"tok1"},"finish_reason":null}]}"#;

    fn chunk(content: &str) -> Vec<u8> {
        let text = String::from_utf8_lossy(CHUNK).replace("tok1", content);
        text.into_bytes()
    }

    #[test]
    fn a_stream_of_chunks_is_judged_as_each_chunk_alone() {
        let mut scan = RepeatScan::new();
        for content in ["tok1", "tok2", "a longer token", "", r#"q\"uote"#, "tok3"] {
            let data = chunk(content);
            assert_eq!(scan.is_json(&data), is_json(&data), "{content:?}");
            assert!(scan.is_json(&data));
        }
    }

    #[test]
    fn a_chunk_broken_after_the_shared_beginning_fails() {
        let mut scan = RepeatScan::new();
        assert!(scan.is_json(&chunk("tok1")));
        for bad in ["tok\u{1}", "tok\\x", "tok\"", "tok1\"}]}"] {
            assert!(!scan.is_json(&chunk(bad)), "{bad:?}");
            assert!(scan.is_json(&chunk("tok2")), "after {bad:?}");
        }
    }

    #[test]
    fn invalid_utf8_after_the_shared_beginning_fails() {
        let mut scan = RepeatScan::new();
        assert!(scan.is_json(&chunk("tok1")));
        let mut bad = chunk("tok1");
        let at = bad.windows(4).position(|w| w == b"tok1").unwrap_or(0);
        bad[at + 3] = 0xff;
        assert!(!scan.is_json(&bad));
    }

    #[test]
    fn whitespace_where_the_last_chunk_had_a_value_is_read_as_whitespace() {
        // The shared bytes end just before a value's first byte: the walk resumes from an
        // earlier start, not from the one whose byte differs.
        let mut scan = RepeatScan::new();
        assert!(scan.is_json(br#"{"a":1,"b":2}"#));
        assert!(scan.is_json(br#"{"a":1,"b": 2}"#));
        assert!(scan.is_json(br#"{"a":1,"b":2}"#));
        assert!(!scan.is_json(br#"{"a":1,"b": }"#));
    }

    #[test]
    fn a_text_too_big_to_keep_is_still_judged() {
        let mut scan = RepeatScan::new();
        let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(MAX_KEPT));
        assert!(scan.is_json(big.as_bytes()));
        assert!(scan.is_json(big.as_bytes()));
        assert!(!scan.is_json(&big.as_bytes()[..big.len() - 1]));
    }

    #[test]
    fn the_common_prefix_is_counted_to_the_byte() {
        assert_eq!(common_prefix(b"abcdefghijkl", b"abcdefghijXl"), 10);
        assert_eq!(common_prefix(b"abcdefgh", b"abcdefgh"), 8);
        assert_eq!(common_prefix(b"abcX", b"abcdefgh"), 3);
        assert_eq!(common_prefix(b"", b"abc"), 0);
        assert_eq!(common_prefix(b"abcdefghABCDEFGH", b"abcdefghABCDEFGz"), 15);
        assert_eq!(
            common_prefix(
                b"abcdefghABCDEFGHijklmnopQRSTUVWX!",
                b"abcdefghABCDEFGHijklmnopQRSTUVWX?"
            ),
            32
        );
        assert_eq!(
            common_prefix(b"abcdefghABCDEFGHijklmnopQRSTUVWX", b"abcdefghABCDEFGHijklmnopQRSTUVWX"),
            32
        );
        assert_eq!(
            common_prefix(b"abcdefghABCDEFGHijklmnopQRSTUVWX", b"abcdefghABCDEFGHijklmnopQRSTUVW"),
            31
        );
        assert_eq!(
            common_prefix(b"abcdefghABCDEFGHijklmnopQRSTUVWX", b"abcdefghABCDEFGHijklXnopQRSTUVWX"),
            20
        );
    }

    /// A text and texts made from it: cut short, one byte changed, one byte inserted.
    fn relatives() -> impl Strategy<Value = Vec<Vec<u8>>> {
        strategies::json_value(&["k", "delta"]).prop_flat_map(|value| {
            let text = serde_json::to_vec(&value).unwrap_or_default();
            let n = text.len().max(1);
            // Bytes that change a walk: whitespace, quotes, escapes, closers, digits, a
            // control, a byte that is never UTF-8, or any.
            let byte = prop_oneof![
                prop::sample::select(vec![
                    b' ', b'\n', b'"', b'\\', b'}', b']', b',', b':', b'0', b'n', 0x01, 0xff
                ]),
                any::<u8>(),
            ];
            prop::collection::vec((0..n, byte, 0..4u8), 1..6).prop_map(move |edits| {
                let mut texts = vec![text.clone()];
                for (at, byte, how) in edits {
                    let mut t = text.clone();
                    let at = at.min(t.len());
                    match how {
                        0 => t.truncate(at),
                        1 if at < t.len() => t[at] = byte,
                        2 => t.insert(at, byte),
                        _ => {}
                    }
                    texts.push(t);
                }
                texts
            })
        })
    }

    proptest! {
        #[test]
        fn any_run_of_related_texts_is_judged_as_each_alone(texts in relatives()) {
            let mut scan = RepeatScan::new();
            for t in &texts {
                prop_assert_eq!(scan.is_json(t), is_json(t), "{:?}", String::from_utf8_lossy(t));
            }
        }

        #[test]
        fn the_common_prefix_is_where_the_bytes_first_differ(a in prop::collection::vec(0..3u8, 0..70), b in prop::collection::vec(0..3u8, 0..70)) {
            prop_assert_eq!(common_prefix(&a, &b), a.iter().zip(&b).take_while(|(x, y)| x == y).count());
        }

        #[test]
        fn any_run_of_byte_strings_is_judged_as_each_alone(texts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..8)) {
            let mut scan = RepeatScan::new();
            for t in &texts {
                prop_assert_eq!(scan.is_json(t), is_json(t));
            }
        }
    }
}
