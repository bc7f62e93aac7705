//! Log ids: lowercase UUIDv7 text (RFC 9562) that sorts in creation order within a process.
//!
//! A new millisecond starts from 73 random bits (the top bit of the 74-bit random field clear,
//! leaving room to count up) and every further id in the same millisecond adds one (RFC 9562
//! §6.2, method 2). A clock that steps back keeps the last timestamp; 2^73 ids in one
//! millisecond borrow the next one. The caller supplies the clock and the randomness, so this
//! module is pure and tested bytes-out.
//!
//! The randomness comes from the OS through a `RandomPool`: one `getrandom` system call fills
//! 32 draws (every millisecond with a request starts one: each request's at up to ~1,000
//! requests a second, one in seven at 7,000; a call was ~0.5-1 µs on a VM), and a pool whose
//! process forked since it was filled is refilled first, so a parent and its child never start
//! a millisecond from the same bits.

/// 12 bits rand_a + 62 bits rand_b.
const RAND_BITS: u32 = 74;
const RAND_MASK: u128 = (1 << RAND_BITS) - 1;
const RAND_B_MASK: u128 = (1 << 62) - 1;
const VARIANT: u64 = 0b10 << 62;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The last id's millisecond and random field.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogIdClock {
    last_ms: u64,
    last_rand: u128,
}

impl LogIdClock {
    /// A clock that has issued nothing yet.
    pub const fn new() -> Self {
        LogIdClock { last_ms: 0, last_rand: 0 }
    }

    /// The next (millisecond, random field) for a clock reading `now_ms`; `fresh()` gives
    /// random bits when a new millisecond starts (only the low 73 are used).
    pub fn next(&mut self, now_ms: u64, fresh: impl FnOnce() -> u128) -> (u64, u128) {
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            self.last_rand = fresh() & (RAND_MASK >> 1);
        } else {
            self.last_rand += 1;
            if self.last_rand > RAND_MASK {
                self.last_ms += 1;
                self.last_rand = fresh() & (RAND_MASK >> 1);
            }
        }
        (self.last_ms, self.last_rand)
    }
}

/// Bytes of OS randomness drawn 16 at a time: `POOL_DRAWS` draws per fill.
const POOL_DRAWS: usize = 32;

/// Random 128-bit draws cut from one buffer of OS randomness. `generation` names the process
/// image the bytes belong to (the caller bumps its count in a forked child); a draw under
/// another generation than the fill's throws the rest away and fills again.
#[derive(Debug)]
pub struct RandomPool {
    bytes: [u8; 16 * POOL_DRAWS],
    next: usize, // the next unused draw; POOL_DRAWS: empty
    generation: u64,
}

impl RandomPool {
    /// An empty pool: the first draw fills it.
    pub const fn new() -> Self {
        RandomPool { bytes: [0; 16 * POOL_DRAWS], next: POOL_DRAWS, generation: 0 }
    }

    /// The next 128 random bits of `generation`: from the pool, or from a fresh fill by
    /// `fill(buffer)` (false: no OS randomness; then None, and nothing of the failed fill is
    /// ever handed out).
    pub fn draw(&mut self, generation: u64, fill: impl FnOnce(&mut [u8]) -> bool) -> Option<u128> {
        if self.next >= POOL_DRAWS || self.generation != generation {
            if !fill(&mut self.bytes) {
                self.next = POOL_DRAWS;
                return None;
            }
            self.next = 0;
            self.generation = generation;
        }
        let at = self.next * 16;
        self.next += 1;
        let mut draw = [0u8; 16];
        draw.copy_from_slice(&self.bytes[at..at + 16]);
        Some(u128::from_le_bytes(draw))
    }
}

impl Default for RandomPool {
    fn default() -> Self {
        Self::new()
    }
}

fn hex_into(out: &mut [u8], mut value: u64) {
    for byte in out.iter_mut().rev() {
        *byte = HEX[(value & 0xF) as usize];
        value >>= 4;
    }
}

