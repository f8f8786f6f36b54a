//! Ctrl-C and SIGTERM on a real sweep: the runner is stopped, completed runs are kept, the interrupted one is
//! marked, etbench exits 130, and `run --resume DIR` finishes the sweep without redoing what was done.

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::time::Duration;

use etbench_protocol::ErrorKind;

use crate::common::{command_lines, etbench, fixture, read_doc, timing, wait_until};

/// Starts `etbench run` with stderr piped; sends `signal` once `after` seconds have passed since a stderr line
/// starting with `marker`, and returns the exit code and all of stderr.
fn interrupt_when(mut child: Child, marker: &str, after: Duration, signal: i32) -> (Option<i32>, String) {
    let stderr = child.stderr.take().unwrap();
    let mut text = String::new();
    let mut signalled = false;
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if !signalled && line.starts_with(marker) {
            std::thread::sleep(after);
            // Safety: signals one process we started and still own.
            assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
            signalled = true;
        }
    }
    assert!(signalled, "never saw {marker:?}:\n{text}");
    (child.wait().unwrap().code(), text)
}

/// Processes whose command line names `needle` (a runner still working on that model file).
fn processes_naming(needle: &str) -> Vec<String> {
    command_lines().into_iter().filter(|cmdline| cmdline.contains(needle)).collect()
}

fn no_runner_left(needle: &str) {
    let gone = wait_until(Duration::from_secs(10), || processes_naming(needle).is_empty());
    assert!(gone, "runner still alive after etbench exited: {:?}", processes_naming(needle));
}

#[test]
fn ctrl_c_keeps_completed_runs_and_resume_finishes_the_sweep_from_anywhere() {
    let _machine = timing();
    let tmp = tempfile::tempdir().unwrap();
    // Quotes, `;` and `$()` in the name: the recorded command is parsed again on resume, never through a shell.
    let name = "it's a model; $(touch pwned).pte";
    std::fs::copy(fixture("bf16"), tmp.path().join(name)).unwrap();
    // Relative paths on purpose: resume must run in the recorded working directory.
    let child = etbench()
        .current_dir(tmp.path())
        .args([
            "run", "--model", name, "--repeat", "3", "--warmup", "1", "--iters", "30", "--out", "res", "--format",
            "none",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr) = interrupt_when(child, "[2/3]", Duration::from_millis(400), libc::SIGINT);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("etbench run --resume "), "{stderr}");
    no_runner_left("it's a model");
    assert!(!tmp.path().join("pwned").exists());

    let dir = tmp.path().join("res");
    let doc = read_doc(&dir);
    assert_eq!(
        doc.runs.len(),
        2,
        "one completed run and the interrupted one: {:?}",
        doc.runs.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    assert!(doc.runs[0].is_ok(), "{:?}", doc.runs[0].error);
    assert_eq!(doc.runs[1].error.as_ref().map(|e| e.kind), Some(ErrorKind::Interrupted), "{:?}", doc.runs[1].error);
    assert!(dir.join("results.csv").is_file());
    let first_started = doc.runs[0].started_at;

    // From another directory, with the absolute path: the recorded cwd is where the relative paths are.
    let out = etbench().current_dir("/").args(["run", "--resume"]).arg(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("1 of 3 runs are already in the results; running the other 2"), "{stderr}");
    let doc = read_doc(&dir);
    assert_eq!(doc.runs.len(), 3);
    assert!(doc.runs.iter().all(|r| r.is_ok()), "{:?}", doc.runs.iter().map(|r| &r.error).collect::<Vec<_>>());
    assert_eq!(doc.runs[0].started_at, first_started, "the completed run is kept, not redone");
    let mut repeats: Vec<u32> = doc.runs.iter().map(|r| r.params.repeat_index).collect();
    repeats.sort();
    assert_eq!(repeats, [0, 1, 2]);
    assert_eq!(doc.runs[2].params.spec.iterations, 30, "the recorded flags are reused");

    // A changed model would mix two programs in one result: refused, nothing run.
    std::fs::OpenOptions::new()
        .append(true)
        .open(tmp.path().join(name))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"))
        .unwrap();
    let out = etbench().args(["run", "--resume"]).arg(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("changed since it was measured") && stderr.contains("start a new run"), "{stderr}");
    assert_eq!(read_doc(&dir).runs.len(), 3);
}

#[test]
fn sigterm_stops_the_first_run_and_resume_refuses_what_it_cannot_finish() {
    let _machine = timing();
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("term me.pte");
    std::fs::copy(fixture("bf16"), &model).unwrap();
    let dir = tmp.path().join("out");
    let child = etbench()
        .args(["run", "--model"])
        .arg(&model)
        // A memory limit, so the runner has a cgroup of its own that must not outlive the interrupted run.
        .args(["--warmup", "0", "--iters", "2000", "--memory-limit", "512M", "--format", "none", "--out"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr) = interrupt_when(child, "[1/1]", Duration::from_millis(800), libc::SIGTERM);
    assert_eq!(code, Some(130), "{stderr}");
    no_runner_left("term me.pte");
    let doc = read_doc(&dir);
    assert_eq!(doc.runs.len(), 1);
    assert!(doc.runs[0].is_interrupted(), "{:?}", doc.runs[0].error);
    let cgroup = &doc.runs[0].conditions[0].memory_limit.as_ref().expect("the limit is recorded").cgroup;
    assert!(!std::path::Path::new(cgroup).exists(), "the interrupted runner's cgroup {cgroup} is removed");

    // --resume takes no other flag (the recorded ones are reused).
    let out = etbench().args(["run", "--resume"]).arg(&dir).args(["--iters", "5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // A directory without results, and results of another command, are refused by name.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = etbench().args(["run", "--resume"]).arg(&empty).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no results.json there"));
    let mut bench = read_doc(&dir);
    bench.provenance.command = vec!["etbench".into(), "bench".into()];
    std::fs::write(dir.join("results.json"), serde_json::to_vec(&bench).unwrap()).unwrap();
    let out = etbench().args(["run", "--resume"]).arg(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("come from `bench`"), "{stderr}");
}
