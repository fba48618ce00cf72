//! The arithmetic of Redis's `INCRBYFLOAT` and `HINCRBYFLOAT`, bit for bit.
//!
//! redis-server computes these commands in C `long double`, which on x86-64 is the x87
//! extended format: a sign bit, a 15-bit exponent biased by 16383 and a 64-bit mantissa whose
//! top bit (the integer bit) is explicit. It parses the stored string and the increment with
//! `strtold` (through `string2ld`), adds them, refuses a NaN or infinite sum, and stores the sum
//! printed with `"%.17Lf"`, trailing zeros and a trailing '.' stripped and "-0" turned into "0"
//! (`ld2string` in its human mode). A client that moves from redis-server to Meridian must get
//! the same bytes back, and every region must compute the same bits from the same inputs, so
//! [`LongDouble`] emulates that format exactly with integer arithmetic: parsing is correctly
//! rounded as glibc's is, addition rounds to nearest-even at 64 bits of precision as the x87 FPU
//! does under its default control word, and printing is the exact decimal expansion rounded at
//! the 17th decimal.

mod format;
mod parse;

/// The exponent bias of the x87 extended format.
const EXP_BIAS: i64 = 16383;
/// The all-ones exponent field, taken by infinities and NaNs.
const EXP_SPECIAL: u16 = 0x7FFF;
/// The sign bit of the sign-and-exponent word.
const SIGN_BIT: u16 = 0x8000;
/// The explicit integer bit of the mantissa, set in every normal number.
const INTEGER_BIT: u64 = 1 << 63;
/// The mantissa of the NaN the FPU produces for an invalid operation (the "real indefinite").
const INDEFINITE_MANTISSA: u64 = 0xC000_0000_0000_0000;
/// The weight of a mantissa's lowest bit, as a power of two, for denormals and for normals of
/// exponent field 1 (they share it: a denormal's exponent field 0 reads as 1).
const MIN_LSB_EXP: i64 = 1 - EXP_BIAS - 63;

/// An x87 80-bit extended-precision number, as C `long double` is on x86-64.
///
/// A value is held in its canonical encoding only (see [`LongDouble::from_bits`]), so equality
/// and hashing are of encodings: `0` and `-0` differ, and the one NaN this type produces equals
/// itself. Build one with [`LongDouble::parse`] or [`LongDouble::from_i64`], combine with
/// `+`, print with [`LongDouble::to_human`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LongDouble {
    /// Sign bit, then the 15-bit biased exponent.
    sign_exp: u16,
    /// The mantissa, integer bit included.
    mantissa: u64,
}

/// A value taken apart for arithmetic.
#[derive(Clone, Copy, Debug)]
enum Class {
    Zero,
    /// `mantissa * 2^lsb_exp`, `mantissa` nonzero.
    Finite {
        mantissa: u64,
        lsb_exp: i64,
    },
    Infinite,
    NaN,
}

impl LongDouble {
    /// The NaN the FPU returns for an invalid operation such as `inf + -inf`; the only NaN this
    /// type holds.
    const NAN: LongDouble = LongDouble {
        sign_exp: SIGN_BIT | EXP_SPECIAL,
        mantissa: INDEFINITE_MANTISSA,
    };

