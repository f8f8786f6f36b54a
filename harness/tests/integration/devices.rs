//! End-to-end on the device lab (scripts/lab/start.sh): the real `etbench` CLI over real ssh to boards in network
//! namespaces, over the real adb client/server to adbd-standin (a STAND-IN for adbd), and to an aarch64 board
//! running the cross-built runner under qemu-user; plus every transport fault.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::lab::*;
use crate::common::*;
use etbench::results::{OutputVerdict, RunStatus};

const FAULTS: &str = "devices/lab-faults";

fn error_of(dir: &Path) -> String {
    let doc = read_doc(dir);
    assert!(!doc.runs.is_empty(), "a failed device still leaves error rows");
    doc.runs
        .iter()
        .map(|r| r.error.as_ref().map(|e| e.message.clone()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fault: exit 1, an error row naming the device, the message containing each of `needles`.
fn assert_fault(device: &str, needles: &[&str]) -> String {
    let model = fixture("int8");
    let (out, dir) = run_on(FAULTS, &[device], &[&model], &[]);
    assert_eq!(out.status.code(), Some(1), "{device}: {}", stderr_of(&out));
    let message = error_of(dir.path());
    assert!(message.contains(&format!("device {device}")), "{device}: {message}");
    for n in needles {
        assert!(message.contains(n), "{device}: expected {n:?} in {message}");
    }
    message
}

#[test]
fn ssh_boards_and_adb_phone_run_concurrently_then_repush_nothing() {
    let _load = load();
    if !up() {
        return;
    }
    let (fp32, int8) = (fixture("xnnpack-fp32"), fixture("int8"));
    let devices = ["lab-board1", "lab-board2", "lab-adb1"];
    let (out, dir) = run_on("devices", &devices, &[&fp32, &int8], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs.len(), 6);
    for run in &doc.runs {
        assert_eq!(run.status, RunStatus::Ok, "{}: {:?}", run.id, run.error);
        assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest, "{}", run.id);
        assert!(run.device.probed.is_some(), "{}: probed info recorded", run.id);
    }
    for d in devices {
        assert!(doc.runs.iter().any(|r| r.device.name == d), "{d} in the merged results");
        assert!(dir.path().join(d).join("results.json").is_file(), "per-device results for {d}");
    }
    // Profile defaults: board2 pins to CPU 0 with one thread; the stand-in's getprop is probed.
    let b2 = doc.runs.iter().find(|r| r.device.name == "lab-board2").unwrap();
    let mask = b2.params.spec.cpu_affinity.as_ref().map(|m| m.to_string());
    assert_eq!((b2.params.spec.threads, mask.as_deref()), (Some(1), Some("0x1")));
    let adb = doc.runs.iter().find(|r| r.device.name == "lab-adb1").unwrap();
    assert_eq!(adb.device.transport, "adb");
    assert_eq!(adb.device.probed.as_ref().unwrap().android["ro.product.model"], "adbd-STANDIN");

    // Unchanged files are not pushed again.
    let started = Instant::now();
    let (out, _dir) = run_on("devices", &devices, &[&fp32], &[]);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains(": pushed "), "a re-run pushed something:\n{err}");
    assert_eq!(err.matches("already on the device (unchanged)").count(), 3, "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn aarch64_board_runs_the_cross_built_runner_on_a_real_model() {
    let _load = load();
    if !arm1_up() {
        return;
    }
    let model = fixture("xnnpack-fp32");
    let (out, dir) = run_on("devices", &["lab-arm1"], &[&model], &["--iters", "1"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let run = &read_doc(dir.path()).runs[0];
    assert_eq!(run.runner.as_ref().unwrap().target_triple, "aarch64-unknown-linux-gnu");
    assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest);
}

#[test]
fn unreachable_host_auth_refused_and_unknown_host_key_say_how_to_fix() {
    let _load = load();
    if !up() {
        return;
    }
    assert_fault("lab-unreachable", &["198.18.0.99", "unreachable"]);
    assert_fault("lab-badauth", &["login refused", "identity"]);
    assert_fault("lab-unknownkey", &["host key", "known_hosts", "accept-new"]);
    // accept-new trusts a new board on first use (the lab starts with an empty known_hosts for it).
    let (out, _dir) = run_on(FAULTS, &["lab-acceptnew"], &[&fixture("int8")], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(std::fs::read_to_string(format!("{LAB}/known_hosts_acceptnew")).unwrap().contains("ssh-ed25519"));
}

#[test]
fn adb_unauthorized_and_offline_devices_say_how_to_fix() {
    let _load = load();
    if !up() {
        return;
    }
    assert_fault("lab-adb-unauth", &["127.0.0.1:17102", "unauthorized", "Allow USB debugging"]);
    assert_fault("lab-adb-offline", &["127.0.0.1:17103", "offline", "adb connect"]);
}

#[test]
fn full_device_disk_is_refused_before_sending_and_leaves_no_partial_file() {
    let _load = load();
    if !up() {
        return;
    }
    assert_fault("lab-tiny", &["not enough space", "etbench-runner", "work_dir"]);
    let left: Vec<PathBuf> = find_named(Path::new(&format!("{LAB}/tiny")), "etbench-runner");
    assert!(left.is_empty(), "{left:?}");
    let parts =
        std::process::Command::new("find").arg(format!("{LAB}/tiny")).args(["-name", "*.part"]).output().unwrap();
    assert!(parts.stdout.is_empty(), "{}", String::from_utf8_lossy(&parts.stdout));
}

#[test]
fn nasty_model_path_and_work_dir_are_taken_literally() {
    let _load = load();
    if !up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("-m we'ird \"q\" ;$(touch pwned);`touch pwned2`.pte");
    std::fs::copy(fixture("int8"), &model).unwrap();
    let (out, dir) = run_on(FAULTS, &["lab-nasty"], &[&model], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // (No manifest.json beside the copy, so the output is checked for finiteness only.)
    assert_eq!(read_doc(dir.path()).runs[0].output_verdict, OutputVerdict::Finite);
    for name in ["pwned", "pwned2"] {
        for root in [format!("{LAB}/home"), format!("{LAB}/board1"), tmp.path().display().to_string()] {
            assert!(find_named(Path::new(&root), name).is_empty(), "shell injection: {name} created under {root}");
        }
    }
    let work = Path::new("/tmp/etbench-lab/board1/-we ird 'q\" ;$(touch pwned);`touch pwned2`/-x");
    assert!(work.join("bin/etbench-runner").is_file(), "work dir used literally");
    assert_eq!(find_named(work, model.file_name().unwrap().to_str().unwrap()).len(), 1);
}

#[test]
fn missing_or_wrong_architecture_runner_names_the_triple() {
    let _load = load();
    if !up() {
        return;
    }
    assert_fault("lab-missingrunner", &["/nonexistent/etbench-runner", "build-runner.sh"]);
    if !aarch64_runner() {
        return;
    }
    assert_fault("lab-wrongarch", &["aarch64-unknown-linux-gnu", "does not start", "x86_64"]);
}

/// The ssh transfer's own process among etbench's children (found by parent pid, then ended by its id).
fn transfer_pid(etbench: u32) -> Option<i32> {
    let children = std::fs::read_to_string(format!("/proc/{etbench}/task/{etbench}/children")).ok()?;
    let tasks = std::fs::read_dir(format!("/proc/{etbench}/task")).ok()?;
    let mut pids: Vec<String> = children.split_whitespace().map(str::to_owned).collect();
    for t in tasks.flatten() {
        if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
            pids.extend(c.split_whitespace().map(str::to_owned));
        }
    }
    pids.into_iter().find_map(|pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline).contains(".part").then(|| pid.parse().ok()).flatten()
    })
}

/// A 256 MiB file of bytes unique to this call (so no manifest entry of an earlier run matches): (path, bytes,
/// sha256). Not a real model: a run of it fails after the push, which is all the push tests need.
fn big_file(dir: &Path) -> (PathBuf, Vec<u8>, String) {
    let big = dir.join("big.pte");
    let mut data = vec![0u8; 256 << 20];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    data[..16].copy_from_slice(&stamp.to_le_bytes());
    std::fs::write(&big, &data).unwrap();
    let sha = etbench::device::push::sha256_file(&big).unwrap();
    (big, data, sha)
}

/// SIGTERM while a multi-MB push is in flight stops the push itself (not after it), over ssh and over adb: exit 130,
/// an interrupted row that says so, no file under its final name, and `--resume` picks the push up again.
#[test]
fn sigterm_during_a_push_stops_the_transfer_and_resume_pushes_again() {
    let _load = load();
    if !up() || !phone_up() {
        return;
    }
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (big, data, sha) = big_file(tmp.path());
    let on_board = PathBuf::from(format!("{LAB}/board2/work/models/{}", &sha[..16]));
    let on_phone = phone_data(&format!("/data/local/tmp/etbench/models/{}", &sha[..16]));
    for (device, remote_dir) in [("lab-board2", &on_board), ("lab-phone", &on_phone)] {
        let part = remote_dir.join(format!("big.pte.{}.part", &sha[..16]));
        let out_dir = tmp.path().join(device);
        let mut cmd = etbench_lab("devices");
        cmd.args(["run", "--device", device, "--iters", "1", "--format", "none", "--out"]).arg(&out_dir);
        let mut child = cmd.arg("--model").arg(&big).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        wait_until(Duration::from_secs(120), || std::fs::metadata(&part).is_ok_and(|m| m.len() > 16 << 20));
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(130), "{device}: {err}");
        assert!(!remote_dir.join("big.pte").exists(), "{device}: the push went on to the end:\n{err}");
        let doc = read_doc(&out_dir);
        let row = &doc.runs[0];
        assert!(row.is_interrupted(), "{device}: {:?}", row.error);
        assert!(
            row.error.as_ref().unwrap().message.contains("push of") && err.contains("etbench run --resume"),
            "{device}: {err}"
        );
        if device == "lab-board2" {
            let partial = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            assert!(
                partial > 0 && partial < data.len() as u64,
                "{device}: the part ({partial} bytes) is kept for resuming"
            );
        }
        let out = etbench_lab("devices").args(["run", "--resume"]).arg(&out_dir).output().unwrap();
        let err = stderr_of(&out);
        assert!(remote_dir.join("big.pte").exists(), "{device}: --resume pushed it: {err}");
        assert_eq!(etbench::device::push::sha256_file(&remote_dir.join("big.pte")).unwrap(), sha, "{device}");
        if device == "lab-board2" {
            assert!(err.contains("resumed at"), "{device}: {err}");
        }
        let _ = std::fs::remove_dir_all(remote_dir);
    }
}

/// Two runner builds on a board: each is installed once under `WORK_DIR/runners/<its sha256 prefix>/`, the
/// session alternates fresh processes of each (paired processes), and a second session pushes neither again.
/// Two copies of the runner, one with a trailing byte, stand for two ExecuTorch builds.
#[test]
fn a_board_runs_each_models_own_runner_as_paired_processes() {
    let _load = load();
    if !up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut runners = Vec::new();
    for (i, dir) in ["et one", "et two"].into_iter().enumerate() {
        std::fs::create_dir(tmp.path().join(dir)).unwrap();
        let path = tmp.path().join(dir).join("etbench-runner");
        let mut bytes = std::fs::read(runner()).unwrap();
        // Bytes after the last section change the file's hash, not the program (unique per test run).
        bytes.extend(format!("{i}{:?}", Instant::now()).as_bytes());
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        runners.push(path);
    }
    let model = fixture("xnnpack-fp32");
    let mut extra = vec!["--paired", "processes", "--iters", "3", "--until-ci", "1000"];
    for r in &runners {
        extra.extend(["--runner", r.to_str().unwrap()]);
    }
    let (out, dir) = run_on("devices", &["lab-board1"], &[&model, &model], &extra);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("gemma3n-tiny-xnnpack-fp32.pte @et one ⇄ ") && err.contains(".pte @et two"), "{err}");
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs.len(), 12, "6 pairs of two processes: {err}");
    for run in &doc.runs {
        let position = run.pairing.as_ref().unwrap().position as usize;
        assert_eq!(run.params.runner.as_deref(), runners[position].to_str(), "each row records its own runner");
        assert!(run.is_ok(), "{:?}", run.error);
    }
    let homes: Vec<PathBuf> = runners
        .iter()
        .map(|r| {
            PathBuf::from(format!(
                "{LAB}/board1/work/runners/{}/bin/etbench-runner",
                &etbench::device::push::sha256_file(r).unwrap()[..16]
            ))
        })
        .collect();
    for (home, runner) in homes.iter().zip(&runners) {
        assert_eq!(
            std::fs::read(home).unwrap(),
            std::fs::read(runner).unwrap(),
            "{} is installed as is",
            runner.display()
        );
    }
    assert_eq!(doc.paired[0].design.label(), "paired processes");
    // One .pte under two runners is two variants: never pooled into one row.
    let groups = etbench::export::metric::groups([&doc]);
    assert_eq!(groups.len(), 2, "{:?}", groups.iter().map(|g| &g.key).collect::<Vec<_>>());

    let (out, _dir) = run_on("devices", &["lab-board1"], &[&model, &model], &extra);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("etbench-runner ("), "no runner is pushed again:\n{err}");
    for home in &homes {
        let _ = std::fs::remove_dir_all(home.parent().unwrap().parent().unwrap());
    }

    // An explicit --runner is the one a remote device runs, whatever its target: built for another, it is an error
    // row naming both and how to build the right one.
    let runner_arg = runner();
    let (out, dir) = run_on("devices", &["lab-arm1"], &[&model], &["--runner", runner_arg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let message = error_of(dir.path());
    assert!(
        message.contains("is built for x86_64, but device lab-arm1's target is aarch64-unknown-linux-gnu"),
        "{message}"
    );
    assert!(message.contains("scripts/build-runner.sh --target aarch64-unknown-linux-gnu"), "{message}");
}

#[test]
fn push_killed_mid_transfer_resumes_and_never_passes_a_partial_file() {
    let _load = load();
    if !up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (big, data, sha) = big_file(tmp.path());
    let remote_dir = PathBuf::from(format!("{LAB}/board2/work/models/{}", &sha[..16]));
    let _ = std::fs::remove_dir_all(&remote_dir);
    let part = remote_dir.join(format!("big.pte.{}.part", &sha[..16]));

    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = etbench_lab("devices");
    cmd.args(["run", "--device", "lab-board2", "--iters", "1", "--format", "none", "--out"]).arg(out_dir.path());
    let mut child = cmd.arg("--model").arg(&big).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    while Instant::now() < deadline && !killed {
        let size = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if size > 16 << 20 {
            if let Some(pid) = transfer_pid(child.id()) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(killed, "never caught the transfer in flight:\n{err}");
    assert_eq!(status.code(), Some(1), "{err}");
    let partial = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert!(partial < data.len() as u64, "the part is partial");
    assert!(!remote_dir.join("big.pte").exists(), "a partial file never takes the final name");
    let manifest = std::fs::read_to_string(format!("{LAB}/board2/work/.etbench-manifest.jsonl")).unwrap_or_default();
    assert!(!manifest.contains(&sha), "no manifest entry for an unfinished push");

    let (out, _dir) = run_on("devices", &["lab-board2"], &[&big], &["--iters", "1"]);
    let err = stderr_of(&out);
    assert!(err.contains("resumed at"), "{err}");
    assert_eq!(etbench::device::push::sha256_file(&remote_dir.join("big.pte")).unwrap(), sha);
    assert!(!part.exists());
    let _ = std::fs::remove_dir_all(&remote_dir);
}

#[test]
fn second_etbench_on_a_busy_device_waits_for_the_lock() {
    let _load = load();
    if !up() {
        return;
    }
    let model = fixture("int8");
    let first_out = tempfile::tempdir().unwrap();
    let mut first = etbench_lab("devices");
    // Long enough (≈ 100 × 40 ms) that the second run starts while it holds the device.
    first.args(["run", "--device", "lab-board1", "--iters", "100", "--format", "none", "--out"]).arg(first_out.path());
    let first = first.arg("--model").arg(&model).stderr(Stdio::null()).spawn().unwrap();
    let lock = cache_dir().join("locks/lab-board1.lock");
    std::thread::sleep(Duration::from_millis(1500));
    let (out, _dir) = run_on("devices", &["lab-board1"], &[&model], &[]);
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success());
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("is busy"), "the second run waited: {}", stderr_of(&out));
    assert!(lock.is_file());
}

#[test]
fn devices_lists_profiles_with_reachability_and_probes_info() {
    let _load = load();
    if !up() {
        return;
    }
    // The default adb server (what `adb devices` asks, and a profile without a server such as example-pixel) is
    // one of this test's own with no device, so the lab's server is "another adb server" here, and nothing asks 5037.
    let default = SecondAdbServer::start();
    let listing = |dir: &str| {
        let mut cmd = etbench_lab(dir);
        cmd.env("ANDROID_ADB_SERVER_PORT", default.port.to_string());
        cmd
    };
    let out = listing("devices").arg("devices").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr_of(&out));
    for line in ["lab-board1", "lab-board2", "lab-adb1"] {
        let row = text.lines().find(|l| l.contains(line)).unwrap_or_else(|| panic!("{line} missing:\n{text}"));
        assert!(row.contains("reachable"), "{row}");
    }
    let out = listing("devices").args(["devices", "--devices-dir"]).arg(repo().join(FAULTS)).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.contains("lab-unreachable") && l.contains("NOT USABLE")), "{text}");
    assert!(text.contains("(127.0.0.1:17101)"), "unconfigured adb devices are listed:\n{text}");

    let out = etbench_lab("devices").args(["devices", "info", "lab-adb1"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["probed"]["android"]["ro.product.model"], "adbd-STANDIN");
    assert!(info["info"]["memory_total_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn profile_with_an_unknown_key_is_refused_by_name() {
    let _load = load();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.toml"),
        "name = \"x\"\ntransport = \"ssh\"\nwork_dir = \"/w\"\nthreads_ = 2\n[ssh]\nhost = \"h\"\n",
    )
    .unwrap();
    let out = etbench()
        .env("ETBENCH_DEVICES_DIR", dir.path())
        .args(["run", "--device", "x", "--model"])
        .arg(fixture("int8"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("threads_") && stderr_of(&out).contains("x.toml"), "{}", stderr_of(&out));
    let empty = tempfile::tempdir().unwrap();
    let out = etbench()
        .env("ETBENCH_DEVICES_DIR", empty.path())
        .args(["run", "--device", "nope", "--model"])
        .arg(fixture("int8"))
        .output()
        .unwrap();
    assert!(stderr_of(&out).contains("no such device"), "{}", stderr_of(&out));
}

// --- the lab phone: adbd-standin --chroot, a STAND-IN for an Android phone (real adb client and server, aarch64
// code through qemu-user, Android's file layout, no /lib or /usr), running the runner bundle ---------------------

const PHONE_WORK: &str = "/data/local/tmp/etbench";

/// The one phone run of a test: `run_on("devices", ["lab-phone"], …)` under the phone lock's caller.
fn phone_run(models: &[&Path], extra: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    run_on("devices", &["lab-phone"], models, extra)
}

#[test]
fn phone_runs_fixtures_through_the_bundle_with_android_facts_and_repushes_only_what_changed() {
    let _load = load();
    if !phone_up() {
        return;
    }
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let (bf16, int8, xnn) = (fixture("bf16"), fixture("int8"), fixture("xnnpack-8da4w"));
    let (out, dir) = phone_run(&[&xnn, &int8, &bf16], &[]);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs.len(), 3);
    for run in &doc.runs {
        assert_eq!(run.status, RunStatus::Ok, "{}: {:?}", run.id, run.error);
        assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest, "{}", run.id);
        // The bundle's runner is the aarch64 glibc build, started by its own loader.
        assert_eq!(run.runner.as_ref().unwrap().target_triple, "aarch64-unknown-linux-gnu");
    }
    let probed = doc.runs[0].device.probed.as_ref().expect("probed facts recorded");
    let android = probed.android_facts.as_ref().expect("getprop facts");
    assert!(android.model.as_deref().unwrap().contains("STAND-IN"), "{android:?}");
    assert_eq!(
        (android.android_version.as_deref(), android.sdk, android.abi.as_deref()),
        (Some("15"), Some(35), Some("arm64-v8a"))
    );
    assert!(android.soc.as_deref().unwrap().contains("qemu-aarch64"), "{android:?}");
    let clusters: Vec<(&str, Vec<u32>, Option<u32>)> =
        probed.clusters.iter().map(|c| (c.name.as_str(), c.cpus.clone(), c.capacity)).collect();
    assert_eq!(clusters, [("little", vec![0], Some(512)), ("big", vec![1], Some(1024))]);
    let power = probed.power.as_ref().expect("dumpsys battery");
    assert_eq!((power.source.as_str(), power.level_pct, power.charging), ("dumpsys battery", Some(80), Some(false)));
    assert_eq!(probed.thermal_status.as_ref().and_then(|t| t.status), Some(0));
    let libc = probed.runner_libc.as_ref().expect("the runner's libc");
    assert_eq!((libc.provided_by.as_str(), libc.libc.as_str()), ("bundled", "glibc"));
    assert!(libc.version.as_deref().is_some_and(|v| v.starts_with("2.")), "{libc:?}");
    // What results.json holds, by name (the schema other tools read).
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(json["runs"][0]["device"]["probed"]["android"]["ro.product.model"], "etbench lab phone (STAND-IN)");
    assert_eq!(json["runs"][0]["device"]["probed"]["runner_libc"]["provided_by"], "bundled");

    // Unchanged: one check, nothing sent. --cores big pins to the big cluster with one thread per core.
    let (out, dir) = phone_run(&[&int8], &["--cores", "big"]);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("runner bundle unchanged on the device"), "{err}");
    assert!(
        !err.contains(": pushed ") && !err.contains("runner bundle /"),
        "an unchanged bundle or model was pushed again:\n{err}"
    );
    let run = &read_doc(dir.path()).runs[0];
    let mask = run.params.spec.cpu_affinity.as_ref().map(|m| m.to_string());
    assert_eq!((mask.as_deref(), run.params.spec.threads), (Some("0x2"), Some(1)));
    assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest);

    // A bundle file changed on the device is pushed again before anything runs (never run stale).
    let on_device = phone_data(&format!("{PHONE_WORK}/bundle/etbench-runner"));
    let size = std::fs::metadata(&on_device).unwrap().len();
    std::fs::write(&on_device, vec![0u8; size as usize]).unwrap();
    let (out, dir) = phone_run(&[&int8], &[]);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("pushed 1 of ") && err.contains(": etbench-runner"), "{err}");
    assert_eq!(read_doc(dir.path()).runs[0].output_verdict, OutputVerdict::MatchesManifest);
}

