//! Sums of resource quantities and their canonical text, as `kubectl describe node` prints request/limit
//! totals (`750m`, `150Mi`, `1`, `0`). Canonical form is `crate::quantity`'s (`resource.Quantity.String()`), in the format of the
//! first quantity added. Parsing and formatting stay in `crate::quantity`; this only adds.

use crate::quantity::{Format, Quantity};

/// A running total kept in milli-units, exact for anything the scheduler can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuantitySum {
    milli: i128,
    /// Format of the first quantity added (Go's `Quantity.Add` keeps the receiver's format).
    format: Option<Format>,
}

impl QuantitySum {
    pub fn add(&mut self, q: &Quantity) {
        self.milli += i128::from(q.milli_value());
        self.format.get_or_insert(q.format);
    }

    pub fn add_sum(&mut self, other: &QuantitySum) {
        self.milli += other.milli;
        if let Some(f) = other.format {
            self.format.get_or_insert(f);
        }
    }

    /// Keeps the larger of the two (used for init containers, which run one at a time).
    pub fn max_with(&mut self, other: &QuantitySum) {
        if other.milli > self.milli {
            self.milli = other.milli;
            if self.format.is_none() {
                self.format = other.format;
            }
        }
    }

    /// The same display format with another amount (totals computed elsewhere, printed like kubectl).
    pub fn with_milli(self, milli: i128) -> QuantitySum {
        QuantitySum { milli, ..self }
    }

    pub fn milli_value(&self) -> i128 {
        self.milli
    }

    /// Whole units, rounded up like `Quantity.Value()`.
    pub fn value(&self) -> i128 {
        (self.milli + 999).div_euclid(1000)
    }

    pub fn is_zero(&self) -> bool {
        self.milli == 0
    }
}

impl std::fmt::Display for QuantitySum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&canonical(
            self.milli,
            self.format.unwrap_or(Format::DecimalSI),
        ))
    }
}

/// Canonical text of `milli / 1000` in `format`: `resource.Quantity.String()`, via [`Quantity::canonical`].
pub fn canonical(milli: i128, format: Format) -> String {
    let milli = i64::try_from(milli).unwrap_or(if milli < 0 { i64::MIN } else { i64::MAX });
    Quantity::from_scaled(milli, 3, format).canonical()
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
}
