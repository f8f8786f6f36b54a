//! From names to devices: `--device NAME` → its profile → transport + runner bundle → [`RemoteDevice`]; and the
//! `etbench devices` listing (configured profiles with reachability, plus what `adb devices` sees).

use std::path::{Path, PathBuf};

use super::adb::{list_devices, AdbTransport};
use super::local::LocalTransport;
use super::ssh::SshTransport;
use super::transport::Transport;
use super::RemoteDevice;
use crate::device::Device;
use crate::device::config::{self, Profile, ProfileError, TransportKind};

/// A transport for a profile.
pub fn transport_for(profile: &Profile) -> Box<dyn Transport> {
    match (profile.transport, &profile.ssh, &profile.adb) {
        (TransportKind::Ssh, Some(ssh), _) => Box::new(SshTransport::new(&profile.name, ssh.clone())),
        (TransportKind::Adb, _, Some(adb)) => Box::new(AdbTransport::new(&profile.name, adb.clone())),
        _ => Box::new(LocalTransport::new(&profile.name)),
    }
}

/// The device for a profile; `host_runner` is the runner for this host (`--runner`, `ETBENCH_RUNNER`, beside etbench).
pub fn open(profile: Profile, host_runner: Option<PathBuf>) -> Box<dyn Device> {
    let bundle = super::remote::resolve_runner(&profile, host_runner);
    let transport = transport_for(&profile);
    Box::new(RemoteDevice::new(profile, transport, bundle))
}

/// Looks a device up by name in `dir`.
pub fn find(dir: &Path, name: &str) -> Result<Profile, ProfileError> {
    config::find(dir, name)
}

/// One line per configured device (with a reachability check, run in parallel) and per unconfigured adb device.
pub fn listing(dir: &Path) -> Result<String, ProfileError> {
    let all = config::load_all(dir)?;
    let reach: Vec<String> = std::thread::scope(|s| {
        let checks: Vec<_> = all
            .iter()
            .map(|p| {
                s.spawn(move || match transport_for(p).connect() {
                    Ok(()) => "reachable".to_owned(),
                    Err(e) => format!("NOT USABLE: {}", e.to_string().strip_prefix(&format!("device {}: ", p.name)).unwrap_or(&e.to_string())),
                })
            })
            .collect();
        checks.into_iter().map(|c| c.join().unwrap_or_else(|_| "check panicked".into())).collect()
    });
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["device", "transport", "target", "address", "status"]);
    for (p, status) in all.iter().zip(&reach) {
        let address = transport_for(p).address();
        table.add_row([p.name.clone(), p.transport.as_str().into(), p.target(), address, status.clone()]);
    }
    let mut ports: Vec<Option<u16>> = all.iter().filter_map(|p| p.adb.as_ref().map(|a| a.server_port)).collect();
    ports.push(None);
    ports.sort();
    ports.dedup();
    for port in ports {
        for (serial, state) in list_devices(port) {
            let configured = all.iter().any(|p| p.adb.as_ref().is_some_and(|a| a.serial == serial && a.server_port == port));
            if !configured {
                let server = port.map(|p| format!(" (server port {p})")).unwrap_or_default();
                table.add_row([
                    format!("({serial})"),
                    "adb".into(),
                    "?".into(),
                    format!("adb {serial}{server}"),
                    format!("{state}; not configured: add a devices/*.toml with [adb] serial = \"{serial}\""),
                ]);
            }
        }
    }
    Ok(format!("Profiles: {}\n{table}\n", dir.display()))
}

/// What `etbench devices info NAME` prints: the probed facts as JSON (Android facts, CPU clusters, battery and
/// thermal status included), the runner it gets and the libc that runner uses.
pub fn info(profile: Profile, host_runner: Option<PathBuf>) -> anyhow::Result<String> {
    let transport = transport_for(&profile);
    transport.connect().map_err(anyhow::Error::msg)?;
    let out = transport.run_ok("probing the device", super::probe::SCRIPT).map_err(anyhow::Error::msg)?;
    let text = out.stdout_text();
    let (info, mut probed) = super::probe::parse(&text);
    let runner = super::remote::resolve_runner(&profile, host_runner);
    if let Ok(b) = &runner {
        probed.runner_libc = Some(super::remote::runner_libc(b, &profile.target(), super::probe::glibc_version(&text)));
    }
    let value = serde_json::json!({
        "name": profile.name,
        "transport": profile.transport.as_str(),
        "address": transport.address(),
        "target": profile.target(),
        "work_dir": profile.work_dir,
        "runner": match &runner {
            Ok(b) => b.describe(),
            Err(e) => serde_json::json!({"error": e}),
        },
        "info": info,
        "probed": probed,
    });
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}