    /// Parses `text` as Redis's `string2ld` does: glibc `strtold`'s syntax (an optional sign,
    /// then a decimal with optional exponent, a hexadecimal float such as `0x1.8p3`, `inf` or
    /// `infinity`), correctly rounded to nearest-even, denormals included.
    ///
    /// Returns `None` where `string2ld` fails: an empty text or one of 5,120 bytes or more, a
    /// leading white-space byte, bytes `strtold` would leave unread, a NaN, a finite number too
    /// large for the format (it would round to infinity) or a nonzero one so small it rounds to
    /// zero. `inf` and `-inf` are accepted.
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        parse::parse(text)
    }

    /// `value`, exactly (every `i64` fits the 64-bit mantissa).
    pub fn from_i64(value: i64) -> LongDouble {
        round(value < 0, u128::from(value.unsigned_abs()), 0)
    }

    /// Whether this is neither infinite nor NaN.
    pub fn is_finite(&self) -> bool {
        self.sign_exp & !SIGN_BIT != EXP_SPECIAL
    }

    /// Whether this is a NaN.
    pub fn is_nan(&self) -> bool {
        matches!(self.class(), Class::NaN)
    }

    /// This value as `INCRBYFLOAT` stores and replies it: C's `"%.17Lf"` as glibc prints it
    /// (the exact decimal expansion rounded to nearest-even at the 17th decimal, every integer
    /// digit written), then trailing zeros and a trailing '.' removed, and "-0" written "0".
    /// Infinities print as `inf` and `-inf`, as Redis's `ld2string` writes them; NaN as glibc
    /// prints it (`-nan` for the NaN this type holds).
    pub fn to_human(&self) -> String {
        format::human(*self)
    }

    /// The encoding: the sign-and-exponent word and the mantissa, integer bit included.
    pub fn to_bits(&self) -> (u16, u64) {
        (self.sign_exp, self.mantissa)
    }

    /// The value of a canonical encoding, or `None` for one this type never produces: an
    /// unnormal (nonzero exponent, integer bit clear), a pseudo-denormal (zero exponent,
    /// integer bit set), a pseudo-infinity or pseudo-NaN (all-ones exponent, integer bit clear)
    /// and any NaN other than the FPU's default one. Each value therefore has exactly one
    /// encoding, and `from_bits(x.to_bits()) == Some(x)` for every `x`.
    pub fn from_bits(sign_exp: u16, mantissa: u64) -> Option<LongDouble> {
        let exp = sign_exp & !SIGN_BIT;
        let integer_bit = mantissa & INTEGER_BIT != 0;
        let valid = match exp {
            0 => !integer_bit,
            EXP_SPECIAL => {
                mantissa == INTEGER_BIT
                    || (sign_exp == LongDouble::NAN.sign_exp
                        && mantissa == LongDouble::NAN.mantissa)
            }
            _ => integer_bit,
        };
        valid.then_some(LongDouble { sign_exp, mantissa })
    }

    fn negative(&self) -> bool {
        self.sign_exp & SIGN_BIT != 0
    }

    fn class(&self) -> Class {
        let exp = self.sign_exp & !SIGN_BIT;
        match (exp, self.mantissa) {
            (EXP_SPECIAL, INTEGER_BIT) => Class::Infinite,
            (EXP_SPECIAL, _) => Class::NaN,
            (_, 0) => Class::Zero,
            (0, mantissa) => Class::Finite {
                mantissa,
                lsb_exp: MIN_LSB_EXP,
            },
            (exp, mantissa) => Class::Finite {
                mantissa,
                lsb_exp: i64::from(exp) - 1 + MIN_LSB_EXP,
            },
        }
    }
}

/// The sum, rounded to nearest-even at 64 bits of precision as the x87 FPU rounds it.
///
/// A finite sum too large for the format is infinite; `inf + -inf` is NaN; an exact zero sum of
/// nonzero operands is `+0`, and `-0 + -0` is `-0`.
impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    fn add(self, other: LongDouble) -> LongDouble {
        match (self.class(), other.class()) {
            (Class::NaN, _) | (_, Class::NaN) => LongDouble::NAN,
            (Class::Infinite, Class::Infinite) if self.negative() != other.negative() => {
                LongDouble::NAN
            }
            (Class::Infinite, _) => self,
            (_, Class::Infinite) => other,
            (Class::Zero, Class::Zero) => zero(self.negative() && other.negative()),
            (Class::Zero, _) => other,
            (_, Class::Zero) => self,
            (
                Class::Finite {
                    mantissa: m1,
                    lsb_exp: e1,
                },
                Class::Finite {
                    mantissa: m2,
                    lsb_exp: e2,
                },
            ) => {
                let (big, small) = if e1 >= e2 {
                    ((self.negative(), m1, e1), (other.negative(), m2, e2))
                } else {
                    ((other.negative(), m2, e2), (self.negative(), m1, e1))
                };
                add_finite(big, small)
            }
        }
    }
}

fn zero(negative: bool) -> LongDouble {
    LongDouble {
        sign_exp: if negative { SIGN_BIT } else { 0 },
        mantissa: 0,
    }
}

