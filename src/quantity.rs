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

/// Quantities are exact to nano units (10^-9).
const MAX_SCALE: u32 = 9;

impl Quantity {
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let raw = s.to_string();
        // No whitespace anywhere: upstream rejects " 1" and "1 " alike.
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
                // Absurd exponents clamp like any other out-of-range value.
                let e: i32 = exp
                    .parse()
                    .unwrap_or(if exp.starts_with('-') { -1000 } else { 1000 });
                (Format::DecimalExponent, e, 0)
            }
        };
        let mut clamped = false;
        if mult2 > 0 {
            match num.checked_mul(1i128 << mult2) {
                Some(n) => num = n,
                None => clamped = true,
            }
        }
        if mult10 >= 0 {
            match 10i128
                .checked_pow(mult10 as u32)
                .and_then(|m| num.checked_mul(m))
            {
                Some(n) => num = n,
                None => clamped = num != 0,
            }
        } else {
            scale = scale.saturating_add(mult10.unsigned_abs());
        }
        if scale > MAX_SCALE {
            // Exact to nano: anything finer rounds up (away from zero) to the next nano unit.
            let drop = scale - MAX_SCALE;
            num = match 10i128.checked_pow(drop) {
                Some(d) => (num + d - 1) / d,
                None => i128::from(num != 0),
            };
            scale = MAX_SCALE;
        }
        // Values beyond 2^63-1 base units are clamped to that maximum.
        let max = i128::from(i64::MAX) * 10i128.pow(scale);
        if clamped || num > max {
            num = i128::from(i64::MAX);
            scale = 0;
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

impl Quantity {
    /// A quantity of `value × 10^-decimals` in the given format (e.g. `(300, 3, DecimalSI)` = `300m`).
    pub fn from_scaled(value: i64, decimals: u32, format: Format) -> Quantity {
        let decimals = decimals.min(MAX_SCALE);
        let mut q = Quantity {
            raw: String::new(),
            num: i128::from(value),
            scale: decimals,
            format,
        };
        q.raw = q.canonical();
        q
    }

    /// The exact value in nano units (10^-9).
    pub fn nano_value(&self) -> i128 {
        self.num.saturating_mul(10i128.pow(MAX_SCALE - self.scale))
    }

    /// A quantity of exactly `nanos × 10^-9` (sums of quantities keep full precision this way).
    pub fn from_nanos(nanos: i128, format: Format) -> Quantity {
        let mut q = Quantity {
            raw: String::new(),
            num: nanos,
            scale: MAX_SCALE,
            format,
        };
        q.raw = q.canonical();
        q
    }

    /// `(mantissa, exponent)` as written, the shape of upstream's `int64Amount` for simple forms.
    pub fn int64_amount(&self) -> (i64, i32) {
        let v = self.num.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        (v, -(self.scale as i32))
    }

    /// Canonical form (upstream `String()`): no precision lost, no fractional digits, largest exponent;
    /// binary suffixes only for integers ≥ 1024 in BinarySI format.
    pub fn canonical(&self) -> String {
        // Whole value in nano units; fits i128 because |value| ≤ 2^63-1.
        let nanos = self.num * 10i128.pow(MAX_SCALE - self.scale);
        if nanos == 0 {
            return "0".to_string();
        }
        let giga = 10i128.pow(MAX_SCALE);
        if self.format == Format::BinarySI && nanos % giga == 0 && (nanos / giga).abs() >= 1024 {
            let mut v = nanos / giga;
            let mut k = 0;
            while k < 6 && v % 1024 == 0 {
                v /= 1024;
                k += 1;
            }
            return format!("{v}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k]);
        }
        // Largest exponent e ∈ {-9, -6, …, 18} with nanos divisible by 10^(e+9).
        let mut m = nanos;
        let mut e: i32 = -9;
        while e < 18 && m % 1000 == 0 {
            m /= 1000;
            e += 3;
        }
        if self.format == Format::DecimalExponent {
            if e == 0 {
                m.to_string()
            } else {
                format!("{m}e{e}")
            }
        } else {
            let suffix = match e {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                0 => "",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                _ => "E",
            };
            format!("{m}{suffix}")
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
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
        for s in [
            "", "abc", "1.2.3", "1Qi", "1e", "--1", ".", "1 Gi", "1e1.5", " 1", "1 ", "1K", "1ki",
            "1KI", "1mi", "Ki", "1.0.0Mi", "1i", "1Kii", "e3", "1e3e3",
        ] {
            assert!(Quantity::parse(s).is_err(), "{s:?} should be rejected");
        }
    }

    /// Re-formatting vectors restating upstream `TestQuantityParseEmit` / `TestQuantityString` facts.
    #[test]
    fn canonical_form() {
        let cases = [
            ("0", "0"),
            ("0Mi", "0"),
            ("1", "1"),
            ("1000", "1k"),
            ("1000000", "1M"),
            ("1001", "1001"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("0.001", "1m"),
            ("1000m", "1"),
            ("100m", "100m"),
            ("1.1", "1100m"),
            ("0.1m", "100u"),
            ("1n", "1n"),
            (".5", "500m"),
            ("5.", "5"),
            ("1Ki", "1Ki"),
            ("1024Ki", "1Mi"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("0.5Ki", "512"),
            ("1025", "1025"),
            ("1.0001Ki", "1024102400u"),
            ("-1Ki", "-1Ki"),
            ("-100m", "-100m"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("1e-3", "1e-3"),
            ("10800e-3", "10800e-3"),
            ("129e6", "129e6"),
            ("12e0", "12"),
            ("1k", "1k"),
            ("1.5k", "1500"),
            ("2M", "2M"),
            ("+1", "1"),
        ];
        for (input, want) in cases {
            let q = Quantity::parse(input).unwrap();
            assert_eq!(q.to_string(), want, "{input}");
            // Canonical output parses back to the same value and format.
            let again = Quantity::parse(want).unwrap();
            assert_eq!(again.milli_value(), q.milli_value(), "{input} round trip");
        }
    }

    #[test]
    fn precision_is_nano_and_values_clamp() {
        // Finer than nano rounds up in magnitude.
        assert_eq!(Quantity::parse("0.0000000001").unwrap().to_string(), "1n");
        assert_eq!(Quantity::parse("1e-100").unwrap().to_string(), "1e-9");
        assert_eq!(Quantity::parse("-0.0000000001").unwrap().to_string(), "-1n");
        // Beyond 2^63-1 base units clamps to the maximum.
        assert_eq!(Quantity::parse("1e100").unwrap().value(), i64::MAX);
        assert_eq!(Quantity::parse("100Ei").unwrap().value(), i64::MAX);
        assert_eq!(
            Quantity::parse("9223372036854775807").unwrap().value(),
            i64::MAX
        );
    }

    #[test]
    fn from_scaled_formats() {
        assert_eq!(
            Quantity::from_scaled(300, 3, Format::DecimalSI).to_string(),
            "300m"
        );
        assert_eq!(
            Quantity::from_scaled(125_829_120, 0, Format::BinarySI).to_string(),
            "120Mi"
        );
        assert_eq!(
            Quantity::from_scaled(2000, 3, Format::DecimalSI).to_string(),
            "2"
        );
    }
}
