//! Small checks and sizes shared by the kernel crates' ops.

use crate::error::{Error, Result};

/// Fails with [`Error::LimitExceeded`] when `n` (a dim or element count of `op`) does not fit
/// the u32 that kernels index with; else `n` as u32.
pub fn fits_u32(op: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::LimitExceeded { op, what: "elements", value: n as u64, limit: u32::MAX as u64 })
}

/// An [`Error::InvalidArgument`] of `op`.
pub fn invalid(op: &'static str, message: String) -> Error {
    Error::InvalidArgument { op, message }
}

/// Workgroups needed for `n` items at `per` items each (rounded up).
pub fn groups(n: usize, per: usize) -> u64 {
    (n as u64).div_ceil(per as u64)
}