#[test]
fn phone_bundle_runs_in_an_empty_root() {
    let _load = load();
    if !phone_up() {
        return;
    }
    let bundle = android_bundle();
    if !bundle.join("MANIFEST").is_file() {
        // etbench builds the bundle for lab-phone when it is missing.
        let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
        let (out, _dir) = phone_run(&[&fixture("int8")], &["--iters", "1"]);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    let out = std::process::Command::new("bash")
        .arg(repo().join("scripts/lab/check-bundle.sh"))
        .arg(&bundle)
        .arg(fixture("int8"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr_of(&out));
    // Exit 77: this machine cannot run the check (no qemu-user-static, no user namespaces).
    let runnable = match out.status.code() {
        Some(77) => Err(format!("scripts/lab/check-bundle.sh cannot run here: {}", text.trim())),
        _ => Ok(()),
    };
    if !require("qemu-user-static and user namespaces (scripts/lab/check-bundle.sh)", runnable) {
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("plain form fails without a loader"), "{text}");
}

#[test]
fn phone_work_dir_on_noexec_sdcard_is_refused_naming_the_mount() {
    let _load = load();
    if !phone_up() {
        return;
    }
    phone_sdcard();
    let (out, dir) = run_on(FAULTS, &["lab-phone-sdcard"], &[&fixture("int8")], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let message = error_of(dir.path());
    for needle in ["device lab-phone-sdcard", "/sdcard/etbench", "/storage/emulated", "noexec", "/data/local/tmp"] {
        assert!(message.contains(needle), "expected {needle:?} in {message}");
    }
    let err = stderr_of(&out);
    assert!(
        !err.contains(": pushed ") && !err.contains("runner bundle /"),
        "nothing is sent to a noexec work dir:\n{err}"
    );
}

#[test]
fn phone_disconnecting_mid_run_is_an_error_row_with_a_reconnect_hint_and_the_sweep_goes_on() {
    let _load = load();
    if !phone_up() {
        return;
    }
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = etbench_lab("devices");
    cmd.args([
        "run",
        "--device",
        "lab-phone",
        "--repeat",
        "2",
        "--warmup",
        "0",
        "--iters",
        "8",
        "--format",
        "none",
        "--out",
    ])
    .arg(out_dir.path())
    .arg("--model")
    .arg(fixture("int8"));
    let child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    wait_until(Duration::from_secs(120), phone_runner_running);
    assert!(phone_runner_running(), "the first run never started");
    std::thread::sleep(Duration::from_millis(1500));
    let adb =
        std::process::Command::new("adb").args(["-P", "15037", "disconnect", "127.0.0.1:17104"]).output().unwrap();
    assert!(adb.status.success(), "{}", stderr_of(&adb));
    let out = child.wait_with_output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let doc = read_doc(out_dir.path());
    assert_eq!(doc.runs.len(), 2, "the sweep went on:\n{err}");
    let message = doc.runs[0].error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    for needle in ["127.0.0.1:17104 disconnected during the run", "adb connect 127.0.0.1:17104", "USB"] {
        assert!(message.contains(needle), "expected {needle:?} in {message}");
    }
    // A network device is reconnected before the next run.
    assert_eq!(doc.runs[1].status, RunStatus::Ok, "{:?}\n{err}", doc.runs[1].error);
}

#[test]
fn phone_cluster_slowing_down_during_a_run_is_a_warning() {
    let _load = load();
    if !phone_up() {
        return;
    }
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    // The lab phone's stand-in cpufreq for its big core, bound into the phone's /sys from the lab directory.
    let node = PathBuf::from(format!("{LAB}/phone/sysfs/tree/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq"));
    let original = std::fs::read_to_string(&node).unwrap();
    struct Restore(PathBuf, String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, &self.1);
        }
    }
    let _restore = Restore(node.clone(), original.clone());
    // The runner reads the "before" conditions, then waits at the thermal gate (the stand-in is above 20 °C) for
    // 10 s: the frequency drops during that wait.
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = etbench_lab("devices");
    cmd.args([
        "run",
        "--device",
        "lab-phone",
        "--warmup",
        "0",
        "--iters",
        "1",
        "--thermal-gate",
        "20",
        "--gate-timeout",
        "10",
    ])
    .args(["--format", "none", "--out"])
    .arg(out_dir.path())
    .arg("--model")
    .arg(fixture("int8"));
    let child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    wait_until(Duration::from_secs(120), phone_runner_running);
    std::thread::sleep(Duration::from_secs(5));
    let before_khz: u64 = original.trim().parse().unwrap();
    std::fs::write(&node, format!("{}\n", before_khz / 2)).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let run = &read_doc(out_dir.path()).runs[0];
    let warnings: Vec<String> = run.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.contains("the big cluster (cpu1) fell from") && w.contains("MHz during the run")),
        "{warnings:?}"
    );
    assert!(!warnings.iter().any(|w| w.contains("little cluster")), "{warnings:?}");
}

