//! Little-endian parameter (de)serialisation shared by the quantizers.

use crate::{Metric, QuantError};

/// The metric's code in parameter files (0 l2, 1 ip, 2 cosine).
pub fn metric_code(m: Metric) -> u32 {
    match m {
        Metric::L2 => 0,
        Metric::Ip => 1,
        Metric::Cosine => 2,
    }
}

/// Inverse of [`metric_code`].
pub fn metric_from(code: u32) -> Result<Metric, QuantError> {
    match code {
        0 => Ok(Metric::L2),
        1 => Ok(Metric::Ip),
        2 => Ok(Metric::Cosine),
        x => Err(QuantError::Corrupt(format!("unknown metric code {x}"))),
    }
}

/// Append a u32.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Append an f32 slice.
pub fn put_f32s(out: &mut Vec<u8>, v: &[f32]) {
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Largest sum of squares of one stored parameter array (centres, bounds, codebooks): the
/// squared-norm limit vectors have, so no distance computed from parameters overflows f32.
pub const MAX_PARAM_NORM_SQ: f64 = f32::MAX as f64 / 4.0;

/// A bounds-checked reader over parameter bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Read from the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Take `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], QuantError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| QuantError::Corrupt("parameters are truncated".into()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Read a u32.
    pub fn u32(&mut self) -> Result<u32, QuantError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Read `n` f32 values: finite, with a sum of squares of at most [`MAX_PARAM_NORM_SQ`]
    /// (so distances computed from them cannot overflow f32).
    pub fn f32s(&mut self, n: usize) -> Result<Vec<f32>, QuantError> {
        let len = n
            .checked_mul(4)
            .ok_or_else(|| QuantError::Corrupt("length overflows".into()))?;
        let b = self.bytes(len)?;
        let v: Vec<f32> = b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut sq = 0f64;
        for &x in &v {
            if !x.is_finite() {
                return Err(QuantError::Corrupt("non-finite parameter".into()));
            }
            sq += f64::from(x) * f64::from(x);
        }
        if sq > MAX_PARAM_NORM_SQ {
            return Err(QuantError::Corrupt(
                "parameters too large: distances would overflow f32".into(),
            ));
        }
        Ok(v)
    }

    /// Fail unless every byte was consumed.
    pub fn finish(self) -> Result<(), QuantError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(QuantError::Corrupt(
                "trailing bytes after parameters".into(),
            ))
        }
    }
}
