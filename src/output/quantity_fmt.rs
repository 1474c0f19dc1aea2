//! Sums of resource quantities and their canonical text, as `kubectl describe node` prints request/limit
//! totals (`750m`, `150Mi`, `1`, `0`). Canonical form is `crate::quantity`'s (`resource.Quantity.String()`), in the format of the
//! first quantity added. Parsing and formatting stay in `crate::quantity`; this only adds.

use crate::quantity::{Format, Quantity};

/// A running total kept in nano units: exact, like `resource.Quantity.Add` (fractional cpu or memory is
/// never rounded to millicores or bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuantitySum {
    nanos: i128,
    /// Format of the first quantity added (Go's `Quantity.Add` keeps the receiver's format).
    format: Option<Format>,
}

impl QuantitySum {
    pub fn add(&mut self, q: &Quantity) {
        self.nanos = self.nanos.saturating_add(q.nano_value());
        self.format.get_or_insert(q.format);
    }

    pub fn add_sum(&mut self, other: &QuantitySum) {
        self.nanos = self.nanos.saturating_add(other.nanos);
        if let Some(f) = other.format {
            self.format.get_or_insert(f);
        }
    }

    /// Upstream's `maxResourceList`: the larger one replaces this one, format included (init containers
    /// run one at a time).
    pub fn max_with(&mut self, other: &QuantitySum) {
        if other.nanos > self.nanos || self.format.is_none() {
            *self = *other;
        }
    }

    /// Milli-units, rounded up like `Quantity.MilliValue()`.
    pub fn milli_value(&self) -> i128 {
        ceil_div(self.nanos, 1_000_000)
    }

    /// Whole units, rounded up like `Quantity.Value()`.
    pub fn value(&self) -> i128 {
        ceil_div(self.nanos, 1_000_000_000)
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

impl std::fmt::Display for QuantitySum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = self.format.unwrap_or(Format::DecimalSI);
        f.write_str(&Quantity::from_nanos(self.nanos, format).canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(items: &[&str]) -> String {
        let mut s = QuantitySum::default();
        for i in items {
            s.add(&Quantity::parse(i).unwrap());
        }
        s.to_string()
    }

    #[test]
    fn seed_node_totals() {
        // `kubectl describe node k8s-master` in the seed: 100m+100m+250m+200m+0+100m, 50Mi+100Mi.
        assert_eq!(sum(&["100m", "100m", "250m", "200m", "100m"]), "750m");
        assert_eq!(sum(&["50Mi", "100Mi"]), "150Mi");
        assert_eq!(sum(&[]), "0");
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(sum(&["500m", "500m"]), "1");
        assert_eq!(sum(&["0.5", "1"]), "1500m");
        assert_eq!(sum(&["1000"]), "1k");
        assert_eq!(sum(&["512Mi", "512Mi"]), "1Gi");
        assert_eq!(sum(&["1000Ki"]), "1000Ki");
        assert_eq!(sum(&["100Mi", "1M"]), "105857600");
        assert_eq!(sum(&["512"]), "512");
        assert_eq!(sum(&["128M"]), "128M");
        assert_eq!(sum(&["129e6"]), "129e6");
    }

    #[test]
    fn full_precision() {
        // Not rounded to millicores or bytes, as `resource.Quantity.Add` keeps every digit.
        assert_eq!(sum(&["100u", "1m"]), "1100u");
        assert_eq!(sum(&["0.5n", "1n"]), "2n");
        assert_eq!(sum(&["1.5", "1"]), "2500m");
        assert_eq!(sum(&["100.5Mi"]), "102912Ki");
        assert_eq!(sum(&["1.1Ki"]), "1126400m");
        assert_eq!(sum(&["250n", "250n"]), "500n");
    }
}
