//! Every page of `docs/` run as written: each `sh` block command, in order, from a reader's scratch directory (see
//! `common::docs`), then a look at what the commands produced.

use std::path::Path;

use etbench::results::Document;

use crate::common::docs::{pages, sh_commands, Scratch};
use crate::common::lab::{phone_up, PHONE};
use crate::common::*;

fn doc(scratch: &Scratch, dir: &str) -> Document {
    Document::read(&scratch.path().join(dir).join("results.json")).unwrap_or_else(|e| panic!("{dir}: {e}"))
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pages a test below runs; a page with `sh` commands that no test runs fails [`every_page_with_commands_is_run`].
const RUN: [&str; 7] = ["devices", "llm", "measurement", "methodology", "reports", "running", "troubleshooting"];

#[test]
fn every_page_with_commands_is_run() {
    for page in pages() {
        let name = page.file_stem().unwrap().to_string_lossy().into_owned();
        let has_commands = !sh_commands(&page.to_string_lossy()).is_empty();
        assert!(
            !has_commands || RUN.contains(&name.as_str()) || EXTRA.contains(&name.as_str()),
            "{}: its sh commands are run by no test",
            page.display()
        );
    }
}

/// Pages whose commands another module's test runs (named there).
const EXTRA: [&str; 3] = ["energy", "fleet", "dashboard"];

#[test]
fn running_runs_as_written() {
    let _load = load();
    let s = Scratch::new();
    let outs = s.run_page("docs/running.md");
    let convnet = doc(&s, "runs/convnet");
    assert_eq!(convnet.runs.len(), 2, "--repeat 2");
    assert!(convnet.runs.iter().all(|r| r.is_ok() && r.samples.timed_ns.len() == 5));
    assert_eq!(doc(&s, "runs/decoder").runs.len(), 2, "two load modes");
    let csv = &outs[1].1;
    assert!(stdout_of(csv).lines().next().unwrap().contains("model"), "--format csv prints CSV on stdout");
    assert!(
        stdout_of(&outs[2].1).lines().any(|l| l.contains("\"sample\"") || l.contains("timed")),
        "the runner prints protocol lines"
    );
}

#[test]
fn methodology_runs_as_written() {
    let _load = load();
    let s = Scratch::new();
    let outs = s.run_page("docs/methodology.md");
    assert!(stdout_of(&outs[0].1).contains("KV cache"), "{}", stdout_of(&outs[0].1));
    let profiled = doc(&s, "runs/profiled");
    assert!(profiled.runs[0].profile.is_some(), "--profile gives a per-operator profile");
    assert!(
        stdout_of(&outs[2].1).contains("DELEGATE_CALL") || stdout_of(&outs[2].1).contains("delegate"),
        "{}",
        stdout_of(&outs[2].1)
    );
    assert_eq!(doc(&s, "runs/sweep").runs.len(), 4, "2 models × threads 1,2");
}

#[test]
fn llm_runs_as_written() {
    let _load = load();
    let s = Scratch::new();
    let outs = s.run_page("docs/llm.md");
    assert!(stdout_of(&outs[0].1).contains("get_max_context_len"), "{}", stdout_of(&outs[0].1));
    let sweep = doc(&s, "runs/llm-sweep");
    assert_eq!(sweep.runs.len(), 4, "prefill 16,32 × depth 0,32");
    assert!(sweep.runs.iter().all(|r| r.llm.as_ref().and_then(|l| l.summary.as_ref()).is_some()));
    let text = doc(&s, "runs/llm-text");
    let generated = text.runs[0].llm.as_ref().unwrap();
    assert!(
        generated.prompt_text.as_deref() == Some("Once upon a time") && generated.generated_text.is_some(),
        "a text run records its prompt and text"
    );
    let compare = outs.iter().find(|(c, _)| c.contains(" compare ")).unwrap();
    let table = stdout_of(&compare.1);
    assert!(table.contains("decode time per token") && !table.contains("significant"), "{table}");
    assert!(
        s.path().join("drift.md").is_file() || outs.iter().any(|(c, o)| c.contains(" drift ") && o.status.success())
    );
}

#[test]
fn reports_runs_as_written() {
    let _load = load();
    let s = Scratch::new();
    let outs = s.run_page("docs/reports.md");
    assert!(s.path().join("runs/report/report.md").is_file() && s.path().join("runs/report/latency.png").is_file());
    assert!(std::fs::read_dir(s.path().join("runs/pytorch")).unwrap().count() >= 1);
    let compare = stdout_of(&outs[4].1);
    assert!(!compare.contains("significant"), "{compare}");
    assert!(s.path().join("runs/history/report.md").is_file());
    let check = &outs[6].1;
    assert!(matches!(check.status.code(), Some(0) | Some(1)));
}

#[test]
fn measurement_runs_as_written() {
    let _machine = timing();
    let s = Scratch::new();
    let outs = s.run_page("docs/measurement.md");
    let ab = doc(&s, "runs/ab");
    assert_eq!(ab.paired.len(), 1, "one candidate against the reference");
    let table = stdout_of(&outs[1].1);
    let words = ["improved", "REGRESSED", "no change beyond", "not shown to exceed", "no verdict"];
    assert!(words.iter().any(|w| table.contains(w)) && !table.contains("significant"), "{table}");
    assert!(s.path().join("runs/calibration/calibration.md").is_file());
}

#[test]
fn troubleshooting_runs_as_written() {
    let s = Scratch::new();
    let outs = s.run_page("docs/troubleshooting.md");
    assert!(stdout_of(&outs[0].1).contains("\"cpu_logical_cores\""), "{}", stdout_of(&outs[0].1));
    assert!(stdout_of(&outs[1].1).contains("KV cache"));
}

#[test]
fn devices_runs_as_written() {
    if !phone_up() {
        return;
    }
    let _load = load();
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let (reader, _server) = crate::front_door::lab_reader();
    let outs = reader.run_page("docs/devices.md");
    assert!(stdout_of(&outs[0].1).contains("adb:127.0.0.1:17104"), "{}", stdout_of(&outs[0].1));
    assert_eq!(doc(&reader, "runs/phone").runs[0].device.name, "adb:127.0.0.1:17104");
    assert_eq!(doc(&reader, "runs/board").runs[0].device.name, "ssh:raspberrypi.local");
    assert!(Path::new(&reader.path().join("runs/card/report.md")).is_file());
}
