//! WebSocket payload masking (RFC 6455 §5.3): XOR with a 4-byte key, at memory bandwidth.
//!
//! Masking is its own inverse, so one set of functions masks and unmasks. Every function takes
//! a *phase* (the key offset of the first byte, 0..4) and returns the phase after the slice, so
//! a payload can be unmasked chunk by chunk as it arrives while the chunk is still hot in cache.
//!
//! Paths: a scalar reference (tests), a word-at-a-time u64 path aligned with `align_to_mut`
//! (short payloads and non-x86 targets), and explicit SSE2/AVX2 kernels picked once at runtime
//! (`is_x86_feature_detected!`, cached function pointer). Wheels target baseline x86-64, so AVX2
//! is only reachable through runtime dispatch; we never build with `target-cpu=native`.
//! Regular (not non-temporal) stores: the unmasked payload is read right after.

use std::sync::OnceLock;

/// Below this length the u64 path beats the SIMD dispatch.
const SIMD_THRESHOLD: usize = 64;

/// The key rotated so that byte 0 of the result applies to the first byte at `phase`.
#[inline(always)]
fn rotate(mask: [u8; 4], phase: usize) -> [u8; 4] {
    let p = phase & 3;
    [
        mask[p],
        mask[(p + 1) & 3],
        mask[(p + 2) & 3],
        mask[(p + 3) & 3],
    ]
}

/// Byte-at-a-time reference implementation. Returns the phase after `buf`.
pub fn apply_mask_scalar(buf: &mut [u8], mask: [u8; 4], phase: usize) -> usize {
    let mut p = phase & 3;
    for b in buf.iter_mut() {
        *b ^= mask[p];
        p = (p + 1) & 3;
    }
    p
}

/// XOR `buf` with the (already rotated, phase 0) key a u64 word at a time, with aligned stores.
#[inline]
fn xor_words(buf: &mut [u8], m: [u8; 4]) {
    // SAFETY: u64 has no invalid bit patterns, so viewing aligned u8 runs as u64 is sound.
    let (head, words, tail) = unsafe { buf.align_to_mut::<u64>() };
    let mut p = 0usize;
    for b in head.iter_mut() {
        *b ^= m[p];
        p = (p + 1) & 3;
    }
    let r = rotate(m, p);
    let w = u64::from_ne_bytes([r[0], r[1], r[2], r[3], r[0], r[1], r[2], r[3]]);
    for x in words.iter_mut() {
        *x ^= w;
    }
    // 8 is a multiple of 4: the phase after the words is still `p`.
    for (i, b) in tail.iter_mut().enumerate() {
        *b ^= r[i & 3];
    }
}

/// XOR a short `buf` with the (rotated) key using unaligned u64 loads/stores: no prologue,
/// which is what frames of a few dozen bytes need.
#[inline(always)]
fn xor_short(buf: &mut [u8], m: [u8; 4]) {
    let w = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(b) ^ w).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i & 3];
    }
}

/// Mask or unmask `buf` in place with `mask`, starting at key offset `phase`. Returns the phase
/// after `buf` (`(phase + buf.len()) % 4`). An all-zero key is skipped.
#[inline]
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], phase: usize) -> usize {
    let next = (phase + buf.len()) & 3;
    if mask == [0; 4] || buf.is_empty() {
        return next;
    }
    let m = rotate(mask, phase);
    if buf.len() < SIMD_THRESHOLD {
        xor_short(buf, m);
    } else {
        (kernel())(buf, m);
    }
    next
}

/// Copy `src` into `dst` (appending) and mask the copy, starting at key offset 0.
pub fn extend_masked(dst: &mut Vec<u8>, src: &[u8], mask: [u8; 4]) {
    let start = dst.len();
    dst.extend_from_slice(src);
    apply_mask(&mut dst[start..], mask, 0);
}

type Kernel = fn(&mut [u8], [u8; 4]);

static KERNEL: OnceLock<Kernel> = OnceLock::new();

/// The best kernel for this CPU, detected once.
#[inline]
fn kernel() -> Kernel {
    *KERNEL.get_or_init(detect)
}

/// Name of the kernel runtime dispatch picked ("avx2", "sse2" or "u64"), for diagnostics.
pub fn kernel_name() -> &'static str {
    let k = kernel();
    #[cfg(target_arch = "x86_64")]
    {
        if k as usize == x86::avx2 as Kernel as usize {
            return "avx2";
        }
        if k as usize == x86::sse2 as Kernel as usize {
            return "sse2";
        }
    }
    let _ = k;
    "u64"
}

