//! The byte-level readers the request path runs per request and per relayed event, N times
//! each, for counting their instructions under callgrind (issue 15): exact where time is not.
//!
//! ```text
//! cargo build --release --example scan_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/scan_instructions 1000 head
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/scan_instructions 11000 head
//! # (I refs of the second − I refs of the first) ÷ 10,000
//! ```
//!
//! What: `head` (the request head the benchmarks' HTTP load sends), `response` (an upstream's
//! answer head), `chunk` (`is_json` of a stream's chat.completion.chunk), `answer` (`is_json` of
//! a whole chat completion), `usage` (`openai_usage` of that completion: the token counts every
//! whole answer is read for), `stream` (a stream's chunks judged in turn as the relay judges
//! them: json_repeat.rs); the documents are the benchmarks' upstream's.

use std::hint::black_box;

const HEAD: &[u8] = b"POST /v1/p/bench/openai/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:43211\r\nUser-Agent: peers-loadgen/1\r\n\
Accept: application/json\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-bench\r\nContent-Length: 123\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 371\r\n\
date: Sun, 06 Dec 2026 07:00:00 GMT\r\nserver: Python/3.11 aiohttp/3.9\r\n\r\n";
/// The benchmarks' upstream's stream event 12 and whole answer (benches/throughput/fast_upstream.py
/// `chunk_event(12)`'s data and `COMPLETION`), as the relay and the usage reader see them.
const CHUNK: &[u8] = br#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"tok12 "},"finish_reason":null}]}"#;
const ANSWER: &[u8] = br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}"#;

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let what = args.next().unwrap_or_else(|| "head".into());
    let limits = _codec::http::Limits { max_size: 65536, max_headers: 100, max_target: 8192 };
    let mut seen = 0usize;
    // `stream`: one stream's events, as the relay judges them (json_repeat.rs): CHUNK with
    // its token changed, in turn.
    let text = String::from_utf8_lossy(CHUNK);
    let stream: Vec<Vec<u8>> = (0..64).map(|i| text.replace("tok12 ", &format!("tok{i} ")).into_bytes()).collect();
    let mut repeat = _codec::json_repeat::RepeatScan::new();
    for _ in 0..runs {
        seen += match what.as_str() {
            "head" => _codec::http::parse_request_head(black_box(HEAD), limits, 0).ok().flatten().map_or(0, |h| h.headers.len()),
            "response" => _codec::http::parse_response_head(black_box(RESPONSE), limits, 0).ok().flatten().map_or(0, |h| h.headers.len()),
            "chunk" => usize::from(_codec::envelope::is_json(black_box(CHUNK))),
            "stream" => usize::from(repeat.is_json(black_box(&stream[seen % stream.len()]))),
            "answer" => usize::from(_codec::envelope::is_json(black_box(ANSWER))),
            "usage" => _codec::usage::openai_usage(black_box(ANSWER)).map_or(0, |(i, o)| (i.unwrap_or(0) + o.unwrap_or(0)) as usize),
            other => {
                eprintln!("unknown reader {other:?}: head, response, chunk, stream, answer or usage");
                std::process::exit(2);
            }
        };
    }
    println!("{seen}");
}
