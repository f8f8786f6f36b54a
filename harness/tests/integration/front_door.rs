//! The front door: a phone or a board with no profile (`--device adb`, `adb:SERIAL`, `ssh:USER@HOST[:WORK_DIR]`) on
//! the lab's real adb server (with adbd-standin, a STAND-IN for adbd) and real sshd; and the README and every page of
//! `docs/` run as written.

use std::path::Path;
use std::process::Command;

use crate::common::docs::{pages, section_sh_commands, Scratch};
use crate::common::lab::{self, phone_up, SecondAdbServer, LAB, PHONE};
use crate::common::*;

/// `etbench` with an empty profiles directory: nothing configured, as on a newcomer's machine.
fn no_profiles(devices: &Path) -> Command {
    let mut cmd = etbench();
    cmd.env("ETBENCH_DEVICES_DIR", devices).env("ETBENCH_CACHE_DIR", lab::cache_dir());
    cmd
}

fn decoder_run(cmd: &mut Command, device: &str, out: &Path) -> std::process::Output {
    cmd.args(["run", "--device", device, "--model"])
        .arg(program("decoder-step-fp32"))
        .args(["--input", "ids:7", "--input", "zeros", "--iters", "2", "--warmup", "0", "--format", "none", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_phone_with_no_profile_runs_by_serial_and_adb_alone_finds_the_one_attached() {
    if !phone_up() {
        return;
    }
    let _load = load();
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();

    // The lab's adb server lists two ready devices: `--device adb` must name both, not pick one.
    let several = decoder_run(no_profiles(empty.path()).env("ANDROID_ADB_SERVER_PORT", "15037"), "adb", out.path());
    assert_eq!(several.status.code(), Some(2), "{}", stderr_of(&several));
    let err = stderr_of(&several);
    assert!(
        err.contains("adb:127.0.0.1:17101")
            && err.contains("adb:127.0.0.1:17104")
            && err.contains("--device adb:SERIAL"),
        "{err}"
    );

    // `etbench devices` shows the names to use.
    let listing = no_profiles(empty.path()).env("ANDROID_ADB_SERVER_PORT", "15037").arg("devices").output().unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    let row =
        text.lines().find(|l| l.trim_start().starts_with("adb:127.0.0.1:17104")).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("ready; no profile needed"), "{row}");
    assert!(text.lines().any(|l| l.contains("adb:127.0.0.1:17102") && l.contains("unauthorized")), "{text}");

    // By serial: the Android defaults (bundle, /data/local/tmp/etbench) and the phone's own facts.
    let ok = decoder_run(
        no_profiles(empty.path()).env("ANDROID_ADB_SERVER_PORT", "15037"),
        "adb:127.0.0.1:17104",
        out.path(),
    );
    assert!(ok.status.success(), "{}", stderr_of(&ok));
    let doc = read_doc(out.path());
    assert_eq!(doc.runs[0].device.name, "adb:127.0.0.1:17104");
    assert!(doc.runs[0].is_ok(), "{:?}", doc.runs[0].error);
    let probed = doc.runs[0].device.probed.as_ref().expect("probed facts");
    assert_eq!(probed.android_facts.as_ref().and_then(|a| a.model.as_deref()), Some("etbench lab phone (STAND-IN)"));

    // A second real adb server that sees only the phone: `--device adb` takes it.
    let server = SecondAdbServer::with_lab_phone();
    let one = tempfile::tempdir().unwrap();
    let alone = decoder_run(
        no_profiles(empty.path()).env("ANDROID_ADB_SERVER_PORT", server.port.to_string()),
        "adb",
        one.path(),
    );
    drop(server);
    assert!(alone.status.success(), "{}", stderr_of(&alone));
    assert_eq!(read_doc(one.path()).runs[0].device.name, "adb:127.0.0.1:17104");
}

#[test]
fn a_board_with_no_profile_runs_by_ssh_destination_with_its_target_from_uname() {
    if !lab::up() {
        return;
    }
    let _load = load();
    let empty = tempfile::tempdir().unwrap();
    // The user's ssh settings for the lab (identity, known hosts; host keys are still verified).
    let config = empty.path().join("ssh_config");
    std::fs::write(
        &config,
        format!("Host 198.18.0.*\n    IdentityFile {LAB}/id_ed25519\n    IdentitiesOnly yes\n    UserKnownHostsFile {LAB}/known_hosts\nHost 198.18.0.21\n    Port 2222\n"),
    )
    .unwrap();
    let work = format!("{LAB}/board1/work dir 'q' ;$(touch pwned)");
    let out = tempfile::tempdir().unwrap();
    let run = decoder_run(
        no_profiles(empty.path()).env("ETBENCH_SSH_CONFIG", &config),
        &format!("ssh:bench@198.18.0.11:{work}"),
        out.path(),
    );
    assert!(run.status.success(), "{}", stderr_of(&run));
    let doc = read_doc(out.path());
    assert_eq!(doc.runs[0].device.name, "ssh:bench@198.18.0.11");
    assert!(doc.runs[0].is_ok(), "{:?}", doc.runs[0].error);
    assert!(Path::new(&work).join("models").is_dir(), "the work dir is used as written");
    assert!(lab::find_named(Path::new(LAB), "pwned").is_empty(), "no shell injection through the work dir");

    // Without a work dir: ~/etbench on the board ($HOME of `bench` is the lab's home directory).
    let plain = tempfile::tempdir().unwrap();
    let run = decoder_run(
        no_profiles(empty.path()).env("ETBENCH_SSH_CONFIG", &config),
        "ssh:bench@198.18.0.12",
        plain.path(),
    );
    assert!(run.status.success(), "{}", stderr_of(&run));
    assert!(Path::new(LAB).join("home/etbench/models").is_dir());

    // Host keys are verified: an empty known_hosts refuses the board and says so.
    let strict = empty.path().join("strict_config");
    std::fs::write(
        &strict,
        format!("Host *\n    IdentityFile {LAB}/id_ed25519\n    UserKnownHostsFile {LAB}/known_hosts_empty\n"),
    )
    .unwrap();
    let refused = decoder_run(
        no_profiles(empty.path()).env("ETBENCH_SSH_CONFIG", &strict),
        "ssh:bench@198.18.0.11",
        plain.path(),
    );
    assert!(!refused.status.success());
    assert!(
        stderr_of(&refused).contains("ssh:bench@198.18.0.11")
            && stderr_of(&refused).to_lowercase().contains("host key"),
        "{}",
        stderr_of(&refused)
    );
}

#[test]
fn bad_shorthands_say_what_is_expected() {
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    for (device, says) in
        [("ssh:", "ssh:[USER@]HOST"), ("adb:", "needs a serial"), ("nosuch", "adb:SERIAL or ssh:[USER@]HOST")]
    {
        let run = decoder_run(&mut no_profiles(empty.path()), device, out.path());
        assert_eq!(run.status.code(), Some(2), "{device}: {}", stderr_of(&run));
        assert!(stderr_of(&run).contains(says), "{device}: {}", stderr_of(&run));
    }
}

#[test]
fn the_readme_fits_on_a_few_screens_and_maps_every_page_of_the_guide() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(readme.lines().count() <= 300, "README.md has {} lines", readme.lines().count());
    let docs = pages();
    assert!(docs.len() >= 5, "{docs:?}");
    for page in &docs {
        let link = format!("({})", page.display());
        assert!(readme.contains(&link), "README.md does not link {}", page.display());
    }
    // Every relative link of every page points at a file that exists.
    for page in docs.iter().map(|p| p.as_path()).chain([Path::new("README.md")]) {
        let text = std::fs::read_to_string(repo().join(page)).unwrap();
        for target in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            let file = target.split('#').next().unwrap();
            if file.is_empty() || file.contains("://") {
                continue;
            }
            let base = repo().join(page).parent().unwrap().join(file);
            assert!(base.exists(), "{}: link to {target} leads nowhere", page.display());
        }
    }
}