fn detect() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            return x86::avx2;
        }
        return x86::sse2;
    }
    #[allow(unreachable_code)]
    xor_words
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! SSE2 (baseline on x86-64) and AVX2 kernels. Loads and stores are unaligned-tolerant;
    //! the AVX2 kernel first aligns the destination to 32 bytes with the word path.
    use super::{rotate, xor_words};
    use std::arch::x86_64::*;

    /// SSE2 kernel: 64 bytes per iteration, then the word path for the tail.
    pub fn sse2(buf: &mut [u8], m: [u8; 4]) {
        let n = buf.len() / 16 * 16;
        let (body, tail) = buf.split_at_mut(n);
        let pat = [
            m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3], m[0], m[1],
            m[2], m[3],
        ];
        // SAFETY: SSE2 is part of the x86-64 baseline. Every pointer stays inside `body`
        // (chunks of exactly 16 bytes), and loadu/storeu have no alignment requirement.
        unsafe {
            let key = _mm_loadu_si128(pat.as_ptr().cast());
            for c in body.chunks_exact_mut(16) {
                let p = c.as_mut_ptr().cast::<__m128i>();
                _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), key));
            }
        }
        // 16 is a multiple of 4: the tail starts at phase 0 of `m`.
        xor_words(tail, m);
    }

    /// AVX2 entry point (only installed after `is_x86_feature_detected!("avx2")`).
    pub fn avx2(buf: &mut [u8], m: [u8; 4]) {
        // SAFETY: this function is only selected by `detect` when the CPU reports AVX2.
        unsafe { avx2_impl(buf, m) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn avx2_impl(buf: &mut [u8], m: [u8; 4]) {
        let misalign = buf.as_ptr() as usize & 31;
        let head_len = if misalign == 0 {
            0
        } else {
            (32 - misalign).min(buf.len())
        };
        let (head, rest) = buf.split_at_mut(head_len);
        xor_words(head, m);
        let m = rotate(m, head_len);
        let n = rest.len() / 32 * 32;
        let (body, tail) = rest.split_at_mut(n);
        let mut pat = [0u8; 32];
        for (i, b) in pat.iter_mut().enumerate() {
            *b = m[i & 3];
        }
        // SAFETY: the caller guarantees AVX2; `body` starts 32-byte aligned and is walked in
        // exact 32-byte chunks, so every aligned load/store is in bounds and aligned.
        unsafe {
            let key = _mm256_loadu_si256(pat.as_ptr().cast());
            let mut chunks = body.chunks_exact_mut(128);
            for c in &mut chunks {
                let p = c.as_mut_ptr().cast::<__m256i>();
                let a = _mm256_xor_si256(_mm256_load_si256(p), key);
                let b = _mm256_xor_si256(_mm256_load_si256(p.add(1)), key);
                let d = _mm256_xor_si256(_mm256_load_si256(p.add(2)), key);
                let e = _mm256_xor_si256(_mm256_load_si256(p.add(3)), key);
                _mm256_store_si256(p, a);
                _mm256_store_si256(p.add(1), b);
                _mm256_store_si256(p.add(2), d);
                _mm256_store_si256(p.add(3), e);
            }
            for c in chunks.into_remainder().chunks_exact_mut(32) {
                let p = c.as_mut_ptr().cast::<__m256i>();
                _mm256_store_si256(p, _mm256_xor_si256(_mm256_load_si256(p), key));
            }
        }
        xor_words(tail, m);
    }
}

/// A masking key from caller-given bytes: exactly 4 of them, or an error saying so.
pub fn mask_key(key: &[u8]) -> Result<[u8; 4], &'static str> {
    key.try_into().map_err(|_| "key must be 4 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 3)) as u8)
            .collect()
    }

    #[test]
    fn rfc_masked_hello_unmasks() {
        let mut p = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut p, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&p, b"Hello");
    }

    #[test]
    fn every_length_alignment_and_phase_matches_scalar() {
        let mask = [0xa1, 0x02, 0xf3, 0x7c];
        let base = pattern(300 + 64);
        for len in 0..300 {
            for align in 0..64 {
                for phase in 0..4 {
                    let mut fast = base.clone();
                    let mut slow = base.clone();
                    let pf = apply_mask(&mut fast[align..align + len], mask, phase);
                    let ps = apply_mask_scalar(&mut slow[align..align + len], mask, phase);
                    assert_eq!(pf, ps);
                    assert!(fast == slow, "len {len} align {align} phase {phase}");
                }
            }
        }
    }

    #[test]
    fn each_kernel_matches_scalar() {
        let mask = [9, 8, 7, 6];
        let mut kernels: Vec<Kernel> = vec![xor_words, xor_short];
        #[cfg(target_arch = "x86_64")]
        {
            kernels.push(x86::sse2);
            if std::is_x86_feature_detected!("avx2") {
                kernels.push(x86::avx2);
            }
        }
        let base = pattern(600);
        for k in kernels {
            for len in [0, 1, 15, 31, 33, 127, 128, 129, 300, 511] {
                for align in 0..33 {
                    let mut fast = base.clone();
                    let mut slow = base.clone();
                    k(&mut fast[align..align + len], mask);
                    apply_mask_scalar(&mut slow[align..align + len], mask, 0);
                    assert!(fast == slow, "len {len} align {align}");
                }
            }
        }
    }

    #[test]
    fn chunked_unmask_with_phase_equals_one_pass() {
        let mask = [1, 2, 3, 4];
        let orig = pattern(1000);
        let mut whole = orig.clone();
        apply_mask(&mut whole, mask, 0);
        let mut parts = orig.clone();
        let mut phase = 0;
        let mut at = 0;
        for step in [1, 7, 64, 3, 200, 5, 720] {
            phase = apply_mask(&mut parts[at..at + step], mask, phase);
            at += step;
        }
        assert_eq!(at, 1000);
        assert!(parts == whole);
    }

    #[test]
    fn zero_mask_is_identity() {
        let mut p = pattern(100);
        assert_eq!(apply_mask(&mut p, [0; 4], 3), 3);
        assert!(p == pattern(100));
    }

    #[test]
    fn a_mask_key_is_exactly_4_bytes() {
        assert_eq!(mask_key(b"abcd"), Ok(*b"abcd"));
        assert_eq!(mask_key(b"abc"), Err("key must be 4 bytes"));
        assert_eq!(mask_key(b"abcde"), Err("key must be 4 bytes"));
    }
}
