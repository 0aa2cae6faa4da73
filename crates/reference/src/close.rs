//! One comparison helper with named tolerances: a value passes when
//! `|got - want| <= abs + rel * |want|` (the rule of the Hugging Face fixtures).

use std::fmt;

/// Absolute + relative tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Allowed absolute error.
    pub abs: f32,
    /// Allowed error relative to `|want|`.
    pub rel: f32,
}

impl Tolerance {
    /// Single f32 kernels against the f64-accumulating reference.
    pub const KERNEL: Tolerance = Tolerance { abs: 1e-4, rel: 1e-4 };
    /// Long reductions (matmul with large K, whole layers).
    pub const REDUCTION: Tolerance = Tolerance { abs: 5e-4, rel: 5e-4 };
    /// The Hugging Face model fixtures' default.
    pub const FIXTURE: Tolerance = Tolerance { abs: 3e-4, rel: 3e-4 };
    /// Exact equality (copies, gathers).
    pub const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

    /// `abs + rel·|want|`.
    pub const fn new(abs: f32, rel: f32) -> Self {
        Tolerance { abs, rel }
    }
}

/// What a comparison found.
#[derive(Clone, Debug, PartialEq)]
pub struct CloseReport {
    /// Values expected (`want.len()`).
    pub len: usize,
    /// Values out of tolerance (all of them, the longer length, when the lengths differ).
    pub failed: usize,
    /// Index of the largest excess over the tolerance (or of the largest error when all pass).
    pub worst_index: usize,
    /// `got` at `worst_index` (NaN when the lengths differ).
    pub worst_got: f32,
    /// `want` at `worst_index` (NaN when the lengths differ).
    pub worst_want: f32,
    /// Largest `|got - want|`; infinite for a NaN or for lengths that differ.
    pub max_abs_err: f32,
    /// The tolerance applied.
    pub tolerance: Tolerance,
}

impl CloseReport {
    /// True when no value failed.
    pub fn passed(&self) -> bool {
        self.failed == 0
    }
}

impl fmt::Display for CloseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} values outside abs {:e} + rel {:e}; worst at [{}]: got {} want {} (max abs err {:e})",
            self.failed,
            self.len,
            self.tolerance.abs,
            self.tolerance.rel,
            self.worst_index,
            self.worst_got,
            self.worst_want,
            self.max_abs_err
        )
    }
}

/// Compares without panicking. Lengths that differ count every value as failed.
/// NaN in either input fails.
pub fn check_close(got: &[f32], want: &[f32], tol: Tolerance) -> CloseReport {
    let mut rep = CloseReport {
        len: want.len(),
        failed: 0,
        worst_index: 0,
        worst_got: f32::NAN,
        worst_want: f32::NAN,
        max_abs_err: 0.0,
        tolerance: tol,
    };
    if got.len() != want.len() {
        rep.failed = got.len().max(want.len());
        rep.max_abs_err = f32::INFINITY;
        return rep;
    }
    let mut worst_excess = f32::NEG_INFINITY;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        // Equal values pass (equal infinities too); NaN, or unequal values where either is
        // infinite (+inf against -inf included), always fail.
        let excess = if g == w {
            0.0 - (tol.abs + tol.rel * w.abs())
        } else if err.is_nan() || g.is_infinite() || w.is_infinite() {
            f32::INFINITY
        } else {
            err - (tol.abs + tol.rel * w.abs())
        };
        if excess > 0.0 {
            rep.failed += 1;
        }
        if excess > worst_excess {
            worst_excess = excess;
            rep.worst_index = i;
            rep.worst_got = g;
            rep.worst_want = w;
        }
        if err > rep.max_abs_err || err.is_nan() {
            rep.max_abs_err = if err.is_nan() { f32::INFINITY } else { err };
        }
    }
    rep
}

/// Panics with the report (count failed, worst index, worst error) when any value is out of
/// tolerance. For tests and self-checks.
#[track_caller]
pub fn assert_close(got: &[f32], want: &[f32], tol: Tolerance) {
    let rep = check_close(got, want, tol);
    if !rep.passed() {
        if got.len() != want.len() {
            panic!("assert_close: length {} != expected {}", got.len(), want.len());
        }
        panic!("assert_close: {rep}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_worst_index_and_count() {
        let want = [1.0, 2.0, 3.0, 4.0];
        let got = [1.0, 2.1, 3.0, 3.5];
        let r = check_close(&got, &want, Tolerance::new(0.01, 0.0));
        assert_eq!(r.failed, 2);
        assert_eq!(r.worst_index, 3);
        assert!((r.max_abs_err - 0.5).abs() < 1e-6);
        assert!(!r.passed());
        assert!(check_close(&want, &want, Tolerance::EXACT).passed());
    }

    #[test]
    fn nan_and_length_fail() {
        assert!(!check_close(&[f32::NAN], &[1.0], Tolerance::KERNEL).passed());
        assert!(!check_close(&[1.0], &[1.0, 2.0], Tolerance::KERNEL).passed());
    }

    #[test]
    #[should_panic(expected = "1 of 2 values")]
    fn assert_close_panics_with_report() {
        assert_close(&[0.0, 1.0], &[0.0, 2.0], Tolerance::KERNEL);
    }
}

#[cfg(test)]
mod infinity_tests {
    use super::*;

    #[test]
    fn opposite_infinities_fail() {
        let r = check_close(&[f32::INFINITY], &[f32::NEG_INFINITY], Tolerance::new(1.0, 1.0));
        assert!(!r.passed() && r.failed == 1);
        assert!(check_close(&[f32::INFINITY], &[f32::INFINITY], Tolerance::EXACT).passed());
        assert!(!check_close(&[1.0], &[f32::INFINITY], Tolerance::new(1.0, 1.0)).passed());
    }
}