/// `tttttttt-tttt-7aaa-vbbb-bbbbbbbbbbbb` for a 48-bit millisecond and a 74-bit random field.
pub fn format_log_id(ms: u64, rand: u128) -> [u8; 36] {
    let mut out = [b'-'; 36];
    let ms = ms & 0xFFFF_FFFF_FFFF;
    hex_into(&mut out[0..8], ms >> 16);
    hex_into(&mut out[9..13], ms & 0xFFFF);
    out[14] = b'7';
    hex_into(&mut out[15..18], (rand >> 62) as u64 & 0xFFF);
    let low = VARIANT | (rand & RAND_B_MASK) as u64;
    hex_into(&mut out[19..23], low >> 48);
    hex_into(&mut out[24..36], low & 0xFFFF_FFFF_FFFF);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_rfc_layout() {
        let id = format_log_id(0x0123_4567_89ab, (0xabc << 62) | 0x1234);
        assert_eq!(&id, b"01234567-89ab-7abc-8000-000000001234");
    }

    #[test]
    fn counts_up_within_a_millisecond_and_restarts_on_the_next() {
        let mut clock = LogIdClock::default();
        assert_eq!(clock.next(5, || 100), (5, 100));
        assert_eq!(clock.next(5, || unreachable!()), (5, 101));
        assert_eq!(clock.next(4, || unreachable!()), (5, 102)); // the clock stepped back
        assert_eq!(clock.next(6, || u128::MAX), (6, RAND_MASK >> 1));
    }

    #[test]
    fn a_full_millisecond_borrows_the_next() {
        let mut clock = LogIdClock { last_ms: 9, last_rand: RAND_MASK };
        assert_eq!(clock.next(9, || 7), (10, 7));
    }

    /// A fill that writes `seed + k` into every byte of draw k and counts its calls.
    fn counting_fill(calls: &mut u32, seed: u8) -> impl FnOnce(&mut [u8]) -> bool + '_ {
        move |buf: &mut [u8]| {
            *calls += 1;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = seed.wrapping_add((i / 16) as u8);
            }
            true
        }
    }

    #[test]
    fn one_fill_gives_thirty_two_different_draws() {
        let mut pool = RandomPool::new();
        let mut calls = 0;
        let mut draws = Vec::new();
        for _ in 0..POOL_DRAWS {
            draws.push(pool.draw(0, counting_fill(&mut calls, 0)).unwrap());
        }
        assert_eq!(calls, 1);
        draws.sort();
        draws.dedup();
        assert_eq!(draws.len(), POOL_DRAWS);
        pool.draw(0, counting_fill(&mut calls, 0)).unwrap();
        assert_eq!(calls, 2, "the thirty-third draw fills again");
    }

    #[test]
    fn a_new_generation_never_sees_the_old_fill() {
        let mut pool = RandomPool::new();
        let mut calls = 0;
        let parent = pool.draw(0, counting_fill(&mut calls, 0)).unwrap();
        let child = pool.draw(1, counting_fill(&mut calls, 100)).unwrap();
        assert_eq!(calls, 2);
        assert_ne!(parent, child);
        assert_eq!(child, u128::from_le_bytes([100; 16]));
    }

    #[test]
    fn a_failed_fill_hands_out_nothing_and_is_tried_again() {
        let mut pool = RandomPool::new();
        assert_eq!(pool.draw(0, |_| false), None);
        let mut calls = 0;
        assert!(pool.draw(0, counting_fill(&mut calls, 0)).is_some());
        assert_eq!(calls, 1);
    }

    #[test]
    fn ids_of_one_millisecond_sort_as_text() {
        let mut clock = LogIdClock::default();
        let ids: Vec<[u8; 36]> = (0..1000).map(|_| {
            let (ms, r) = clock.next(42, || (1 << 62) - 3);
            format_log_id(ms, r)
        }).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
