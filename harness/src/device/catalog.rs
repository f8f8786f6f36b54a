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

/// A device from its profile whose runner is `runner` (one model's own `--runner`), installed beside others.
pub fn open_with_runner(profile: Profile, runner: &std::path::Path) -> Box<dyn Device> {
    let transport = transport_for(&profile);
    Box::new(RemoteDevice::with_runner(profile, transport, runner))
}

/// Looks a device up by name in `dir`.
pub fn find(dir: &Path, name: &str) -> Result<Profile, ProfileError> {
    config::find(dir, name)
}

/// This host as a profile (`--device local`, `etbench devices info local`): the local transport, the host's triple,
/// the runner beside etbench.
pub fn local_profile() -> Profile {
    Profile {
        name: "local".into(),
        transport: TransportKind::Local,
        ssh: None,
        adb: None,
        target: None,
        work_dir: None,
        runner: None,
        env: Default::default(),
        cpu_affinity: None,
        threads: None,
        run: None,
        verify_hash: false,
    }
}

/// Connects to every profile at once (one thread each; a slow board costs its own timeout, not the sum), with a
/// progress line on stderr.
fn reachability(all: &[Profile]) -> Vec<String> {
    let bar = indicatif::ProgressBar::with_draw_target(Some(all.len() as u64), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template("{msg} {pos}/{len}").expect("valid template"));
    bar.set_message("etbench: checking devices");
    let reach = std::thread::scope(|s| {
        let checks: Vec<_> = all
            .iter()
            .map(|p| {
                let bar = &bar;
                s.spawn(move || {
                    let status = match transport_for(p).connect() {
                        Ok(()) => "reachable".to_owned(),
                        Err(e) => format!("NOT USABLE: {}", e.to_string().strip_prefix(&format!("device {}: ", p.name)).unwrap_or(&e.to_string())),
                    };
                    bar.inc(1);
                    status
                })
            })
            .collect();
        checks.into_iter().map(|c| c.join().unwrap_or_else(|_| "check panicked".into())).collect()
    });
    bar.finish_and_clear();
    reach
}

/// One line for this host (first), one per configured device (with a reachability check, run in parallel) and one
/// per unconfigured adb device. `host_runner` is where the local runner is, or why it is missing.
pub fn listing(dir: &Path, host_runner: Result<PathBuf, String>) -> Result<String, ProfileError> {
    let all = config::load_all(dir)?;
    let reach = reachability(&all);
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["device", "transport", "target", "address", "status"]);
    let local = match host_runner {
        Ok(runner) => format!("ready (runner {})", runner.display()),
        Err(e) => format!("NOT USABLE: {e}"),
    };
    table.add_row(["local".to_owned(), "local".into(), config::host_triple(), "this host".into(), local]);
    for (p, status) in all.iter().zip(&reach) {
        let address = transport_for(p).address();
        table.add_row([p.name.clone(), p.transport.as_str().into(), p.target(), address, status.clone()]);
    }
    let mut servers: Vec<(Option<u16>, Option<String>)> = all.iter().filter_map(|p| p.adb.as_ref().map(|a| a.server_key())).collect();
    servers.push((None, None));
    servers.sort();
    servers.dedup();
    for server in servers {
        for (serial, state) in list_devices(&server) {
            let configured = all.iter().any(|p| p.adb.as_ref().is_some_and(|a| a.serial == serial && a.server_key() == server));
            if !configured {
                let server = super::adb::server_label(&server);
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