fn infinity(negative: bool) -> LongDouble {
    LongDouble {
        sign_exp: zero(negative).sign_exp | EXP_SPECIAL,
        mantissa: INTEGER_BIT,
    }
}

/// The sum of two nonzero finite numbers `(negative, mantissa, lsb_exp)`, `big` having the
/// larger (or equal) `lsb_exp` and so, when the exponents differ, the larger magnitude.
fn add_finite(big: (bool, u64, i64), small: (bool, u64, i64)) -> LongDouble {
    // Both mantissas are lifted 62 bits so a sum fits 127 bits. The smaller is aligned to the
    // larger; bits shifted out of it survive as a sticky lowest bit, which can only be the case
    // when the exponents are more than 62 apart, so the result keeps at least 60 bits below
    // its 64 and the sticky bit decides only ties, as the exact value would.
    const LIFT: i64 = 62;
    let (big_negative, big_mantissa, big_exp) = big;
    let (small_negative, small_mantissa, small_exp) = small;
    let x = u128::from(big_mantissa) << LIFT;
    let distance = big_exp - small_exp;
    let y = if distance <= LIFT {
        u128::from(small_mantissa) << (LIFT - distance)
    } else if distance - LIFT >= 64 {
        1
    } else {
        let shift = distance - LIFT;
        let lost = small_mantissa & ((1u64 << shift) - 1) != 0;
        u128::from(small_mantissa >> shift) | u128::from(lost)
    };
    let lsb_exp = big_exp - LIFT;
    if big_negative == small_negative {
        round(big_negative, x + y, lsb_exp)
    } else if x >= y {
        // An exact zero difference is +0 under round-to-nearest.
        round(big_negative && x != y, x - y, lsb_exp)
    } else {
        round(small_negative, y - x, lsb_exp)
    }
}

/// `magnitude * 2^lsb_exp` with the sign `negative`, rounded to nearest-even to a 64-bit
/// mantissa, denormal below the normal range and infinite above it.
///
/// The lowest bit of `magnitude` may stand for nonzero bits already discarded (a sticky bit),
/// provided that bit lies at least two places below the lowest bit the result keeps.
fn round(negative: bool, magnitude: u128, lsb_exp: i64) -> LongDouble {
    if magnitude == 0 {
        return zero(negative);
    }
    let top = 127 - i64::from(magnitude.leading_zeros());
    // Bring the top bit to bit 63, but never below the denormals' exponent.
    let shift = (top - 63).max(MIN_LSB_EXP - lsb_exp);
    if shift <= 0 {
        // Exact: a left shift by at most `63 - top`.
        return pack(negative, (magnitude << -shift) as u64, lsb_exp + shift);
    }
    let (kept, round_up) = match shift {
        129.. => (0, false),
        128 => (0, magnitude > 1 << 127),
        _ => {
            let kept = magnitude >> shift;
            let rest = magnitude & ((1 << shift) - 1);
            let half = 1u128 << (shift - 1);
            (kept, rest > half || (rest == half && kept & 1 == 1))
        }
    };
    // `shift >= top - 63`, so `kept` fits 64 bits and rounding up carries at most into bit 64.
    let mantissa = kept + u128::from(round_up);
    if mantissa >> 64 != 0 {
        pack(negative, INTEGER_BIT, lsb_exp + shift + 1)
    } else {
        pack(negative, mantissa as u64, lsb_exp + shift)
    }
}

/// Encodes `mantissa * 2^lsb_exp`, where `mantissa` has its integer bit set or `lsb_exp` is the
/// denormals' exponent; infinite when the exponent field would not fit.
fn pack(negative: bool, mantissa: u64, lsb_exp: i64) -> LongDouble {
    let sign = zero(negative).sign_exp;
    if mantissa & INTEGER_BIT == 0 {
        return LongDouble {
            sign_exp: sign,
            mantissa,
        };
    }
    let exp = lsb_exp - MIN_LSB_EXP + 1;
    match u16::try_from(exp) {
        Ok(exp) if exp < EXP_SPECIAL => LongDouble {
            sign_exp: sign | exp,
            mantissa,
        },
        _ => infinity(negative),
    }
}