#[test]
fn cores_big_on_a_one_cluster_device_warns_and_uses_all() {
    let _load = load();
    let out_dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args([
            "run", "--device", "local", "--cores", "big", "--warmup", "0", "--iters", "2", "--format", "none", "--out",
        ])
        .arg(out_dir.path())
        .arg("--model")
        .arg(fixture("int8"))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    let alike = if err.contains("--cores big: cpu") && !err.contains("one kind of core") {
        Err("this host has big and little cores; the one-cluster case needs one whose CPUs are alike (the lab \
             machine's are)"
            .to_owned())
    } else {
        Ok(())
    };
    if !require("a host whose CPUs are all of one kind", alike) {
        return;
    }
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: --cores big") && err.contains("one kind of core"), "{err}");
    let run = &read_doc(out_dir.path()).runs[0];
    let n = std::thread::available_parallelism().unwrap().get() as u32;
    let all = etbench_protocol::CpuMask::from_cpus(0..n);
    assert_eq!((run.params.spec.cpu_affinity.clone(), run.params.spec.threads), (all, Some(n)));
    assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest);
}

/// Whether a runner is running on lab-board1 (its processes are this host's, in a network namespace).
fn board1_runner_running() -> bool {
    command_lines()
        .iter()
        .any(|text| text.contains("etbench-runner") && text.contains("--spec") && text.contains("board1/work/models/"))
}

