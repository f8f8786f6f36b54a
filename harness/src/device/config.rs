//! Device profiles: one `devices/NAME.toml` per device (transport, address, target triple, work dir, runner,
//! environment, CPU mask, default threads). Unknown keys are refused by name, so a typo never silently falls back
//! to a default. The directory is `--devices-dir`, then `ETBENCH_DEVICES_DIR`, then the repository's `devices/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("device profile {path}: {message}")]
    Invalid { path: String, message: String },
    // `error`, not `source`: the message already carries its text, so it is not repeated as a cause.
    #[error("cannot read the devices directory {dir}: {error}; pass --devices-dir DIR or set ETBENCH_DEVICES_DIR")]
    Dir { dir: String, error: std::io::Error },
    #[error("--device {name}: no such device; configured in {dir}: {known}. Use adb, adb:SERIAL or ssh:[USER@]HOST for a device with no profile, or add devices/{name}.toml (see docs/devices.md)")]
    Unknown { name: String, dir: String, known: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Local,
    Ssh,
    Adb,
}

impl TransportKind {
    /// The name profiles and results.json use (`DeviceRef.transport`).
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Local => "local",
            TransportKind::Ssh => "ssh",
            TransportKind::Adb => "adb",
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TransportKind {
    type Err = String;

    /// A transport's name as [`TransportKind::as_str`] gives it (e.g. a recorded `DeviceRef.transport`).
    fn from_str(s: &str) -> Result<Self, String> {
        [TransportKind::Local, TransportKind::Ssh, TransportKind::Adb]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a transport: local, ssh or adb"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum HostKeyChecking {
    /// Only hosts already in known_hosts (the default).
    #[default]
    #[serde(rename = "yes")]
    Yes,
    /// Trust a host seen for the first time, refuse a changed key.
    #[serde(rename = "accept-new")]
    AcceptNew,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshProfile {
    /// Host name or address (an alias from ~/.ssh/config works too).
    pub host: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Private key file (default: ssh's own choice, the agent included).
    pub identity: Option<PathBuf>,
    /// Extra `-o` options, e.g. `["ProxyJump=gateway", "UserKnownHostsFile=/path"]`.
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default)]
    pub host_key_checking: HostKeyChecking,
    /// Seconds before an unreachable host is given up (default 10).
    pub connect_timeout_s: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdbProfile {
    /// As `adb devices` shows it (`HOST:PORT` for network devices, which are `adb connect`ed on demand).
    pub serial: String,
    /// The adb server's port (default: ANDROID_ADB_SERVER_PORT, else 5037).
    pub server_port: Option<u16>,
    /// An adb server on another host, `tcp:HOST:PORT`, passed to every adb call for this device as
    /// `ADB_SERVER_SOCKET`. adb's server protocol is unencrypted: reach a remote server through an ssh tunnel
    /// (`ssh -N -L 5037:127.0.0.1:5037 labhost`, then `tcp:127.0.0.1:5037`).
    pub server: Option<String>,
}

impl AdbProfile {
    /// Which adb server this device is on: (`-P` port, `ADB_SERVER_SOCKET`), as `adb devices` is asked.
    pub fn server_key(&self) -> (Option<u16>, Option<String>) {
        (self.server_port, self.server.clone())
    }

    fn validate(&self) -> Result<(), String> {
        let Some(server) = &self.server else { return Ok(()) };
        if self.server_port.is_some() {
            return Err(format!("[adb] server = {server:?} and server_port both name the adb server; keep one"));
        }
        let port =
            server.strip_prefix("tcp:").and_then(|rest| rest.rsplit_once(':')).filter(|(host, _)| !host.is_empty());
        match port.map(|(_, p)| p.parse::<u16>()) {
            Some(Ok(p)) if p > 0 => Ok(()),
            _ => Err(format!("[adb] server = {server:?} is not \"tcp:HOST:PORT\" (e.g. \"tcp:127.0.0.1:5037\" through an ssh tunnel)")),
        }
    }
}

/// Which runner binary a device gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerSource {
    /// `target/<triple>/release/etbench-runner` (the host's own runner for the host triple), built with
    /// `scripts/build-runner.sh --target <triple>` when missing; started directly on the device.
    Build,
    /// The Android runner bundle `target/runner-bundles/aarch64-linux-android/` (the glibc runner with its own
    /// loader and libraries, no NDK), built with `scripts/build-runner.sh --target aarch64-linux-android` when
    /// missing; the default for that target.
    Bundle,
    /// A runner binary built for the target (e.g. with the NDK), started directly.
    Path(PathBuf),
}

impl<'de> Deserialize<'de> for RunnerSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "build" => RunnerSource::Build,
            "bundle" => RunnerSource::Bundle,
            _ => RunnerSource::Path(PathBuf::from(s)),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub transport: TransportKind,
    pub ssh: Option<SshProfile>,
    pub adb: Option<AdbProfile>,
    /// Rust target triple of the device (picks the runner build). Default: the host's for ssh/local,
    /// `aarch64-linux-android` for adb.
    pub target: Option<String>,
    /// Absolute directory on the device for the runner, libraries and models (created when missing).
    pub work_dir: Option<String>,
    /// `"bundle"` (the default for `aarch64-linux-android`), `"build"` (the default otherwise) or a path to an
    /// etbench-runner built for `target` (started directly).
    pub runner: Option<RunnerSource>,
    /// Environment variables for the runner.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Default CPU mask (hex) when `--cpu-affinity` is not given (shorthand for `run.cpu_affinity`).
    pub cpu_affinity: Option<etbench_protocol::CpuMask>,
    /// Default thread count when `--threads` is not given (shorthand for `run.threads`).
    pub threads: Option<u32>,
    /// This device's defaults for any run-specification key (`[run]` table: warmup, iterations, gate_timeout_s,
    /// load_mode, …); the command line overrides them.
    #[serde(default)]
    pub run: Option<serde_json::Value>,
    /// Also compare a sha256 computed on the device after each push (reads the file once more on the device).
    #[serde(default)]
    pub verify_hash: bool,
}

/// Android phones' triple; its profiles get the runner bundle unless `runner` says otherwise.
pub const ANDROID: &str = "aarch64-linux-android";

/// This host's target triple (the runner built beside etbench has it).
pub fn host_triple() -> String {
    let env = if cfg!(target_env = "musl") { "musl" } else { "gnu" };
    format!("{}-unknown-linux-{env}", std::env::consts::ARCH)
}

impl Profile {
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid { path: path.display().to_string(), message };
        let profile: Profile = toml::from_str(text).map_err(|e| invalid(e.to_string().trim().to_owned()))?;
        profile.validate().map_err(invalid)?;
        Ok(profile)
    }

