//! `--cores big|prime|little|all|MASK`: a kind of core, resolved per device from its probed clusters
//! ([`crate::results::CpuCluster`]) into the CPU mask the runner is pinned to, and the number of cores (the default
//! thread count).
//!
//! `big` is every cluster named big or prime, `prime` the fastest cluster (the big one when there is no separate
//! prime), `little` the slowest. A device whose CPUs are all alike has one cluster, `all`: asking it for a kind of
//! core uses every core and says so.

use etbench_protocol::CpuMask;

pub use crate::results::cpu_list;
use crate::results::CpuCluster;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreSelection {
    All,
    Little,
    Big,
    Prime,
    /// A hex mask (`0xf0`), taken as given once its CPUs are known to exist.
    Mask(CpuMask),
}

impl std::str::FromStr for CoreSelection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(CoreSelection::All),
            "little" => Ok(CoreSelection::Little),
            "big" => Ok(CoreSelection::Big),
            "prime" => Ok(CoreSelection::Prime),
            mask => mask
                .parse()
                .map(CoreSelection::Mask)
                .map_err(|_| format!("`{s}`: use big, prime, little, all or a hex CPU mask such as 0xf0")),
        }
    }
}

impl std::fmt::Display for CoreSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CoreSelection::All => f.write_str("all"),
            CoreSelection::Little => f.write_str("little"),
            CoreSelection::Big => f.write_str("big"),
            CoreSelection::Prime => f.write_str("prime"),
            CoreSelection::Mask(m) => m.fmt(f),
        }
    }
}

/// The CPUs a selection stands for on one device.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreChoice {
    pub mask: CpuMask,
    pub cpus: Vec<u32>,
    /// Names of the clusters used (`["big"]`, `["all"]`).
    pub clusters: Vec<String>,
    /// Set when the device could not give what was asked and something else is used.
    pub warning: Option<String>,
}

fn describe(clusters: &[CpuCluster]) -> String {
    clusters.iter().map(|c| format!("{} {}", c.name, cpu_list(&c.cpus))).collect::<Vec<_>>().join(", ")
}

/// Resolves `selection` against a device's clusters (slowest first, as [`crate::device::probe::clusters`] makes
/// them). `device` names the device in messages.
pub fn choose(selection: &CoreSelection, clusters: &[CpuCluster], device: &str) -> Result<CoreChoice, String> {
    if clusters.is_empty() {
        return Err(format!("--cores {selection}: {device} reported no CPUs"));
    }
    let every: Vec<u32> = {
        let mut all: Vec<u32> = clusters.iter().flat_map(|c| c.cpus.iter().copied()).collect();
        all.sort();
        all
    };
    let pick = |chosen: Vec<&CpuCluster>, warning: Option<String>| {
        let mut cpus: Vec<u32> = chosen.iter().flat_map(|c| c.cpus.iter().copied()).collect();
        cpus.sort();
        Ok(CoreChoice {
            mask: CpuMask::from_cpus(cpus.iter().copied())
                .ok_or_else(|| format!("--cores {selection}: {device} reported no CPUs"))?,
            cpus,
            clusters: chosen.iter().map(|c| c.name.clone()).collect(),
            warning,
        })
    };
    if let CoreSelection::Mask(mask) = selection {
        let cpus: Vec<u32> = mask.cpus().collect();
        if let Some(missing) = cpus.iter().find(|c| !every.contains(c)) {
            return Err(format!(
                "--cores {mask}: {device} has no cpu{missing} (its CPUs: {}); pick a mask within them",
                describe(clusters)
            ));
        }
        let used: Vec<String> =
            clusters.iter().filter(|c| c.cpus.iter().any(|x| cpus.contains(x))).map(|c| c.name.clone()).collect();
        return Ok(CoreChoice { mask: mask.clone(), cpus, clusters: used, warning: None });
    }
    if *selection == CoreSelection::All {
        return pick(clusters.iter().collect(), None);
    }
    if clusters.len() == 1 {
        let warning = format!(
            "--cores {selection}: {device} has one kind of core ({} alike: no cpu_capacity or cpuinfo_max_freq difference), so all {} are used",
            cpu_list(&every),
            every.len()
        );
        return pick(clusters.iter().collect(), Some(warning));
    }
    let chosen: Vec<&CpuCluster> = match selection {
        CoreSelection::Little => vec![&clusters[0]],
        CoreSelection::Prime => vec![clusters.last().expect("not empty")],
        _ => clusters.iter().filter(|c| c.name == "big" || c.name == "prime").collect(),
    };
    pick(chosen, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::probe::clusters;

    #[test]
    fn selections_pick_clusters_and_one_cluster_falls_back_to_all_with_a_warning() {
        let lab = clusters(&["0 512 1800000 1", "1 1024 2900000 1"], 2);
        let big = choose(&CoreSelection::Big, &lab, "lab-phone").unwrap();
        assert_eq!((big.mask.to_string(), big.cpus.clone(), big.warning.is_none()), ("0x2".into(), vec![1], true));
        let mask = |s: &CoreSelection| choose(s, &lab, "x").unwrap().mask.to_string();
        assert_eq!(mask(&CoreSelection::Little), "0x1");
        assert_eq!(mask(&CoreSelection::Prime), "0x2");
        assert_eq!(mask(&CoreSelection::All), "0x3");
        let four = clusters(&["0 300 - 1", "1 500 - 1", "2 800 - 1", "3 800 - 1", "4 1024 - 1"], 5);
        assert_eq!(choose(&CoreSelection::Big, &four, "x").unwrap().cpus, [2, 3, 4]);
        assert_eq!(choose(&CoreSelection::Prime, &four, "x").unwrap().cpus, [4]);
        let one = clusters(&["0 - - 1", "1 - - 1"], 2);
        let fallback = choose(&CoreSelection::Big, &one, "vm").unwrap();
        assert_eq!(fallback.mask.to_string(), "0x3");
        assert!(fallback.warning.unwrap().contains("one kind of core"));
        let mask: CoreSelection = "0x2".parse().unwrap();
        assert_eq!(choose(&mask, &lab, "x").unwrap().clusters, ["big"]);
        assert!(choose(&"0x4".parse().unwrap(), &lab, "lab-phone").unwrap_err().contains("no cpu2"));
        assert!("mid".parse::<CoreSelection>().unwrap_err().contains("big, prime, little, all"));
        assert!("0x0".parse::<CoreSelection>().unwrap_err().contains("hex CPU mask"));
        assert_eq!("F0".parse::<CoreSelection>().unwrap().to_string(), "0xf0");
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "cpu0-2,5,7-8");
    }
}
