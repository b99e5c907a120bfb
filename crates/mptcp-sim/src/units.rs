//! Human-friendly quantities used in scenario files: rates, sizes and durations.
//!
//! - rates: `"100Mbit"`, `"1Gbit"`, `"500kbit"`, `"10bit"`, also `"100Mbps"`, `"1Gbps"`,
//!   `"500kbps"`, `"10bps"` (all bits per second, decimal prefixes);
//! - sizes: `"1500B"`, `"250KB"`, `"100MB"`, `"1GB"` (decimal) and `"64KiB"`, `"1MiB"`,
//!   `"1GiB"` (binary); a plain integer is a number of bytes;
//! - durations: `"60s"`, `"10ms"`, `"500us"`, `"1.5s"`, `"2m"`, `"250ns"`.
//!
//! Every parser returns `None` on malformed input; the caller turns that into a
//! [`crate::scenario::ScenarioError`] naming the field.

use std::time::Duration;

/// Splits `"1.5Mbit"` into (`1.5`, `"Mbit"`); the number may be an integer or a decimal.
fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    Some((value, unit.trim()))
}

/// Multiplies and rounds, rejecting results that do not fit a `u64`.
fn scale(value: f64, mult: f64) -> Option<u64> {
    let v = (value * mult).round();
    if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
        Some(v as u64)
    } else {
        None
    }
}

/// Parses a rate into bits per second.
pub fn parse_rate(s: &str) -> Option<u64> {
    let (value, unit) = split_number(s)?;
    let mult = match unit {
        "bit" | "bps" => 1.0,
        "kbit" | "Kbit" | "kbps" | "Kbps" => 1e3,
        "Mbit" | "mbit" | "Mbps" | "mbps" => 1e6,
        "Gbit" | "gbit" | "Gbps" | "gbps" => 1e9,
        _ => return None,
    };
    scale(value, mult).filter(|&bps| bps > 0)
}

/// Parses a size into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let (value, unit) = split_number(s)?;
    let mult = match unit {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    scale(value, mult)
}

/// Parses a duration.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (value, unit) = split_number(s)?;
    let nanos_per_unit = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    scale(value, nanos_per_unit).map(Duration::from_nanos)
}

/// Nanoseconds needed to serialize `bytes` at `rate_bps` (rounded up; at least 1 ns).
pub fn serialization_nanos(bytes: usize, rate_bps: u64) -> u64 {
    let bits = (bytes as u128) * 8 * 1_000_000_000;
    let rate = u128::from(rate_bps.max(1));
    let ns = bits.div_ceil(rate);
    u64::try_from(ns).unwrap_or(u64::MAX).max(1)
}

/// Formats bits per second compactly for the human-readable report ("94.3 Mbit/s").
pub fn format_rate(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.2} Gbit/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1} Mbit/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1} kbit/s", bps / 1e3)
    } else {
        format!("{bps:.0} bit/s")
    }
}

/// Formats a byte count compactly for the human-readable report ("100.0 MB").
pub fn format_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} KB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100Mbit"), Some(100_000_000));
        assert_eq!(parse_rate("1Gbit"), Some(1_000_000_000));
        assert_eq!(parse_rate("500kbit"), Some(500_000));
        assert_eq!(parse_rate("10bit"), Some(10));
        assert_eq!(parse_rate("100Mbps"), Some(100_000_000));
        assert_eq!(parse_rate("2Gbps"), Some(2_000_000_000));
        assert_eq!(parse_rate("64kbps"), Some(64_000));
        assert_eq!(parse_rate("1.5Mbit"), Some(1_500_000));
        assert_eq!(parse_rate(" 10 Mbit "), Some(10_000_000));
    }

    #[test]
    fn bad_rates() {
        for s in [
            "fast", "", "Mbit", "100", "100MB", "0Mbit", "-5Mbit", "1.Mbit", "1e3bit",
        ] {
            assert_eq!(parse_rate(s), None, "{s}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100MB"), Some(100_000_000));
        assert_eq!(parse_size("250KB"), Some(250_000));
        assert_eq!(parse_size("1GB"), Some(1_000_000_000));
        assert_eq!(parse_size("1500B"), Some(1500));
        assert_eq!(parse_size("1500"), Some(1500));
        assert_eq!(parse_size("64KiB"), Some(65_536));
        assert_eq!(parse_size("1MiB"), Some(1_048_576));
        assert_eq!(parse_size("2GiB"), Some(2_147_483_648));
        assert_eq!(parse_size("0.5MB"), Some(500_000));
    }

    #[test]
    fn bad_sizes() {
        for s in ["big", "", "10Mbit", "KB", "1..5MB", "5 furlongs"] {
            assert_eq!(parse_size(s), None, "{s}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("10ms"), Some(Duration::from_millis(10)));
        assert_eq!(parse_duration("500us"), Some(Duration::from_micros(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("250ns"), Some(Duration::from_nanos(250)));
    }

    #[test]
    fn bad_durations() {
        for s in ["soon", "", "10", "5 parsecs", "ms", "1.5.2s"] {
            assert_eq!(parse_duration(s), None, "{s}");
        }
    }

    #[test]
    fn serialization() {
        // 1500 bytes at 100 Mbit/s = 120 us.
        assert_eq!(serialization_nanos(1500, 100_000_000), 120_000);
        // 1 byte at 1 Gbit/s = 8 ns.
        assert_eq!(serialization_nanos(1, 1_000_000_000), 8);
        // Rounds up.
        assert_eq!(serialization_nanos(1, 3), 2_666_666_667);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_rate(94_300_000.0), "94.3 Mbit/s");
        assert_eq!(format_size(100_000_000), "100.0 MB");
    }
}
