//! Redis's `string2ld`: glibc `strtold` over the whole text, with Redis's refusals.

use num_bigint::BigUint;

use super::{EXP_BIAS, LongDouble, MIN_LSB_EXP, infinity, round, zero};

/// `string2ld` copies the text into a buffer of this many bytes, NUL included.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// An exponent beyond this, either way, overflows or underflows whatever the digits (there
/// are fewer than 5,120 of them); larger ones are clamped to it so the arithmetic stays small.
const EXPONENT_CLAMP: i64 = 1 << 40;

/// The bits kept before the final rounding: 62 more than the mantissa's 64, so a sticky bit
/// below them only ever decides ties.
const WORKING_BITS: u64 = 126;

pub(super) fn parse(text: &[u8]) -> Option<LongDouble> {
    if text.is_empty() || text.len() >= MAX_LONG_DOUBLE_CHARS {
        return None;
    }
    // strtold would skip leading white space (C's isspace); string2ld refuses it instead.
    if matches!(text[0], b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
        return None;
    }
    let (negative, body) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(infinity(negative));
    }
    // Every other text starting "inf" leaves bytes unread; every "nan" form is refused.
    let number = match body {
        [b'0', b'x' | b'X', rest @ ..] if starts_hex_mantissa(rest) => hexadecimal(rest)?,
        _ => decimal(body)?,
    };
    let value = match number {
        Number::Zero => return Some(zero(negative)),
        Number::Overflow | Number::Underflow => return None,
        Number::Exact {
            digits,
            exp2,
            exp10,
        } => to_binary(negative, digits, exp2, exp10),
    };
    // Rounding to infinity is an overflow (ERANGE with HUGE_VAL) and a nonzero value rounding
    // to zero an underflow (ERANGE with zero): string2ld refuses both.
    (value.is_finite() && value.to_bits().1 != 0).then_some(value)
}

/// A parsed number before rounding.
enum Number {
    /// Every digit zero.
    Zero,
    /// So large it rounds to infinity, whatever its digits.
    Overflow,
    /// So small and nonzero it rounds to zero, whatever its digits.
    Underflow,
    /// `digits * 2^exp2 * 10^exp10`, `digits` nonzero, one of the exponents zero.
    Exact {
        digits: BigUint,
        exp2: i64,
        exp10: i64,
    },
}

/// The digits of a mantissa and the position of its point.
struct Mantissa<'a> {
    /// The digits, point removed, leading zeros stripped.
    digits: Vec<u8>,
    /// How many digits followed the point.
    fraction_digits: i64,
    rest: &'a [u8],
}

fn starts_hex_mantissa(rest: &[u8]) -> bool {
    match rest {
        [first, ..] if first.is_ascii_hexdigit() => true,
        [b'.', second, ..] => second.is_ascii_hexdigit(),
        _ => false,
    }
}

/// Digits (those `is_digit` accepts) with an optional point; `None` without a single digit.
fn mantissa(text: &[u8], is_digit: fn(&u8) -> bool) -> Option<Mantissa<'_>> {
    let integer = text.iter().take_while(|b| is_digit(b)).count();
    let mut digits: Vec<u8> = text[..integer].to_vec();
    let mut rest = &text[integer..];
    let mut fraction_digits = 0;
    if let [b'.', after @ ..] = rest {
        let fraction = after.iter().take_while(|b| is_digit(b)).count();
        digits.extend_from_slice(&after[..fraction]);
        fraction_digits = fraction as i64;
        rest = &after[fraction..];
    }
    if digits.is_empty() {
        return None;
    }
    let leading_zeros = digits.iter().take_while(|&&b| b == b'0').count();
    digits.drain(..leading_zeros);
    Some(Mantissa {
        digits,
        fraction_digits,
        rest,
    })
}

/// An exponent after its marker: an optional sign and at least one decimal digit making up
/// the rest of the text, clamped to `EXPONENT_CLAMP`. `None` if anything else follows the
/// marker, since strtold then stops before the marker and leaves it unread.
fn exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |acc, &d| {
        (acc * 10 + i64::from(d - b'0')).min(EXPONENT_CLAMP)
    });
    Some(if negative { -magnitude } else { magnitude })
}

