use crate::geometry::{angle, check_unit, depth};
use crate::IndexError;
use serde::{Deserialize, Serialize};
use std::f32::consts::PI;

/// A spherical cap: every unit vector within angle `radius` of `centre`.
///
/// Invariants, checked by [`Cap::try_new`]: `centre` is finite and unit
/// length, `0 < radius <= pi`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cap {
    centre: Vec<f32>,
    radius: f32,
}

impl Cap {
    /// Builds a cap, refusing a centre that is not a finite unit vector or a
    /// radius outside (0, pi].
    pub fn try_new(centre: Vec<f32>, radius: f32) -> Result<Self, IndexError> {
        check_unit(&centre, centre.len(), 0)?;
        if !(radius > 0.0 && radius <= PI) {
            return Err(IndexError::Radius { radius });
        }
        Ok(Cap { centre, radius })
    }

    /// The cap's centre, a unit vector.
    pub fn centre(&self) -> &[f32] {
        &self.centre
    }

    /// The cap's angular radius in radians.
    pub fn radius(&self) -> f32 {
        self.radius
    }

    /// Whether `x` lies inside: `angle(x, c) <= r`.
    pub fn contains(&self, x: &[f32]) -> bool {
        angle(x, &self.centre) <= self.radius
    }

    /// Depth of `x`: 1 at the centre, 0 on the boundary, negative outside.
    pub fn depth(&self, x: &[f32]) -> f32 {
        depth(angle(x, &self.centre), self.radius)
    }

    /// Whether two caps share a point: `angle(c1, c2) <= r1 + r2`.
    pub fn intersects(&self, other: &Cap) -> bool {
        angle(&self.centre, &other.centre) <= self.radius + other.radius
    }

    /// Whether `other` lies wholly inside `self`: `angle(c1, c2) + r2 <= r1`.
    pub fn contains_cap(&self, other: &Cap) -> bool {
        angle(&self.centre, &other.centre) + other.radius <= self.radius
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.into_iter().map(|a| a / n).collect()
    }

    fn point_at(theta: f32) -> Vec<f32> {
        vec![theta.cos(), theta.sin(), 0.0]
    }

    #[test]
    fn refuses_bad_radius_and_centre() {
        assert!(Cap::try_new(vec![1.0, 0.0], 0.0).is_err());
        assert!(Cap::try_new(vec![1.0, 0.0], 4.0).is_err());
        assert!(Cap::try_new(vec![1.0, 0.0], f32::NAN).is_err());
        assert!(Cap::try_new(vec![2.0, 0.0], 1.0).is_err());
    }

    #[test]
    fn boundary_and_depth() {
        let cap = Cap::try_new(point_at(0.0), 0.5).unwrap();
        assert!(cap.contains(&point_at(0.49)));
        assert!(!cap.contains(&point_at(0.51)));
        assert!((cap.depth(&point_at(0.25)) - 0.5).abs() < 1e-4);
        assert!((cap.depth(&point_at(0.0)) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn intersection_and_containment_on_a_great_circle() {
        let a = Cap::try_new(point_at(0.0), 0.5).unwrap();
        let b = Cap::try_new(point_at(0.9), 0.5).unwrap();
        let c = Cap::try_new(point_at(1.1), 0.5).unwrap();
        let small = Cap::try_new(point_at(0.2), 0.2).unwrap();
        assert!(a.intersects(&b) && !a.intersects(&c));
        assert!(a.contains_cap(&small) && !small.contains_cap(&a));
    }

    fn vec3() -> impl Strategy<Value = Vec<f32>> {
        prop::collection::vec(-1.0f32..1.0, 3)
            .prop_filter("non-zero", |v| v.iter().map(|a| a * a).sum::<f32>() > 1e-3)
            .prop_map(unit)
    }

    proptest! {
        // Against a naive reference in f64: membership agrees away from the
        // boundary, where f32 rounding cannot decide.
        #[test]
        fn membership_matches_f64_reference(c in vec3(), x in vec3(), r in 0.01f32..3.1) {
            let cap = Cap::try_new(c.clone(), r).unwrap();
            let cos: f64 = c.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
            let theta = cos.clamp(-1.0, 1.0).acos();
            prop_assume!((theta - r as f64).abs() > 1e-4);
            prop_assert_eq!(cap.contains(&x), theta <= r as f64);
            let d = (r as f64 - theta) / r as f64;
            prop_assert!((cap.depth(&x) as f64 - d).abs() < 1e-2 / r as f64);
        }

        // A point inside both caps proves they intersect; containment implies
        // intersection and that the inner centre is inside the outer cap.
        #[test]
        fn intersection_is_consistent(c1 in vec3(), c2 in vec3(), x in vec3(),
                                      r1 in 0.01f32..1.5, r2 in 0.01f32..1.5) {
            let a = Cap::try_new(c1, r1).unwrap();
            let b = Cap::try_new(c2.clone(), r2).unwrap();
            if a.contains(&x) && b.contains(&x) {
                prop_assert!(a.intersects(&b));
            }
            if a.contains_cap(&b) {
                prop_assert!(a.intersects(&b));
                prop_assert!(a.contains(&c2));
            }
            prop_assert_eq!(a.intersects(&b), b.intersects(&a));
        }
    }
}
