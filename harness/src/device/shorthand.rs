//! Devices with no profile. `--device adb` (the one phone `adb devices` lists), `--device adb:SERIAL` and
//! `--device ssh:[USER@]HOST[:WORK_DIR]` get the defaults a profile gets: a phone the Android runner bundle in
//! `/data/local/tmp/etbench`; a board the runner for the target its `uname -m` names, in `WORK_DIR` (default
//! `~/etbench`). A profile of the same name still wins, and a profile is how to set anything else.

use anyhow::{anyhow, bail, Context};

use super::adb::list_devices;
use super::config::{Profile, TransportKind};
use super::ssh::SshTransport;
use super::transport::Transport;

/// The Android work directory a profile-less phone gets (shell-writable and not noexec on every Android).
pub const ANDROID_WORK_DIR: &str = "/data/local/tmp/etbench";

/// Whether `name` is a device shorthand rather than a profile name.
pub fn is_shorthand(name: &str) -> bool {
    name == "adb" || name.starts_with("adb:") || name.starts_with("ssh:")
}

/// The profile a shorthand stands for; ssh shorthands connect once to read `uname -m` and `$HOME`.
pub fn profile(name: &str) -> anyhow::Result<Profile> {
    if name == "adb" {
        return adb_profile(&only_attached_phone()?);
    }
    if let Some(serial) = name.strip_prefix("adb:") {
        if serial.is_empty() {
            bail!("--device adb: needs a serial after the colon (as `adb devices` lists it), or use --device adb for the one phone attached");
        }
        return adb_profile(serial);
    }
    if let Some(rest) = name.strip_prefix("ssh:") {
        return ssh_profile(rest);
    }
    bail!("--device {name}: not a device shorthand (adb, adb:SERIAL, ssh:[USER@]HOST[:WORK_DIR])")
}

/// The serial of the one phone the adb server lists as ready; none or several is an error listing what it saw.
fn only_attached_phone() -> anyhow::Result<String> {
    let all = list_devices(&(None, None));
    let ready: Vec<&(String, String)> = all.iter().filter(|(_, state)| state == "device").collect();
    let listed = || all.iter().map(|(s, st)| format!("{s} ({st})")).collect::<Vec<_>>().join(", ");
    match ready.as_slice() {
        [(serial, _)] => Ok(serial.clone()),
        [] if all.is_empty() => bail!(
            "--device adb: `adb devices` lists no phone; attach one with USB debugging on (or `adb connect HOST:PORT`), then run `etbench devices`"
        ),
        [] => bail!("--device adb: no phone is ready: {}; authorise this computer on the phone, or pass --device adb:SERIAL", listed()),
        _ => bail!(
            "--device adb: {} phones are attached: {}; pick one with --device adb:SERIAL",
            ready.len(),
            ready.iter().map(|(s, _)| format!("adb:{s}")).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn adb_profile(serial: &str) -> anyhow::Result<Profile> {
    let mut adb = toml::Table::new();
    adb.insert("serial".into(), serial.into());
    let mut t = toml::Table::new();
    t.insert("name".into(), format!("adb:{serial}").into());
    t.insert("transport".into(), "adb".into());
    t.insert("target".into(), "aarch64-linux-android".into());
    t.insert("work_dir".into(), ANDROID_WORK_DIR.into());
    t.insert("adb".into(), adb.into());
    from_table(&format!("adb:{serial}"), t)
}

/// `[USER@]HOST[:WORK_DIR]`: the board's target from `uname -m`, its work directory under `$HOME` unless absolute.
fn ssh_profile(spec: &str) -> anyhow::Result<Profile> {
    let (destination, work_dir) = match spec.split_once(':') {
        Some((d, w)) => (d, Some(w)),
        None => (spec, None),
    };
    let (user, host) = match destination.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, destination),
    };
    if host.is_empty() || user.is_some_and(str::is_empty) || work_dir.is_some_and(str::is_empty) {
        bail!("--device ssh:{spec}: expected ssh:[USER@]HOST[:WORK_DIR], e.g. ssh:pi@raspberrypi.local or ssh:pi@10.0.0.5:/home/pi/etbench");
    }
    let name = format!("ssh:{destination}");
    let mut ssh = toml::Table::new();
    ssh.insert("host".into(), host.into());
    if let Some(user) = user {
        ssh.insert("user".into(), user.into());
    }
    let mut t = toml::Table::new();
    t.insert("name".into(), name.clone().into());
    t.insert("transport".into(), "ssh".into());
    t.insert("work_dir".into(), "/".into());
    t.insert("ssh".into(), ssh.clone().into());
    let probe = from_table(&name, t.clone())?;
    let ssh_profile = probe.ssh.clone().expect("an ssh profile has [ssh]");
    let transport = SshTransport::new(&name, ssh_profile);
    transport.connect().map_err(|e| anyhow!("--device {name}: {e}"))?;
    let out = transport
        .run_ok("reading uname -m and $HOME", "uname -m; printf '%s\\n' \"$HOME\"")
        .map_err(|e| anyhow!("--device {name}: {e}"))?;
    let text = out.stdout_text();
    let mut lines = text.lines().map(str::trim);
    let machine = lines.next().unwrap_or_default().to_owned();
    let home = lines.next().unwrap_or_default().to_owned();
    let target = match machine.as_str() {
        "x86_64" | "amd64" => "x86_64-unknown-linux-gnu",
        "aarch64" | "arm64" => "aarch64-unknown-linux-gnu",
        other => bail!(
            "--device {name}: `uname -m` says {other:?}; etbench builds runners for x86_64 and aarch64 Linux: write a profile with target = \"...\" and runner = \"/path/to/etbench-runner\""
        ),
    };
    let dir = match work_dir {
        Some(w) if w.starts_with('/') => w.trim_end_matches('/').to_owned(),
        Some(w) => format!("{}/{}", home.trim_end_matches('/'), w.trim_start_matches("~/").trim_end_matches('/')),
        None => format!("{}/etbench", home.trim_end_matches('/')),
    };
    if !dir.starts_with('/') {
        bail!("--device {name}: the board's $HOME is {home:?}, not an absolute path; give the work directory: --device {name}:/ABSOLUTE/DIR");
    }
    t.insert("work_dir".into(), dir.into());
    t.insert("target".into(), target.into());
    from_table(&name, t)
}

fn from_table(name: &str, table: toml::Table) -> anyhow::Result<Profile> {
    let text = toml::to_string(&table).context("writing a device profile")?;
    let profile = Profile::parse(std::path::Path::new(&format!("(--device {name})")), &text)?;
    debug_assert!(matches!(profile.transport, TransportKind::Adb | TransportKind::Ssh));
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adb_serial_gets_the_android_defaults() {
        let p = profile("adb:R58M 12;$(x)").unwrap();
        assert_eq!(p.name, "adb:R58M 12;$(x)");
        assert_eq!(p.adb.unwrap().serial, "R58M 12;$(x)");
        assert_eq!(
            (p.target.as_deref(), p.work_dir.as_deref()),
            (Some("aarch64-linux-android"), Some(ANDROID_WORK_DIR))
        );
    }

    #[test]
    fn malformed_shorthands_say_what_is_expected() {
        for bad in ["adb:", "ssh:", "ssh:@host", "ssh:user@", "ssh:user@host:"] {
            let e = profile(bad).unwrap_err().to_string();
            assert!(e.contains("--device"), "{bad}: {e}");
        }
        assert!(is_shorthand("adb") && is_shorthand("adb:x") && is_shorthand("ssh:h") && !is_shorthand("pixel"));
    }
}