    fn validate(&self) -> Result<(), String> {
        match (self.transport, &self.ssh, &self.adb) {
            (TransportKind::Ssh, None, _) => {
                return Err("transport = \"ssh\" needs an [ssh] table with host = ...".into())
            }
            (TransportKind::Adb, _, None) => {
                return Err("transport = \"adb\" needs an [adb] table with serial = ...".into())
            }
            (TransportKind::Ssh, _, Some(_)) | (TransportKind::Adb, Some(_), _) => {
                return Err("give either [ssh] or [adb], matching `transport`".into())
            }
            (TransportKind::Local, Some(_), _) | (TransportKind::Local, _, Some(_)) => {
                return Err("transport = \"local\" takes no [ssh] or [adb] table".into())
            }
            _ => {}
        }
        if let Some(adb) = &self.adb {
            adb.validate()?;
        }
        if let Some(dir) = &self.work_dir {
            if !dir.starts_with('/') {
                return Err(format!("work_dir = {dir:?} must be an absolute path"));
            }
        }
        if self.transport != TransportKind::Local && self.work_dir.is_none() {
            return Err(
                "remote devices need work_dir = \"/absolute/dir\" (e.g. /data/local/tmp/etbench on Android)".into()
            );
        }
        if self.threads == Some(0) {
            return Err("threads must be at least 1".into());
        }
        if self.runner == Some(RunnerSource::Bundle) && self.target() != ANDROID {
            return Err(format!(
                "runner = \"bundle\" is the runner bundle for target = \"{ANDROID}\"; this profile's target is {}: use \"build\" or a path",
                self.target()
            ));
        }
        self.run_spec(&etbench_protocol::RunSpec::default()).map(|_| ())
    }

    /// `base` completed with this device's defaults (`threads`, `cpu_affinity`, then the `[run]` table).
    pub fn run_spec(&self, base: &etbench_protocol::RunSpec) -> Result<etbench_protocol::RunSpec, String> {
        let mut overrides = serde_json::Map::new();
        if let Some(t) = self.threads {
            overrides.insert("threads".into(), t.into());
        }
        if let Some(mask) = &self.cpu_affinity {
            overrides.insert("cpu_affinity".into(), mask.to_string().into());
        }
        if let Some(run) = &self.run {
            let table = run.as_object().ok_or("[run] must be a table of run-specification keys")?;
            overrides.extend(table.clone());
        }
        base.merged(&serde_json::Value::Object(overrides)).map_err(|e| format!("[run]: {e}"))
    }

    pub fn target(&self) -> String {
        self.target.clone().unwrap_or_else(|| match self.transport {
            TransportKind::Adb => ANDROID.into(),
            _ => host_triple(),
        })
    }
}

/// The profiles directory: `--devices-dir`, then `ETBENCH_DEVICES_DIR`, then the home's `devices/` (see
/// [`crate::home`]); with no home at all, `devices/` here (which lists nothing but `local`).
pub fn devices_dir(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_owned)
        .or_else(|| std::env::var_os("ETBENCH_DEVICES_DIR").map(PathBuf::from))
        .or_else(|| crate::home::find().ok().map(|h| h.devices()))
        .unwrap_or_else(|| PathBuf::from("devices"))
}

/// Every `*.toml` in `dir`, sorted by name; the first invalid file is an error.
pub fn load_all(dir: &Path) -> Result<Vec<Profile>, ProfileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(ProfileError::Dir { dir: dir.display().to_string(), error }),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut profiles = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ProfileError::Invalid { path: path.display().to_string(), message: e.to_string() })?;
        profiles.push(Profile::parse(&path, &text)?);
    }
    Ok(profiles)
}

