//! The per-connection payload: a pseudo-random byte stream every echoed
//! byte is checked against.

/// Connection `index`'s byte stream: `period` bytes of xorshift64* output
/// seeded by the index, repeated forever. Bytes `[off, off + len)` of the
/// stream are one contiguous slice for any `len <= max_write`, so writes
/// need no copying; checks compare against it with `memcmp` speed.
pub struct Pattern {
    bytes: Vec<u8>,
    period: usize,
}

impl Pattern {
    /// The stream of connection `index`.
    pub fn new(index: u64, period: usize, max_write: usize) -> Pattern {
        let period = period.max(1);
        let len = period + max_write;
        let mut rng = XorShift::new(index);
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < period {
            bytes.extend_from_slice(&rng.next().to_le_bytes());
        }
        bytes.truncate(period);
        for i in period..len {
            bytes.push(bytes[i - period]);
        }
        Pattern { bytes, period }
    }

    /// Stream bytes `[off, off + len)`; `len` must not exceed `max_write`.
    pub fn slice(&self, off: u64, len: usize) -> &[u8] {
        let start = (off % self.period as u64) as usize;
        &self.bytes[start..start + len]
    }

    /// Whether `data` equals stream bytes `[off, off + data.len())`; on a
    /// mismatch, the stream offset of the first differing byte.
    pub fn check(&self, off: u64, data: &[u8]) -> Result<(), u64> {
        let mut done = 0;
        while done < data.len() {
            let at = off + done as u64;
            let start = (at % self.period as u64) as usize;
            let n = (data.len() - done).min(self.bytes.len() - start);
            let want = &self.bytes[start..start + n];
            let got = &data[done..done + n];
            if want != got {
                let i = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
                return Err(at + i as u64);
            }
            done += n;
        }
        Ok(())
    }
}

/// xorshift64* (Vigna), seeded through splitmix64 so that seed 0 works.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn slices_continue_across_the_period() {
        let p = Pattern::new(7, 13, 20);
        let whole: Vec<u8> = (0..40).map(|i| p.slice(i, 1)[0]).collect();
        assert_eq!(p.slice(5, 20), &whole[5..25]);
        assert_eq!(p.check(3, &whole[3..40]), Ok(()));
        let mut bad = whole[3..40].to_vec();
        bad[30] ^= 1;
        assert_eq!(p.check(3, &bad), Err(33));
    }

    #[test]
    fn connections_differ() {
        let a = Pattern::new(0, 64, 0);
        let b = Pattern::new(1, 64, 0);
        assert_ne!(a.slice(0, 64), b.slice(0, 64));
    }
}
