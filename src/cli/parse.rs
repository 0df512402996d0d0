//! Value parsers for flags whose range clap cannot state: a bad value is a
//! usage error (exit 2) naming the flag, before any work starts.

/// A count of at least one.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

/// A quantile or share in (0, 1].
pub fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(q) if q > 0.0 && q <= 1.0 => Ok(q),
        Ok(q) => Err(format!("{q} is not in (0, 1]")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

/// An angle in radians in (0, pi].
pub fn angle(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(a) if a > 0.0 && a <= std::f32::consts::PI => Ok(a),
        Ok(a) => Err(format!("{a} is not an angle in (0, pi] radians")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_enforced() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err() && at_least_one("-1").is_err());
        assert_eq!(fraction("1"), Ok(1.0));
        for bad in ["0", "2", "nan", "inf", "x"] {
            assert!(fraction(bad).is_err(), "{bad}");
            assert!(angle(bad).is_err() || bad == "2", "{bad}");
        }
        assert!(angle("4").is_err() && angle("-1").is_err() && angle("1.5").is_ok());
    }
}
