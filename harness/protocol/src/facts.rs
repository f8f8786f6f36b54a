//! Device facts: the one set of types for what a device's sysfs says (per-core frequency and governor, thermal
//! zones, batteries). The host's probe of a remote device and the runner's before/after conditions both produce
//! these, in the same units (kHz, millidegrees Celsius, percent).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceFacts {
    #[serde(default)]
    pub cpus: Vec<CpuCondition>,
    #[serde(default)]
    pub thermal_zones: Vec<ThermalZone>,
    #[serde(default)]
    pub batteries: Vec<Battery>,
}

impl DeviceFacts {
    /// Hottest thermal zone, in °C.
    pub fn max_temp_c(&self) -> Option<f64> {
        self.thermal_zones.iter().filter_map(|z| z.temp_millic).max().map(|t| t as f64 / 1000.0)
    }

    /// The first battery (phones have one; boards none).
    pub fn battery(&self) -> Option<&Battery> {
        self.batteries.first()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuCondition {
    pub cpu: u32,
    pub cur_khz: Option<u64>,
    pub max_khz: Option<u64>,
    pub governor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThermalZone {
    pub zone: String,
    #[serde(default)]
    pub kind: Option<String>,
    pub temp_millic: Option<i64>,
}

impl ThermalZone {
    /// Parses a sysfs `temp` value: millidegrees on almost every kernel; a few report whole degrees.
    pub fn parse_temp_millic(text: &str) -> Option<i64> {
        let t: f64 = text.trim().parse().ok()?;
        Some(if t.abs() > 1000.0 { t as i64 } else { (t * 1000.0) as i64 })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Battery {
    /// The power-supply name (`battery`, `BAT0`).
    #[serde(default)]
    pub name: Option<String>,
    pub level_pct: Option<u32>,
    /// sysfs `status`: Charging, Discharging, Full, Not charging.
    pub status: Option<String>,
}

impl Battery {
    pub fn is_charging(&self) -> bool {
        matches!(self.status.as_deref(), Some("Charging") | Some("Full"))
    }
}
