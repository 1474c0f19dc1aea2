//! Kubernetes `resource.Quantity`: parsing (`100m`, `0.5`, `1Gi`, `129e6`) into exact values, as the
//! API server accepts them. The scheduler counts cpu in millicores and everything else in whole units,
//! rounding up like upstream's `MilliValue()` / `Value()`.

use std::fmt;

/// A parsed quantity. Exact: the value is `mantissa * 10^exp10 * 2^exp2`-free rational kept as
/// `numerator / 10^scale` with binary suffixes folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    /// The text as written, kept for messages and round-trips.
    pub raw: String,
    /// value = num / 10^scale
    num: i128,
    scale: u32,
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Upstream: `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    #[error("quantity is too large")]
    TooLarge,
}

const MAX_SCALE: u32 = 30;

impl Quantity {
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let raw = s.to_string();
        let s = s.trim();
        if s.is_empty() {
            return Err(QuantityError::Format);
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if bytes[0] == b'+' || bytes[0] == b'-' {
            negative = bytes[0] == b'-';
            i = 1;
        }
        let num_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &s[num_start..i];
        let suffix = &s[i..];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(QuantityError::Format);
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let mut num: i128 = 0;
        let mut scale: u32 = 0;
        for d in int_part.bytes().chain(frac_part.bytes()) {
            num = num
                .checked_mul(10)
                .and_then(|n| n.checked_add(i128::from(d - b'0')))
                .ok_or(QuantityError::TooLarge)?;
        }
        scale += frac_part.len() as u32;
        let (format, mult10, mult2): (Format, i32, u32) = match suffix {
            "" => (Format::DecimalSI, 0, 0),
            "n" => (Format::DecimalSI, -9, 0),
            "u" => (Format::DecimalSI, -6, 0),
            "m" => (Format::DecimalSI, -3, 0),
            "k" => (Format::DecimalSI, 3, 0),
            "M" => (Format::DecimalSI, 6, 0),
            "G" => (Format::DecimalSI, 9, 0),
            "T" => (Format::DecimalSI, 12, 0),
            "P" => (Format::DecimalSI, 15, 0),
            "E" => (Format::DecimalSI, 18, 0),
            "Ki" => (Format::BinarySI, 0, 10),
            "Mi" => (Format::BinarySI, 0, 20),
            "Gi" => (Format::BinarySI, 0, 30),
            "Ti" => (Format::BinarySI, 0, 40),
            "Pi" => (Format::BinarySI, 0, 50),
            "Ei" => (Format::BinarySI, 0, 60),
            _ => {
                let exp = suffix
                    .strip_prefix('e')
                    .or_else(|| suffix.strip_prefix('E'))
                    .ok_or(QuantityError::Format)?;
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(QuantityError::Format);
                }
                let e: i32 = exp.parse().map_err(|_| QuantityError::TooLarge)?;
                (Format::DecimalExponent, e, 0)
            }
        };
        if mult2 > 0 {
            num = num
                .checked_mul(1i128 << mult2)
                .ok_or(QuantityError::TooLarge)?;
        }
        if mult10 >= 0 {
            let m = 10i128
                .checked_pow(mult10 as u32)
                .ok_or(QuantityError::TooLarge)?;
            num = num.checked_mul(m).ok_or(QuantityError::TooLarge)?;
        } else {
            scale += (-mult10) as u32;
        }
        if scale > MAX_SCALE {
            // Smaller than anything representable is still a valid, tiny quantity: keep it positive but
            // bounded (upstream rounds up to 1n for non-zero values).
            let drop = scale - MAX_SCALE;
            let d = 10i128.pow(drop);
            num = (num + d - 1) / d;
            scale = MAX_SCALE;
        }
        if negative {
            num = -num;
        }
        Ok(Quantity {
            raw,
            num,
            scale,
            format,
        })
    }

    /// Value × 1000, rounded up (upstream `MilliValue`), saturating at `i64` bounds.
    pub fn milli_value(&self) -> i64 {
        self.scaled_ceil(3)
    }

    /// Value rounded up to a whole unit (upstream `Value`), saturating at `i64` bounds.
    pub fn value(&self) -> i64 {
        self.scaled_ceil(0)
    }

    fn scaled_ceil(&self, digits: u32) -> i64 {
        let (num, scale) = (self.num, self.scale);
        let v = if digits >= scale {
            num.saturating_mul(10i128.pow(digits - scale))
        } else {
            let d = 10i128.pow(scale - digits);
            let q = num.div_euclid(d);
            if num.rem_euclid(d) == 0 { q } else { q + 1 }
        };
        v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    pub fn is_zero(&self) -> bool {
        self.num == 0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let cases = [
            ("100m", 100, 1),
            ("0.5", 500, 1),
            ("1", 1000, 1),
            ("1Gi", 1_073_741_824_000, 1_073_741_824),
            ("129e6", 129_000_000_000, 129_000_000),
            ("123Mi", 128_974_848_000, 128_974_848),
            ("1k", 1_000_000, 1000),
            ("1n", 1, 1),
            ("-100m", -100, 0),
            ("1.5Gi", 1_610_612_736_000, 1_610_612_736),
        ];
        for (s, milli, value) in cases {
            let q = Quantity::parse(s).unwrap();
            assert_eq!(q.milli_value(), milli, "{s} milli");
            assert_eq!(q.value(), value, "{s} value");
        }
    }

    #[test]
    fn rejects_malformed() {
        for s in ["", "abc", "1.2.3", "1Qi", "1e", "--1", ".", "1 Gi", "1e1.5"] {
            assert!(Quantity::parse(s).is_err(), "{s:?} should be rejected");
        }
    }
}