fn decimal(body: &[u8]) -> Option<Number> {
    let Mantissa {
        mut digits,
        fraction_digits,
        rest,
    } = mantissa(body, u8::is_ascii_digit)?;
    let exp = match rest {
        [] => 0,
        [b'e' | b'E', exp @ ..] => exponent(exp)?,
        _ => return None,
    };
    if digits.is_empty() {
        return Some(Number::Zero);
    }
    let trailing_zeros = digits.iter().rev().take_while(|&&b| b == b'0').count();
    digits.truncate(digits.len() - trailing_zeros);
    let exp10 = exp - fraction_digits + trailing_zeros as i64;
    // The value lies in [10^(n - 1 + exp10), 10^(n + exp10)) for n significant digits. The
    // largest finite value is about 1.19e4932 and half the smallest denormal about 1.82e-4951.
    let n = digits.len() as i64;
    if n - 1 + exp10 >= 4933 {
        return Some(Number::Overflow);
    }
    if n + exp10 <= -4952 {
        return Some(Number::Underflow);
    }
    let digits = BigUint::parse_bytes(&digits, 10)?;
    Some(Number::Exact {
        digits,
        exp2: 0,
        exp10,
    })
}

fn hexadecimal(after_prefix: &[u8]) -> Option<Number> {
    let Mantissa {
        digits,
        fraction_digits,
        rest,
    } = mantissa(after_prefix, u8::is_ascii_hexdigit)?;
    // glibc makes the binary exponent optional.
    let exp = match rest {
        [] => 0,
        [b'p' | b'P', exp @ ..] => exponent(exp)?,
        _ => return None,
    };
    if digits.is_empty() {
        return Some(Number::Zero);
    }
    let digits = BigUint::parse_bytes(&digits, 16)?;
    let exp2 = exp - 4 * fraction_digits;
    // The value lies in [2^top, 2^(top + 1)); the largest finite value is below 2^16384 and
    // half the smallest denormal is 2^(MIN_LSB_EXP - 1).
    let top = exp2 + digits.bits() as i64 - 1;
    if top > EXP_BIAS {
        return Some(Number::Overflow);
    }
    if top < MIN_LSB_EXP - 1 {
        return Some(Number::Underflow);
    }
    Some(Number::Exact {
        digits,
        exp2,
        exp10: 0,
    })
}

/// `digits * 2^exp2 * 10^exp10`, correctly rounded; the exponents are within the bounds the
/// callers checked, so the integers stay within a few thousand digits.
fn to_binary(negative: bool, digits: BigUint, exp2: i64, exp10: i64) -> LongDouble {
    let Ok(power) = u32::try_from(exp10.unsigned_abs()) else {
        return infinity(negative);
    };
    let power = BigUint::from(10u32).pow(power);
    if exp10 >= 0 {
        return round_big(negative, &(digits * power), exp2, false);
    }
    // A quotient of at least WORKING_BITS + 2 bits, and a sticky bit for the remainder.
    let scale = (WORKING_BITS + 2 + power.bits()).saturating_sub(digits.bits());
    let numerator = digits << scale;
    let quotient = &numerator / &power;
    let inexact = &quotient * &power != numerator;
    round_big(negative, &quotient, exp2 - scale as i64, inexact)
}

/// `value * 2^lsb_exp` (plus a little more when `inexact`), correctly rounded: the value is
/// cut to `WORKING_BITS` with a sticky bit for whatever was cut or was already inexact.
fn round_big(negative: bool, value: &BigUint, lsb_exp: i64, inexact: bool) -> LongDouble {
    let bits = value.bits();
    let (magnitude, lsb_exp, sticky) = if bits > WORKING_BITS {
        let cut = bits - WORKING_BITS;
        let lost = value.trailing_zeros().is_some_and(|zeros| zeros < cut);
        (value >> cut, lsb_exp + cut as i64, inexact || lost)
    } else {
        let lift = WORKING_BITS - bits;
        (value << lift, lsb_exp - lift as i64, inexact)
    };
    // Exactly `WORKING_BITS` bits now, so the conversion cannot fail.
    let Ok(magnitude) = u128::try_from(&magnitude) else {
        return infinity(negative);
    };
    round(negative, magnitude | u128::from(sticky), lsb_exp)
}
