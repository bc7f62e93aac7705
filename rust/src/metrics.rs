//! The Prometheus counts of one label set (aigw.observe.metrics): a request counter, the
//! duration / time-to-first-token / token histograms, cost, retries, fallbacks and
//! rate-limit refusals. Pure counting; python/metrics.rs reads a LogRecord into it, and the
//! Python collector renders the exposition from the counts at scrape time.

/// Bucket counts (not cumulative; the last is +Inf) and a sum, over fixed upper bounds.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    /// An empty histogram over ascending `bounds`.
    pub fn new(bounds: Vec<f64>) -> Self {
        let counts = vec![0; bounds.len() + 1];
        Histogram { bounds, counts, sum: 0.0 }
    }

    /// Count `value` in the first bucket whose bound is >= it (Python's `bisect_left`: a
    /// bucket le=b holds values <= b; NaN falls in the first, as bisect puts it).
    pub fn observe(&mut self, value: f64) {
        let i = self.bounds.partition_point(|&b| b < value);
        self.counts[i] += 1;
        self.sum += value;
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }
}

/// One upstream try of a request: its step and its attempt number within the step.
#[derive(Debug, Clone, Copy)]
pub struct Try {
    pub step: i64,
    pub attempt: i64,
}

/// What a finished request adds to its label set's counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Finished {
    pub duration_ms: f64,
    /// Streamed requests only: time to the upstream's first byte.
    pub ttfb_ms: Option<f64>,
    pub tokens_in: Option<f64>,
    pub tokens_out: Option<f64>,
    pub cost: Option<f64>,
    pub status: i64,
    /// How many upstream tries the request made (its tries are read only when > 1).
    pub attempts: usize,
}

/// Everything counted for one label set.
#[derive(Debug, Clone)]
pub struct Series {
    pub requests: u64,
    pub duration: Histogram,
    pub ttft: Histogram,
    pub tokens_in: Histogram,
    pub tokens_out: Histogram,
    pub cost: f64,
    pub retries: u64,
    pub fallbacks: u64,
    pub rate_limited: u64,
}

impl Series {
    pub fn new(duration_bounds: Vec<f64>, ttft_bounds: Vec<f64>, token_bounds: Vec<f64>) -> Self {
        Series {
            requests: 0,
            duration: Histogram::new(duration_bounds),
            ttft: Histogram::new(ttft_bounds),
            tokens_in: Histogram::new(token_bounds.clone()),
            tokens_out: Histogram::new(token_bounds),
            cost: 0.0,
            retries: 0,
            fallbacks: 0,
            rate_limited: 0,
        }
    }

    /// Count one finished request; `tries` are its upstream tries in order when it made more
    /// than one (`r.attempts`). A retry is a try whose attempt is past the first; a fallback
    /// is each step tried after the first try's step. A 429 with no try at all was refused by
    /// the gateway's own limiter.
    pub fn observe(&mut self, r: &Finished, tries: &[Try]) {
        self.requests += 1;
        self.duration.observe(r.duration_ms * 0.001);
        if let Some(ttfb) = r.ttfb_ms {
            self.ttft.observe(ttfb * 0.001);
        }
        if let Some(n) = r.tokens_in {
            self.tokens_in.observe(n);
        }
        if let Some(n) = r.tokens_out {
            self.tokens_out.observe(n);
        }
        if let Some(c) = r.cost {
            self.cost += c;
        }
        if r.attempts > 1 {
            let first_step = tries.first().map_or(0, |t| t.step);
            let mut steps = 1;
            for t in tries {
                if t.attempt > 1 {
                    self.retries += 1;
                } else if t.step != first_step {
                    steps += 1;
                }
            }
            self.fallbacks += steps - 1;
        } else if r.status == 429 && r.attempts == 0 {
            self.rate_limited += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_on_a_bound_counts_in_that_bound_s_bucket() {
        let mut h = Histogram::new(vec![1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 2.0, 9.0, f64::NAN] {
            h.observe(v);
        }
        assert_eq!(h.counts(), &[3, 2, 1]);
    }

    #[test]
    fn retries_and_fallbacks_are_counted_as_the_python_observer_did() {
        let mut s = Series::new(vec![1.0], vec![1.0], vec![1.0]);
        let tries = [Try { step: 0, attempt: 1 }, Try { step: 0, attempt: 2 }, Try { step: 1, attempt: 1 }, Try { step: 2, attempt: 1 }];
        s.observe(&Finished { status: 200, attempts: tries.len(), ..Default::default() }, &tries);
        assert_eq!((s.retries, s.fallbacks, s.rate_limited), (1, 2, 0));
        s.observe(&Finished { status: 429, ..Default::default() }, &[]);
        s.observe(&Finished { status: 429, attempts: 1, ..Default::default() }, &[]);
        assert_eq!((s.requests, s.rate_limited), (3, 1));
    }
}
