//! Numbers as people read them in every renderer (tables, markdown, progress lines, warnings): times, rates, watts,
//! joules and byte counts. One place, so the same quantity reads the same everywhere. A leaf: every layer may use it.

/// Bytes in a MiB and a GiB (binary units).
pub const MIB: f64 = 1024.0 * 1024.0;
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A count with its noun as a person writes it: "1 run", "3 runs", "0 runs".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// About three significant digits: 412, 81.1, 6.60.
pub fn adaptive(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

/// Nanoseconds as milliseconds, about three digits.
pub fn ms(ns: f64) -> String {
    adaptive(ns / 1e6)
}

/// Watts: `2.50 W`, `412 mW`.
pub fn watts(w: f64) -> String {
    let w = if w.abs() < 1e-9 { 0.0 } else { w };
    if w.abs() < 1.0 && w != 0.0 {
        format!("{} mW", adaptive(w * 1e3))
    } else {
        format!("{} W", adaptive(w))
    }
}

/// Joules: `1.20 J`, `22.1 mJ`, `310 µJ`.
pub fn joules(j: f64) -> String {
    let j = if j.abs() < 1e-12 { 0.0 } else { j };
    match j.abs() {
        a if a >= 1.0 || a == 0.0 => format!("{} J", adaptive(j)),
        a if a >= 1e-3 => format!("{} mJ", adaptive(j * 1e3)),
        _ => format!("{} µJ", adaptive(j * 1e6)),
    }
}

/// [`ms`] of a count of nanoseconds, `–` without one.
pub fn ms_u(ns: Option<u64>) -> String {
    ns.map(|v| ms(v as f64)).unwrap_or_else(|| "–".into())
}

/// A rate (tokens/s, forwards/s), about three digits.
pub fn rate(v: f64) -> String {
    adaptive(v)
}

/// [`mebibytes`], `–` without a count.
pub fn mib(bytes: Option<u64>) -> String {
    bytes.map(mebibytes).unwrap_or_else(|| "–".into())
}

/// A file size in decimal units: `812.4 kB`, `45.1 MB`, `1.23 GB`.
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e5 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} kB", b / 1e3)
    }
}

/// A byte count in MiB, one decimal: `12.3 MiB`.
pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// A byte count in GiB, one decimal: `23.5 GiB`.
pub fn gibibytes(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB)
}

/// A byte count in GiB as a number (for `{:.2} GiB` and comparisons).
pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / GIB
}

/// A byte count people read at a glance: bytes below 1 KiB, then KiB, MiB, GiB with two decimals (never
/// "0.00 MiB").
pub fn binary(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// `count` per second at `ns` nanoseconds each: tokens/s from a latency (the one formula every throughput uses).
pub fn per_second(count: f64, ns: f64) -> f64 {
    count * 1e9 / ns
}

/// A memory limit as a flag would give it: `512 MiB`, `2 GiB`, `1.5 GiB`, `1000 B`.
pub fn flag_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let v = bytes as f64 / size as f64;
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_bytes_read_as_flags() {
        assert_eq!(flag_bytes(512 << 20), "512 MiB");
        assert_eq!(flag_bytes(3 << 29), "1.5 GiB");
        assert_eq!(flag_bytes(2 << 30), "2 GiB");
        assert_eq!(flag_bytes(100), "100 B");
    }

    #[test]
    fn byte_counts_read_the_same_everywhere() {
        assert_eq!(
            (mebibytes(5 << 20), mib(Some(1536 << 10)), mib(None)),
            ("5.0 MiB".into(), "1.5 MiB".into(), "–".into())
        );
        assert_eq!((gibibytes(3 << 29), gib(1 << 30)), ("1.5 GiB".into(), 1.0));
        assert_eq!(
            (binary(1023), binary(1536), binary(5 << 20), binary(3 << 30)),
            ("1023 B".into(), "1.50 KiB".into(), "5.00 MiB".into(), "3.00 GiB".into())
        );
        assert_eq!(
            (size(1_500), size(260_000), size(2_500_000_000)),
            ("1.5 kB".into(), "0.3 MB".into(), "2.50 GB".into())
        );
    }

    #[test]
    fn times_rates_and_energy_keep_about_three_digits() {
        assert_eq!(
            (ms(412_300_000.0), ms(81_140_000.0), ms(6_600_000.0)),
            ("412".into(), "81.1".into(), "6.60".into())
        );
        assert_eq!((ms_u(None), rate(1234.4)), ("–".into(), "1234".into()));
        assert_eq!(
            (watts(2.5), watts(0.412), joules(0.0221), joules(0.00031)),
            ("2.50 W".into(), "412 mW".into(), "22.1 mJ".into(), "310 µJ".into())
        );
        assert_eq!((plural(1, "run", "runs"), plural(0, "run", "runs")), ("1 run".into(), "0 runs".into()));
    }
}