#[test]
fn ctrl_c_during_a_two_device_sweep_stops_the_runners_on_the_ssh_board_and_the_phone() {
    let _load = load();
    if !phone_up() {
        return;
    }
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = etbench_lab("devices");
    // 2000 int8 forwards take many minutes on either device: only the interrupt ends these runs.
    cmd.args([
        "run",
        "--device",
        "lab-board1",
        "--device",
        "lab-phone",
        "--warmup",
        "0",
        "--iters",
        "2000",
        "--format",
        "none",
        "--out",
    ])
    .arg(out_dir.path())
    .arg("--model")
    .arg(fixture("int8"));
    let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    wait_until(Duration::from_secs(180), || phone_runner_running() && board1_runner_running());
    assert!(phone_runner_running() && board1_runner_running(), "the runners never started on both devices");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let stderr = child.stderr.take().map(|mut s| {
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    });
    let code = child.wait().unwrap().code();
    let stderr = stderr.unwrap_or_default();
    assert_eq!(code, Some(130), "{stderr}");
    // The remote runners notice that nobody reads them any more at their next heartbeat (10 s by default).
    wait_until(Duration::from_secs(30), || !phone_runner_running() && !board1_runner_running());
    assert!(!phone_runner_running(), "the phone's runner outlived the interrupt");
    assert!(!board1_runner_running(), "the board's runner outlived the interrupt");
    let doc = read_doc(out_dir.path());
    assert_eq!(doc.runs.len(), 2, "{stderr}");
    assert!(doc.runs.iter().all(|r| r.is_interrupted()), "{:?}", doc.runs.iter().map(|r| &r.error).collect::<Vec<_>>());
    assert!(stderr.contains("etbench run --resume"), "{stderr}");
}

