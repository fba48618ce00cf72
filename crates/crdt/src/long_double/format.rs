//! Redis's `ld2string` in its human mode: glibc's `"%.17Lf"`, then Redis's trimming.

use num_bigint::BigUint;

use super::{Class, LongDouble};

/// The decimals `"%.17Lf"` prints.
const DECIMALS: u32 = 17;

pub(super) fn human(value: LongDouble) -> String {
    let sign = if value.negative() { "-" } else { "" };
    let mut text = match value.class() {
        // ld2string writes infinities itself, before any printf.
        Class::Infinite => return format!("{sign}inf"),
        Class::NaN => return format!("{sign}nan"),
        Class::Zero => format!("{sign}0.{:0width$}", 0, width = DECIMALS as usize),
        Class::Finite { mantissa, lsb_exp } => format!("{sign}{}", fixed(mantissa, lsb_exp)),
    };
    // Redis strips the zeros ending the decimals, then a bare point, then turns "-0" into "0".
    let kept = text.trim_end_matches('0').len();
    text.truncate(kept);
    if text.ends_with('.') {
        text.pop();
    }
    if text == "-0" {
        text.remove(0);
    }
    text
}

/// `mantissa * 2^lsb_exp` written with exactly `DECIMALS` decimals, rounded to nearest-even.
fn fixed(mantissa: u64, lsb_exp: i64) -> String {
    let zeros = "0".repeat(DECIMALS as usize);
    if lsb_exp >= 0 {
        // An integer; with no more than 16,320 binary places its 4,933 digits are cheap.
        let integer = BigUint::from(mantissa) << lsb_exp.unsigned_abs();
        return format!("{integer}.{zeros}");
    }
    // Below 2^64 * 10^17 < 2^121: the scaled value fits a u128, and so does half a unit of
    // any shift up to 127. Any larger shift leaves less than half a unit, which rounds to 0.
    let scaled = u128::from(mantissa) * 10u128.pow(DECIMALS);
    let shift = lsb_exp.unsigned_abs();
    let units = if shift >= 128 {
        0
    } else {
        let kept = scaled >> shift;
        let rest = scaled & ((1 << shift) - 1);
        let half = 1u128 << (shift - 1);
        kept + u128::from(rest > half || (rest == half && kept & 1 == 1))
    };
    let one = 10u128.pow(DECIMALS);
    format!(
        "{}.{:0width$}",
        units / one,
        units % one,
        width = DECIMALS as usize
    )
}
