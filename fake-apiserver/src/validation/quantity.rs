//! Kubernetes resource quantities (`500m`, `128Mi`, `1.5`, `2e3`) as exact amounts, to compare
//! a request with its limit.

/// The amount `text` stands for, in billionths (a quantity's finest unit, `1n`); `None` when
/// it is not a quantity or too large to compare here.
pub fn parse(text: &str) -> Option<i128> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mantissa: i128 = format!("{whole}{fraction}").parse().ok()?;
    let (numerator, denominator) = scale(suffix)?;
    let denominator = denominator.checked_mul(10_i128.checked_pow(fraction.len() as u32)?)?;
    let amount = mantissa.checked_mul(numerator)?;
    // Rounded up, as the API server rounds a quantity finer than its smallest unit.
    let amount = (amount + denominator - 1) / denominator;
    Some(if negative { -amount } else { amount })
}

/// What one unit of `suffix` is in billionths, as a fraction.
fn scale(suffix: &str) -> Option<(i128, i128)> {
    const NANO: i128 = 1_000_000_000;
    let binary = |power: u32| Some((2_i128.pow(power) * NANO, 1));
    let decimal = |exponent: i32| {
        let exponent = exponent + 9;
        if exponent >= 0 {
            Some((10_i128.checked_pow(exponent as u32)?, 1))
        } else {
            Some((1, 10_i128.checked_pow(exponent.unsigned_abs())?))
        }
    };
    match suffix {
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            decimal(digits.parse().ok().filter(|e: &i32| e.abs() <= 20)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn equal_amounts_in_different_units_compare_equal() {
        assert_eq!(parse("1"), parse("1000m"));
        assert_eq!(parse("1Ki"), parse("1024"));
        assert_eq!(parse("1.5Gi"), parse("1536Mi"));
        assert_eq!(parse("2e3"), parse("2k"));
        assert_eq!(parse("0.5"), parse("500m"));
        assert!(parse("129Mi") > parse("128Mi"));
        assert!(parse("100M") < parse("100Mi"));
        assert_eq!(parse("-1"), Some(-1_000_000_000));
    }

    #[test]
    fn malformed_quantities_are_refused() {
        for bad in ["", "abc", "1x", "1.2.3", "Mi", "1e", "1 Gi"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
