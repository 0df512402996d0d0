//! Angles on the unit sphere.
//!
//! The angle `acos(clamp(dot(x, y), -1, 1))` is a true metric on the sphere,
//! so cap tests by sums of angles are exact. Raw `1 - cos` values are not a
//! metric and are never compared against sums of radii.

use crate::IndexError;

/// Largest deviation of a norm from 1 accepted as "unit length"; embeddings
/// are f32 and pass through sums of hundreds of terms.
pub const UNIT_TOLERANCE: f32 = 1e-3;

/// Dot product of two vectors of the same length.
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    // Eight running sums: a single sum is one long chain of dependent adds
    // that the compiler may not reorder, so it is neither pipelined nor
    // vectorised; eight independent lanes can be both.
    let mut lanes = [0.0f32; 8];
    let (xs, ys) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f32 = xs.remainder().iter().zip(ys.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in xs.zip(ys) {
        for k in 0..8 {
            lanes[k] += a[k] * b[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Angle from a cosine, clamped so rounding cannot leave acos's domain.
pub fn angle_from_cos(cos: f32) -> f32 {
    cos.clamp(-1.0, 1.0).acos()
}

/// Angle in radians between two unit vectors.
pub fn angle(x: &[f32], y: &[f32]) -> f32 {
    angle_from_cos(dot(x, y))
}

/// Depth of a point at angle `theta` from a cap's centre: `(r - theta) / r`.
///
/// 1 at the centre, 0 on the boundary, negative outside. Requires `r > 0`.
pub fn depth(theta: f32, radius: f32) -> f32 {
    debug_assert!(radius > 0.0);
    (radius - theta) / radius
}

/// Scales `v` to unit length in place, refusing zero or non-finite vectors.
pub fn normalize(v: &mut [f32]) -> Result<(), IndexError> {
    let norm = dot(v, v).sqrt();
    if !norm.is_finite() {
        return Err(IndexError::NonFinite { index: 0 });
    }
    if norm == 0.0 {
        return Err(IndexError::NotUnit { index: 0, norm });
    }
    v.iter_mut().for_each(|a| *a /= norm);
    Ok(())
}

/// Checks that `v` has dimension `dim`, finite components and unit norm;
/// `index` names the vector in the error.
pub fn check_unit(v: &[f32], dim: usize, index: usize) -> Result<(), IndexError> {
    if v.len() != dim {
        return Err(IndexError::Dimension { expected: dim, actual: v.len() });
    }
    if v.iter().any(|a| !a.is_finite()) {
        return Err(IndexError::NonFinite { index });
    }
    let norm = dot(v, v).sqrt();
    if (norm - 1.0).abs() > UNIT_TOLERANCE {
        return Err(IndexError::NotUnit { index, norm });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_angle() {
        let a = angle(&[1.0, 0.0], &[0.0, 1.0]);
        assert!((a - std::f32::consts::FRAC_PI_2).abs() < 1e-6);
    }

    #[test]
    fn rounding_past_one_is_clamped() {
        assert_eq!(angle_from_cos(1.000_001), 0.0);
        assert!((angle_from_cos(-1.000_001) - std::f32::consts::PI).abs() < 1e-6);
    }

    #[test]
    fn normalize_refuses_zero_and_nan() {
        assert!(normalize(&mut [0.0, 0.0]).is_err());
        assert!(normalize(&mut [f32::NAN, 1.0]).is_err());
        let mut v = [3.0, 4.0];
        normalize(&mut v).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6);
    }

    #[test]
    fn check_unit_names_the_problem() {
        assert_eq!(check_unit(&[1.0], 2, 0), Err(IndexError::Dimension { expected: 2, actual: 1 }));
        assert_eq!(check_unit(&[f32::NAN, 0.0], 2, 3), Err(IndexError::NonFinite { index: 3 }));
        assert!(matches!(check_unit(&[2.0, 0.0], 2, 1), Err(IndexError::NotUnit { index: 1, .. })));
    }
}
