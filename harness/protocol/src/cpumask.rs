//! A set of CPUs as users give it (`--cpu-affinity 0xf0`, a profile's `cpu_affinity`, `--cores 0x3`): parsed once
//! from hex, any number of CPUs, shown and serialised as the canonical lower-case `0x…` string, so a spec in
//! results.json reads as it always did.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-empty set of CPU indices. Bit `i` of the mask is CPU `i`, as `taskset` and `sched_setaffinity` number them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpuMask {
    /// 64 CPUs per word, lowest first; the last word is never zero (and there is at least one).
    words: Vec<u64>,
}

/// Why a mask was refused; its message names the value given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuMaskError {
    /// Empty, or not hexadecimal digits after an optional `0x`.
    NotHex(String),
    /// Only zero digits: no CPU at all.
    NoCpu(String),
}

impl fmt::Display for CpuMaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuMaskError::NotHex(v) => write!(f, "`{v}` is not a hex CPU mask (e.g. 0x3 = CPUs 0 and 1)"),
            CpuMaskError::NoCpu(v) => write!(f, "`{v}` selects no CPU (e.g. 0x3 = CPUs 0 and 1)"),
        }
    }
}

impl std::error::Error for CpuMaskError {}

impl CpuMask {
    /// The mask of `cpus` (any order, repeats ignored); `None` when there are none.
    pub fn from_cpus(cpus: impl IntoIterator<Item = u32>) -> Option<Self> {
        let mut words: Vec<u64> = Vec::new();
        for cpu in cpus {
            let word = (cpu / 64) as usize;
            if words.len() <= word {
                words.resize(word + 1, 0);
            }
            words[word] |= 1 << (cpu % 64);
        }
        (!words.is_empty()).then_some(CpuMask { words })
    }

    /// The CPUs, lowest first.
    pub fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(w, &bits)| (0..64u32).filter(move |b| bits >> b & 1 == 1).map(move |b| w as u32 * 64 + b))
    }

    /// How many CPUs (at least 1).
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn contains(&self, cpu: u32) -> bool {
        self.words.get((cpu / 64) as usize).is_some_and(|w| w >> (cpu % 64) & 1 == 1)
    }
}

impl FromStr for CpuMask {
    type Err = CpuMaskError;

    /// `0x3`, `3`, `0xF0`, `0Xf0`: hex digits with an optional `0x`; leading zeros are fine, no CPU is not.
    fn from_str(s: &str) -> Result<Self, CpuMaskError> {
        let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CpuMaskError::NotHex(s.to_owned()));
        }
        let cpus = digits.bytes().rev().enumerate().flat_map(|(i, digit)| {
            let value = (digit as char).to_digit(16).expect("checked hex");
            (0..4u32).filter(move |b| value >> b & 1 == 1).map(move |b| i as u32 * 4 + b)
        });
        CpuMask::from_cpus(cpus).ok_or_else(|| CpuMaskError::NoCpu(s.to_owned()))
    }
}

impl fmt::Display for CpuMask {
    /// Canonical: `0x`, lower case, no leading zeros (`0x3`, `0xf0`, `0x10000000000000000` for CPU 64).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words = self.words.iter().rev();
        write!(f, "0x{:x}", words.next().expect("at least one word"))?;
        words.try_for_each(|w| write!(f, "{w:016x}"))
    }
}

impl Serialize for CpuMask {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CpuMask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(mask: &str) -> Vec<u32> {
        mask.parse::<CpuMask>().unwrap().cpus().collect()
    }

    #[test]
    fn parses_hex_with_or_without_0x_in_either_case() {
        assert_eq!(cpus("0x3"), [0, 1]);
        assert_eq!(cpus("3"), [0, 1]);
        assert_eq!(cpus("0xf0"), [4, 5, 6, 7]);
        assert_eq!(cpus("F0"), [4, 5, 6, 7]);
        assert_eq!(cpus("0XaB"), [0, 1, 3, 5, 7]);
        assert_eq!(cpus("0x101"), [0, 8]);
        assert_eq!(cpus("0x0001"), [0]);
        assert_eq!("0xf0".parse::<CpuMask>().unwrap().count(), 4);
    }

    #[test]
    fn refuses_empty_non_hex_and_zero_naming_the_value() {
        for bad in ["", "0x", "zz", "0xq", "0x3 ", " 3", "-1", "+3", "0x0x3", "3,4"] {
            let err = bad.parse::<CpuMask>().unwrap_err();
            assert_eq!(err, CpuMaskError::NotHex(bad.to_owned()), "{bad:?}");
            assert!(err.to_string().contains(&format!("`{bad}` is not a hex CPU mask")), "{err}");
        }
        for zero in ["0", "0x0", "0X000"] {
            let err = zero.parse::<CpuMask>().unwrap_err();
            assert_eq!(err.to_string(), format!("`{zero}` selects no CPU (e.g. 0x3 = CPUs 0 and 1)"));
        }
    }

    #[test]
    fn more_than_64_and_128_cpus() {
        let wide = "0x1".to_owned() + &"0".repeat(40); // CPU 160
        assert_eq!(cpus(&wide), [160]);
        assert_eq!(cpus("0x10000000000000001"), [0, 64]);
        let all: CpuMask = "f".repeat(50).parse().unwrap();
        assert_eq!((all.count(), all.cpus().last()), (200, Some(199)));
        let m = CpuMask::from_cpus([64, 0, 130, 64]).unwrap();
        assert_eq!((m.count(), m.contains(130), m.contains(129)), (3, true, false));
        assert_eq!(m.to_string(), "0x400000000000000010000000000000001");
    }

    #[test]
    fn displays_canonical_lower_case_and_round_trips() {
        for (given, shown) in [
            ("0x3", "0x3"),
            ("F0", "0xf0"),
            ("0X00f0", "0xf0"),
            ("0x10000000000000000", "0x10000000000000000"),
            ("0x8000000000000000000000000000000000", "0x8000000000000000000000000000000000"),
        ] {
            let mask: CpuMask = given.parse().unwrap();
            assert_eq!(mask.to_string(), shown, "{given}");
            assert_eq!(mask.to_string().parse::<CpuMask>().unwrap(), mask);
        }
        assert_eq!(CpuMask::from_cpus([0, 1]).unwrap().to_string(), "0x3");
        assert_eq!(CpuMask::from_cpus([64]).unwrap().to_string(), "0x10000000000000000");
        assert_eq!(CpuMask::from_cpus(std::iter::empty()), None);
    }

    #[test]
    fn serde_is_the_string() {
        let mask: CpuMask = "0xF0".parse().unwrap();
        assert_eq!(serde_json::to_string(&mask).unwrap(), r#""0xf0""#);
        assert_eq!(serde_json::from_str::<CpuMask>(r#""0x3""#).unwrap(), CpuMask::from_cpus([0, 1]).unwrap());
        let err = serde_json::from_str::<CpuMask>(r#""0x0""#).unwrap_err().to_string();
        assert!(err.contains("`0x0` selects no CPU"), "{err}");
        assert!(serde_json::from_str::<CpuMask>("3").is_err(), "a number is not a mask string");
    }
}