#[test]
fn llm_generation_runs_on_an_ssh_board_and_the_phone_and_matches_the_export() {
    let _load = load();
    if !phone_up() {
        return;
    }
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let llama = models_dir().join("llama-tiny-kv-xnnpack.pte");
    // Short under emulation: the phone's aarch64 runner runs through qemu-user (correctness, not speed).
    let (out, dir) = run_on("devices", &["lab-board1", "lab-phone"], &[&llama], &["--prefill", "8", "--decode", "8"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let mut devices: Vec<&str> = doc.runs.iter().map(|r| r.device.name.as_str()).collect();
    devices.sort();
    assert_eq!(devices, ["lab-board1", "lab-phone"]);
    for run in &doc.runs {
        assert_eq!(run.status, RunStatus::Ok, "{}: {:?}", run.device.name, run.error);
        assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest, "{}", run.device.name);
        let l = run.llm.as_ref().expect("a generation run");
        assert_eq!((l.timed().count(), l.generated().len()), (2, 9), "{}", run.device.name);
    }
    let phone = doc.runs.iter().find(|r| r.device.name == "lab-phone").unwrap();
    assert_eq!(phone.runner.as_ref().unwrap().target_triple, "aarch64-unknown-linux-gnu");
}

#[test]
fn a_phone_on_another_adb_server_is_reached_through_its_server_socket() {
    let _load = load();
    if !phone_up() {
        return;
    }
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let mut server = SecondAdbServer::with_lab_phone();
    let profiles = tempfile::tempdir().unwrap();
    let profile = std::fs::read_to_string(repo().join("devices/lab-phone.toml"))
        .unwrap()
        .replace("name = \"lab-phone\"", "name = \"far-phone\"")
        .replace("server_port = 15037", &format!("server = \"tcp:127.0.0.1:{}\"", server.port));
    assert!(profile.contains("server = \"tcp:127.0.0.1:"), "{profile}");
    std::fs::write(profiles.path().join("far-phone.toml"), &profile).unwrap();
    let dir = profiles.path().to_str().unwrap();

    let out = etbench_lab(dir).args(["devices"]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(&format!("adb 127.0.0.1:17104 (server tcp:127.0.0.1:{})", server.port)), "{listing}");

    let int8 = fixture("int8");
    let (out, results) = run_on(dir, &["far-phone"], &[&int8], &["--iters", "1"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(results.path());
    assert_eq!(doc.runs[0].device.name, "far-phone");
    assert_eq!(doc.runs[0].status, RunStatus::Ok, "{:?}", doc.runs[0].error);
    let probed = doc.runs[0].device.probed.as_ref().unwrap();
    assert!(probed.android_facts.as_ref().unwrap().model.as_deref().unwrap().contains("STAND-IN"));

    // With that server gone, the phone is unreachable through it (adb starts no server for a socket it was given),
    // and the error says which server and how to reach it.
    server.stop();
    let (out, results) = run_on(dir, &["far-phone"], &[&int8], &["--iters", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let message = error_of(results.path());
    assert!(
        message.contains(&format!(
            "the adb server tcp:127.0.0.1:{} (profile key [adb] server) does not answer",
            server.port
        )) && message.contains("ssh -N -L"),
        "{message}"
    );

    // A malformed server is refused when the profile is read, naming the key and the form.
    std::fs::write(
        profiles.path().join("far-phone.toml"),
        profile.replace(&format!("tcp:127.0.0.1:{}", server.port), "lab2:5037"),
    )
    .unwrap();
    let (out, _results) = run_on(dir, &["far-phone"], &[&int8], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("far-phone.toml") && stderr_of(&out).contains("is not \"tcp:HOST:PORT\""),
        "{}",
        stderr_of(&out)
    );
}