/// The profile called `name` in `dir`.
pub fn find(dir: &Path, name: &str) -> Result<Profile, ProfileError> {
    let all = load_all(dir)?;
    let known: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
    all.into_iter().find(|p| p.name == name).ok_or_else(|| ProfileError::Unknown {
        name: name.into(),
        dir: dir.display().to_string(),
        known: if known.is_empty() { "none".into() } else { known.join(", ") },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Profile, String> {
        Profile::parse(Path::new("devices/x.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn ssh_profile_parses_with_defaults() {
        let p = parse("name = \"b\"\ntransport = \"ssh\"\nwork_dir = \"/tmp/w\"\n[ssh]\nhost = \"198.18.0.11\"\nuser = \"bench\"\n").unwrap();
        assert_eq!(p.ssh.unwrap().host_key_checking, HostKeyChecking::Yes);
        assert_eq!(p.runner, None);
        assert_eq!(p.target.as_deref(), None);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = parse("name = \"b\"\ntransport = \"ssh\"\nwork_dir = \"/w\"\nthreds = 4\n[ssh]\nhost = \"h\"\n")
            .unwrap_err();
        assert!(e.contains("threds"), "{e}");
        let e = parse("name = \"b\"\ntransport = \"ssh\"\nwork_dir = \"/w\"\n[ssh]\nhost = \"h\"\nhostkey = \"no\"\n")
            .unwrap_err();
        assert!(e.contains("hostkey"), "{e}");
    }

    #[test]
    fn run_table_completes_the_defaults_and_typos_are_named() {
        let p = parse("name = \"b\"\ntransport = \"local\"\nthreads = 2\n[run]\nwarmup = 1\ngate_timeout_s = 60.0\n")
            .unwrap();
        let spec = p.run_spec(&etbench_protocol::RunSpec::default()).unwrap();
        assert_eq!((spec.threads, spec.warmup, spec.gate_timeout_s, spec.iterations), (Some(2), 1, 60.0, 20));
        let e = parse("name = \"b\"\ntransport = \"local\"\n[run]\nwarmpu = 1\n").unwrap_err();
        assert!(e.contains("warmpu") && e.contains("devices/x.toml"), "{e}");
    }

    #[test]
    fn cpu_masks_are_parsed_once_and_bad_ones_named() {
        let p = parse("name = \"b\"\ntransport = \"local\"\ncpu_affinity = \"0xF0\"\n").unwrap();
        let spec = p.run_spec(&etbench_protocol::RunSpec::default()).unwrap();
        assert_eq!(spec.cpu_affinity.map(|m| m.to_string()).as_deref(), Some("0xf0"));
        for bad in ["zz", "0x0", ""] {
            let e = parse(&format!("name = \"b\"\ntransport = \"local\"\ncpu_affinity = \"{bad}\"\n")).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")) && e.contains("devices/x.toml"), "{e}");
        }
        let e = parse("name = \"b\"\ntransport = \"local\"\n[run]\ncpu_affinity = \"0xq\"\n").unwrap_err();
        assert!(e.contains("`0xq` is not a hex CPU mask"), "{e}");
    }

    #[test]
    fn transport_kinds_read_back_their_names() {
        for kind in [TransportKind::Local, TransportKind::Ssh, TransportKind::Adb] {
            assert_eq!(kind.as_str().parse::<TransportKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert!("usb".parse::<TransportKind>().unwrap_err().contains("local, ssh or adb"));
    }

    #[test]
    fn android_profiles_get_the_bundle_and_only_they_may_ask_for_it() {
        let phone = parse("name = \"p\"\ntransport = \"adb\"\nwork_dir = \"/data/local/tmp/e\"\nrunner = \"bundle\"\n[adb]\nserial = \"X\"\n").unwrap();
        assert_eq!((phone.target(), phone.runner), (ANDROID.to_owned(), Some(RunnerSource::Bundle)));
        let e =
            parse("name = \"b\"\ntransport = \"ssh\"\nwork_dir = \"/w\"\nrunner = \"bundle\"\n[ssh]\nhost = \"h\"\n")
                .unwrap_err();
        assert!(e.contains("aarch64-linux-android") && e.contains("\"build\""), "{e}");
    }

    #[test]
    fn inconsistent_profiles_say_what_is_missing() {
        assert!(parse("name = \"b\"\ntransport = \"adb\"\nwork_dir = \"/w\"\n").unwrap_err().contains("[adb]"));
        assert!(parse("name = \"b\"\ntransport = \"ssh\"\nwork_dir = \"w\"\n[ssh]\nhost = \"h\"\n")
            .unwrap_err()
            .contains("absolute"));
        let e = parse(
            "name = \"b\"\ntransport = \"ssh\"\nwork_dir = \"/w\"\n[ssh]\nhost = \"h\"\nhost_key_checking = \"no\"\n",
        )
        .unwrap_err();
        assert!(e.contains("host_key_checking") || e.contains("unknown variant"), "{e}");
    }
}
