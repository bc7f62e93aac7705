//! Eight bytes at a time: the word tests the byte scanners share (json_scan's strings, http's
//! field values). A test answers a mask holding the high bit of each flagged byte; it is the
//! classic "has a zero byte" test, in which a borrow only carries out of a byte that matched,
//! so the lowest flagged byte always matched (higher flags may be false) and no matching byte
//! is ever missed. A scanner skips to the lowest flag and looks at that byte itself.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `data` from `at` as one word, the first in the low byte; None when fewer
/// than eight remain.
#[inline(always)]
pub(crate) fn word_at(data: &[u8], at: usize) -> Option<u64> {
    // A start past the end wraps to an empty range: None.
    let bytes: [u8; 8] = data.get(at..at.wrapping_add(8))?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Flags the bytes of `word` equal to `byte`.
#[inline(always)]
pub(crate) fn equal_to(word: u64, byte: u8) -> u64 {
    let v = word ^ (ONES * u64::from(byte));
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// Flags the bytes of `word` below `limit` (at most 0x80).
#[inline(always)]
pub(crate) fn below(word: u64, limit: u8) -> u64 {
    debug_assert!(limit <= 0x80);
    word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGHS
}

/// The index, within its word, of the lowest flagged byte of a nonzero mask.
#[inline(always)]
pub(crate) fn first(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_lowest_flag_is_the_first_matching_byte(
            bytes in proptest::array::uniform8(prop_oneof![Just(0u8), Just(0x1f), Just(0x20), Just(b'"'), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()]),
            byte in prop_oneof![Just(b'"'), Just(b'\\'), Just(0x7f), any::<u8>()],
            limit in 0u8..=0x80,
        ) {
            let word = u64::from_le_bytes(bytes);
            let first_of = |hit: &dyn Fn(u8) -> bool| bytes.iter().position(|&b| hit(b));
            let lowest = |flags: u64| (flags != 0).then(|| first(flags));
            prop_assert_eq!(lowest(equal_to(word, byte)), first_of(&|b| b == byte));
            prop_assert_eq!(lowest(below(word, limit)), first_of(&|b| b < limit));
            prop_assert_eq!(lowest(equal_to(word, byte) | below(word, limit)), first_of(&|b| b == byte || b < limit));
        }
    }

    #[test]
    fn a_word_needs_eight_bytes() {
        assert_eq!(word_at(b"abcdefgh", 0), Some(u64::from_le_bytes(*b"abcdefgh")));
        assert_eq!(word_at(b"abcdefgh", 1), None);
        assert_eq!(word_at(b"ab", usize::MAX), None);
    }
}
