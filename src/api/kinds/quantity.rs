//! Resource quantities (`500m`, `1.5Gi`, `2e3`): parsing as upstream `resource.ParseQuantity` does, exact
//! comparison, and the canonical string upstream prints in messages (`must be less than or equal to cpu limit of
//! 500m`). Values are kept in thousandths, rounded up, which is the precision upstream keeps for container
//! resources (`SetDefaults_ResourceList` rounds up to milli); the scheduler reuses the same numbers.

use std::cmp::Ordering;
use std::fmt;

/// How a quantity was written, which decides how it prints back (`1Gi` stays binary, `1G` decimal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantityFormat {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// A parsed quantity, exact to a thousandth (rounded up).
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    millis: i128,
    format: QuantityFormat,
}

/// Upstream's message for text that is not a quantity at all.
pub const QUANTITY_FORMAT_ERROR: &str = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NUMERIC_ERROR: &str = "unable to parse numeric part of quantity";
const SUFFIX_ERROR: &str = "unable to parse quantity's suffix";

/// What a suffix multiplies by: a power of ten or a power of 1024.
enum Scale {
    Decimal(i32),
    Binary(u32),
}

impl Quantity {
    /// The value in thousandths (`500m` → 500, `1` → 1000).
    pub fn millis(&self) -> i128 {
        self.millis
    }

    /// The value rounded up to a whole number, as upstream `Quantity.Value()`.
    pub fn value(&self) -> i128 {
        self.millis.div_euclid(1000) + i128::from(self.millis.rem_euclid(1000) != 0)
    }

    pub fn is_zero(&self) -> bool {
        self.millis == 0
    }

    pub fn format(&self) -> QuantityFormat {
        self.format
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.millis == other.millis
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.millis.cmp(&other.millis)
    }
}

/// Parses a quantity as upstream does: a signed decimal number and an optional suffix (`m`, `k`, `M` … `E`,
/// `Ki` … `Ei`, `n`, `u`, or an exponent `e3`/`E-2`). The error is upstream's message.
pub fn parse_quantity(text: &str) -> Result<Quantity, String> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = rest.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
    let (number, suffix) = rest.split_at(number_len);
    if number.is_empty() || !suffix.bytes().all(|c| b"eEinumkKMGTP+-0123456789".contains(&c)) {
        return Err(QUANTITY_FORMAT_ERROR.to_string());
    }
    let (mantissa, fraction_digits) = parse_decimal(number)?;
    let (scale, format) = parse_suffix(suffix)?;
    let millis = scale_to_millis(mantissa, fraction_digits, scale).ok_or_else(|| NUMERIC_ERROR.to_string())?;
    Ok(Quantity { millis: if negative { -millis } else { millis }, format })
}

/// `12.50` → (1250, 2): the digits as one integer and how many of them follow the point.
fn parse_decimal(number: &str) -> Result<(i128, u32), String> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(NUMERIC_ERROR.to_string());
    }
    let digits = format!("{whole}{fraction}");
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > 30 {
        return Err(NUMERIC_ERROR.to_string());
    }
    let mantissa = if trimmed.is_empty() { 0 } else { trimmed.parse::<i128>().map_err(|_| NUMERIC_ERROR.to_string())? };
    Ok((mantissa, fraction.len() as u32))
}

fn parse_suffix(suffix: &str) -> Result<(Scale, QuantityFormat), String> {
    let decimal = |exponent| Ok((Scale::Decimal(exponent), QuantityFormat::DecimalSI));
    let binary = |power| Ok((Scale::Binary(power), QuantityFormat::BinarySI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        _ => parse_exponent(suffix),
    }
}

fn parse_exponent(suffix: &str) -> Result<(Scale, QuantityFormat), String> {
    let exponent = suffix.strip_prefix(['e', 'E']).ok_or_else(|| SUFFIX_ERROR.to_string())?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(SUFFIX_ERROR.to_string());
    }
    let value: i32 = exponent.parse().map_err(|_| SUFFIX_ERROR.to_string())?;
    if value.abs() > 30 {
        return Err(NUMERIC_ERROR.to_string());
    }
    Ok((Scale::Decimal(value), QuantityFormat::DecimalExponent))
}

/// `mantissa × 10^-fraction_digits × scale`, in thousandths rounded up; `None` on overflow.
fn scale_to_millis(mantissa: i128, fraction_digits: u32, scale: Scale) -> Option<i128> {
    let (exponent, factor) = match scale {
        Scale::Decimal(exponent) => (exponent + 3 - fraction_digits as i32, 1i128),
        Scale::Binary(power) => (3 - fraction_digits as i32, 1i128 << (10 * power)),
    };
    let scaled = mantissa.checked_mul(factor)?;
    if exponent >= 0 {
        scaled.checked_mul(10i128.checked_pow(exponent as u32)?)
    } else {
        let divisor = 10i128.checked_pow(exponent.unsigned_abs())?;
        Some(scaled / divisor + i128::from(scaled % divisor != 0))
    }
}

