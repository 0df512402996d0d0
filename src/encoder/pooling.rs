//! Mean pooling and L2 normalisation, as sentence-transformers 5.x/6.x does
//! for all-MiniLM-L6-v2 (`Pooling(mode="mean")` then `Normalize()`).

/// Averages the token vectors of one text over its attention mask, then
/// scales the mean to unit length.
///
/// `hidden` holds `mask.len()` rows of `dim` floats. The divisor is clamped
/// at 1e-9 and the norm at 1e-12, the same guards as sentence-transformers,
/// so an all-zero input gives a zero vector instead of NaN.
pub(crate) fn mean_pool_unit(hidden: &[f32], mask: &[i64], dim: usize) -> Vec<f32> {
    debug_assert_eq!(hidden.len(), mask.len() * dim);
    let mut sum = vec![0.0f32; dim];
    let mut count = 0.0f32;

    for (row, &m) in hidden.chunks_exact(dim).zip(mask) {
        if m == 0 {
            continue;
        }
        count += 1.0;
        for (s, &x) in sum.iter_mut().zip(row) {
            *s += x;
        }
    }

    let count = count.max(1e-9);
    sum.iter_mut().for_each(|s| *s /= count);
    normalise(&mut sum);
    sum
}

/// Scales `v` to unit L2 norm in place, leaving a zero vector as it is.
fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_do_not_count() {
        // Two real tokens and one padded token whose vector would flip the
        // direction if it were averaged in.
        let hidden = [1.0, 0.0, 0.0, 1.0, -100.0, 0.0];
        let v = mean_pool_unit(&hidden, &[1, 1, 0], 2);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((v[0] - h).abs() < 1e-6 && (v[1] - h).abs() < 1e-6, "{v:?}");
    }

    #[test]
    fn output_has_unit_norm() {
        let hidden = [3.0, 4.0, 6.0, 8.0];
        let v = mean_pool_unit(&hidden, &[1, 1], 2);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "norm {norm}");
        assert!((v[0] - 0.6).abs() < 1e-6, "{v:?}");
    }

    #[test]
    fn all_masked_gives_zero_not_nan() {
        let v = mean_pool_unit(&[1.0, 2.0], &[0], 2);
        assert_eq!(v, vec![0.0, 0.0]);
    }
}
