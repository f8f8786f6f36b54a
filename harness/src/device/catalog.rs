//! From names to devices: `--device NAME` → its profile → transport + runner bundle → [`RemoteDevice`]; and the
//! `etbench devices` listing (configured profiles with reachability, plus what `adb devices` sees).

use std::path::{Path, PathBuf};

use super::adb::{list_devices, AdbTransport};
use super::local::LocalTransport;
use super::ssh::SshTransport;
use super::transport::Transport;
use super::RemoteDevice;
use crate::device::config::{self, Profile, ProfileError, TransportKind};
use crate::device::Device;

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

/// What `--device NAME` names: `local`, a profile in `dir`, or a shorthand (`adb`, `adb:SERIAL`,
/// `ssh:[USER@]HOST[:WORK_DIR]`). A profile for the same phone (serial) or board (user and host) overrides the
/// shorthand's defaults.
pub fn resolve(dir: &Path, name: &str) -> anyhow::Result<Profile> {
    if name == "local" {
        return Ok(local_profile());
    }
    if !super::shorthand::is_shorthand(name) {
        return Ok(find(dir, name)?);
    }
    let short = super::shorthand::profile(name)?;
    let same = |p: &Profile| match (&p.adb, &short.adb, &p.ssh, &short.ssh) {
        (Some(a), Some(b), _, _) => a.serial == b.serial,
        (_, _, Some(a), Some(b)) => a.host == b.host && (b.user.is_none() || a.user == b.user),
        _ => false,
    };
    let profiles = config::load_all(dir).unwrap_or_default();
    if let Some(p) = profiles.into_iter().find(|p| same(p)) {
        crate::say!(
            "etbench: --device {name}: using profile {} (devices/{}.toml), which names the same device",
            p.name,
            p.name
        );
        return Ok(p);
    }
    Ok(short)
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
                        Err(e) => format!(
                            "NOT USABLE: {}",
                            e.to_string().strip_prefix(&format!("device {}: ", p.name)).unwrap_or(&e.to_string())
                        ),
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
    // One listing per adb server: a profile's (port or socket), and the default one (ANDROID_ADB_SERVER_PORT, else
    // 5037), each asked once.
    let default_port =
        std::env::var("ANDROID_ADB_SERVER_PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(5037);
    let effective = |(port, socket): (Option<u16>, Option<String>)| match socket {
        Some(socket) => (None, Some(socket)),
        None => (Some(port.unwrap_or(default_port)), None),
    };
    let default_server = (Some(default_port), None);
    let mut servers: Vec<(Option<u16>, Option<String>)> =
        all.iter().filter_map(|p| p.adb.as_ref().map(|a| effective(a.server_key()))).collect();
    servers.push(default_server.clone());
    servers.sort();
    servers.dedup();
    for server in servers {
        for (serial, state) in list_devices(&server) {
            let configured = all
                .iter()
                .any(|p| p.adb.as_ref().is_some_and(|a| a.serial == serial && effective(a.server_key()) == server));
            if configured {
                continue;
            }
            if server == default_server {
                // `--device adb:SERIAL` reaches it as it is.
                let status = match state.as_str() {
                    "device" => "ready; no profile needed".to_owned(),
                    "unauthorized" => "unauthorized: accept this computer's key on the phone".to_owned(),
                    other => other.to_owned(),
                };
                table.add_row([
                    format!("adb:{serial}"),
                    "adb".into(),
                    "aarch64-linux-android".into(),
                    format!("adb {serial}"),
                    status,
                ]);
            } else {
                let label = super::adb::server_label(&server);
                table.add_row([
                    format!("({serial})"),
                    "adb".into(),
                    "?".into(),
                    format!("adb {serial}{label}"),
                    format!("{state}; on another adb server: add a devices/*.toml with [adb] serial = \"{serial}\" and that server"),
                ]);
            }
        }
    }
    Ok(format!(
        "Profiles: {}\n{table}\n\nUse a name above with --device; also ssh:[USER@]HOST[:WORK_DIR] for a board with no profile.\n",
        dir.display()
    ))
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