impl fmt::Display for Quantity {
    /// Upstream's canonical form: binary quantities of at least 1024 print with the largest exact `Ki`…`Ei`
    /// suffix, everything else with the largest exact decimal suffix (`m` … `E`) or exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.millis < 0 { "-" } else { "" };
        let magnitude = self.millis.unsigned_abs();
        if self.format == QuantityFormat::BinarySI && magnitude >= 1024 * 1000 && magnitude.is_multiple_of(1000) {
            return write!(f, "{sign}{}", binary_canonical(magnitude / 1000));
        }
        write!(f, "{sign}{}", decimal_canonical(magnitude, self.format == QuantityFormat::DecimalExponent))
    }
}

fn binary_canonical(mut value: u128) -> String {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut power = 0;
    while power < 6 && value.is_multiple_of(1024) {
        value /= 1024;
        power += 1;
    }
    format!("{value}{}", SUFFIXES[power])
}

fn decimal_canonical(millis: u128, exponent_form: bool) -> String {
    const SUFFIXES: [&str; 8] = ["m", "", "k", "M", "G", "T", "P", "E"];
    if millis == 0 {
        return "0".to_string();
    }
    let mut value = millis;
    let mut step = 0;
    while step < 7 && value.is_multiple_of(1000) {
        value /= 1000;
        step += 1;
    }
    if exponent_form {
        let exponent = 3 * step as i32 - 3;
        return if exponent == 0 { value.to_string() } else { format!("{value}e{exponent}") };
    }
    format!("{value}{}", SUFFIXES[step])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> i128 {
        parse_quantity(text).unwrap().millis()
    }

    #[test]
    fn parses_every_suffix_family() {
        assert_eq!(millis("500m"), 500);
        assert_eq!(millis("1"), 1000);
        assert_eq!(millis("1.5"), 1500);
        assert_eq!(millis("2k"), 2_000_000);
        assert_eq!(millis("1Ki"), 1_024_000);
        assert_eq!(millis("1Gi"), 1_073_741_824_000);
        assert_eq!(millis("1Ei"), 1_152_921_504_606_846_976_000);
        assert_eq!(millis("1e3"), 1_000_000);
        assert_eq!(millis("1E-3"), 1);
        assert_eq!(millis("-2"), -2000);
        assert_eq!(millis("+.5"), 500);
        assert_eq!(millis("1u"), 1, "sub-milli values round up to one thousandth");
        assert_eq!(millis("1E"), 1_000_000_000_000_000_000_000);
    }

    #[test]
    fn rejects_what_upstream_rejects() {
        assert_eq!(parse_quantity("abc").unwrap_err(), QUANTITY_FORMAT_ERROR);
        assert_eq!(parse_quantity("").unwrap_err(), QUANTITY_FORMAT_ERROR);
        assert_eq!(parse_quantity("1Gb").unwrap_err(), QUANTITY_FORMAT_ERROR);
        assert_eq!(parse_quantity("1KiB").unwrap_err(), QUANTITY_FORMAT_ERROR);
        assert_eq!(parse_quantity("1.2.3").unwrap_err(), NUMERIC_ERROR);
        assert_eq!(parse_quantity("1ki").unwrap_err(), SUFFIX_ERROR);
        assert_eq!(parse_quantity("1 Gi").unwrap_err(), QUANTITY_FORMAT_ERROR);
    }

    #[test]
    fn compares_across_formats() {
        assert!(parse_quantity("1Gi").unwrap() > parse_quantity("1G").unwrap());
        assert_eq!(parse_quantity("1000m").unwrap(), parse_quantity("1").unwrap());
        assert_eq!(parse_quantity("1.5").unwrap().value(), 2);
    }

    #[test]
    fn prints_canonical_forms() {
        let canonical = |text: &str| parse_quantity(text).unwrap().to_string();
        assert_eq!(canonical("500m"), "500m");
        assert_eq!(canonical("0.5"), "500m");
        assert_eq!(canonical("1000m"), "1");
        assert_eq!(canonical("1024Mi"), "1Gi");
        assert_eq!(canonical("0.5Gi"), "512Mi");
        assert_eq!(canonical("512Ki"), "512Ki");
        assert_eq!(canonical("1.5Ki"), "1536");
        assert_eq!(canonical("1000k"), "1M");
        assert_eq!(canonical("12e6"), "12e6");
        assert_eq!(canonical("-1"), "-1");
        assert_eq!(canonical("0"), "0");
    }
}
