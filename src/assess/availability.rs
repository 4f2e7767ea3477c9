//! Availability arithmetic: components in series and in parallel, k-of-n redundancy, and
//! zones that take their nodes down with them. Pure functions of fractions (0.0 to 1.0).

/// Minutes in an average year (365.25 days).
pub const MINUTES_PER_YEAR: f64 = 365.25 * 24.0 * 60.0;

/// Everything must work.
pub fn series(parts: &[f64]) -> f64 {
    parts.iter().product()
}

/// One of `n` identical copies is enough.
pub fn parallel(a: f64, n: u32) -> f64 {
    1.0 - (1.0 - a).powi(n as i32)
}

/// At least `k` of `n` independent copies, each up with probability `a`, are up.
pub fn at_least(k: usize, n: usize, a: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    (k..=n)
        .map(|i| binomial(n, i) * a.powi(i as i32) * (1.0 - a).powi((n - i) as i32))
        .sum()
}

fn binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// At least `k` nodes are up, where nodes sit in zones (`zones[i]` nodes in zone `i`), a zone
/// is up with probability `zone` and a node in an up zone with probability `node`. Exact:
/// every combination of zones up and down is weighed (zones are few).
pub fn nodes_with_zones(zones: &[usize], k: usize, node: f64, zone: f64) -> f64 {
    let z = zones.len();
    assert!(z <= 16, "zones are enumerated; 16 is plenty");
    let mut total = 0.0;
    for up_mask in 0u32..(1 << z) {
        let mut weight = 1.0;
        let mut nodes_up_zones = 0;
        for (i, &count) in zones.iter().enumerate() {
            if up_mask & (1 << i) != 0 {
                weight *= zone;
                nodes_up_zones += count;
            } else {
                weight *= 1.0 - zone;
            }
        }
        total += weight * at_least(k, nodes_up_zones, node);
    }
    total
}

/// Downtime a year for an availability fraction.
pub fn downtime_minutes_per_year(a: f64) -> f64 {
    (1.0 - a) * MINUTES_PER_YEAR
}

/// "Nines": 0.999 is 3, 0.9995 is about 3.3.
pub fn nines(a: f64) -> f64 {
    if a >= 1.0 {
        f64::INFINITY
    } else {
        -(1.0 - a).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn downtime_of_four_nines_is_about_52_minutes() {
        assert!((downtime_minutes_per_year(0.9999) - 52.596).abs() < 1e-6);
        assert!((downtime_minutes_per_year(0.99999) - 5.2596).abs() < 1e-6);
        assert!((downtime_minutes_per_year(0.999) - 525.96).abs() < 1e-6);
        assert!((nines(0.999) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn series_and_parallel_by_hand() {
        assert!(close(series(&[0.99, 0.9]), 0.891));
        assert!(close(parallel(0.99, 2), 0.9999));
        assert!(close(parallel(0.9, 3), 0.999));
    }

    #[test]
    fn k_of_n_by_hand() {
        // 2 of 3 at 0.9: 3 * 0.81 * 0.1 + 0.729 = 0.972
        assert!(close(at_least(2, 3, 0.9), 0.972));
        assert!(close(at_least(1, 3, 0.9), parallel(0.9, 3)));
        assert!(close(at_least(3, 3, 0.9), 0.729));
        assert!(close(at_least(4, 3, 0.9), 0.0));
        assert!(close(at_least(0, 0, 0.9), 1.0));
    }

    #[test]
    fn zones_take_their_nodes_down() {
        // One zone: zone up and at least one of two nodes up.
        assert!(close(
            nodes_with_zones(&[2], 1, 0.9, 0.99),
            0.99 * parallel(0.9, 2)
        ));
        // Two zones of one node each: node i is up with 0.9 * 0.99, independently.
        let each = 0.9 * 0.99;
        assert!(close(
            nodes_with_zones(&[1, 1], 1, 0.9, 0.99),
            parallel(each, 2)
        ));
        // A perfect zone changes nothing.
        assert!(close(
            nodes_with_zones(&[3], 2, 0.9, 1.0),
            at_least(2, 3, 0.9)
        ));
    }
}