/// A reader's scratch directory on the lab: no profiles, `--device adb` sees only the lab phone (through its own adb
/// server), and `raspberrypi.local` is lab-board1 through an ssh config (user, key, known hosts: host keys verified).
pub fn lab_reader() -> (Scratch, SecondAdbServer) {
    let server = SecondAdbServer::with_lab_phone();
    let scratch = Scratch::new();
    let config = scratch.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host raspberrypi.local\n    HostName 198.18.0.11\n    User bench\n    IdentityFile {LAB}/id_ed25519\n    IdentitiesOnly yes\n    UserKnownHostsFile {LAB}/known_hosts\n"
        ),
    )
    .unwrap();
    let empty = scratch.path().join("no-profiles");
    std::fs::create_dir_all(&empty).unwrap();
    let scratch = scratch
        .env("ANDROID_ADB_SERVER_PORT", server.port.to_string())
        .env("ETBENCH_SSH_CONFIG", config.to_string_lossy())
        .env("ETBENCH_DEVICES_DIR", empty.to_string_lossy())
        .env("ETBENCH_CACHE_DIR", lab::cache_dir().to_string_lossy());
    (scratch, server)
}

#[test]
fn the_readme_phone_and_board_run_as_written() {
    if !phone_up() {
        return;
    }
    let _load = load();
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let (reader, _server) = lab_reader();
    let commands = section_sh_commands("README.md", "A phone or a board, no profile needed");
    assert_eq!(commands.len(), 4, "{commands:?}");
    for command in &commands {
        let out = reader.sh(command);
        assert!(out.status.success(), "{command}: {}", stderr_of(&out));
    }
    let phone = etbench::results::Document::read(&reader.path().join("runs/phone/results.json")).unwrap();
    assert_eq!(phone.runs[0].device.name, "adb:127.0.0.1:17104");
    let board = etbench::results::Document::read(&reader.path().join("runs/board/results.json")).unwrap();
    assert_eq!(board.runs[0].device.name, "ssh:raspberrypi.local");
    assert!(phone.runs[0].is_ok() && board.runs[0].is_ok());
    let card = std::fs::read_to_string(reader.path().join("runs/card/report.md")).unwrap();
    assert!(card.contains("adb:127.0.0.1:17104") && card.contains("ssh:raspberrypi.local"), "{card}");
}
