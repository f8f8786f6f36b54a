//! The export script still works: re-export bf16 and int8 with the pinned stack (the venv made by
//! scripts/setup-export-env.sh) and check, through the real runtime, that the fresh files give the committed
//! fixtures' outputs for the same input (within bf16 tolerance).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The export stack's Python (`.venv-export/`, or `ETBENCH_EXPORT_PYTHON`); `None` as [`require`] says.
#[track_caller]
fn export_python() -> Option<PathBuf> {
    let python = std::env::var_os("ETBENCH_EXPORT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-export/bin/python"));
    let check = if python.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{} missing: run `bash scripts/setup-export-env.sh` (scripts/test.sh does) or set ETBENCH_EXPORT_PYTHON",
            python.display()
        ))
    };
    require("the export stack (scripts/setup-export-env.sh)", check).then_some(python)
}

fn bf16_logits(model: &Path, dump: &Path) -> Vec<f32> {
    let out = Command::new(runner())
        .args(["--spec", r#"{"warmup": 0, "iterations": 1}"#, "--dump-output"])
        .arg(dump)
        .arg(model)
        .output()
        .unwrap();
    assert!(out.status.success(), "runner failed on {}: {}", model.display(), String::from_utf8_lossy(&out.stdout));
    let bytes = std::fs::read(dump).unwrap();
    bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect()
}

#[test]
fn fresh_export_reproduces_the_committed_fixtures() {
    let _load = load();
    let Some(python) = export_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(&python)
        .arg(repo().join("scripts/export_gemma3n.py"))
        .args(["--variants", "bf16,int8", "--no-tokenizer", "--out-dir"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "export_gemma3n.py failed");
    for variant in ["bf16", "int8"] {
        let fresh = dir.path().join(format!("gemma3n-tiny-{variant}.pte"));
        let a = bf16_logits(&fixture(variant), &dir.path().join("committed.bin"));
        let b = bf16_logits(&fresh, &dir.path().join("fresh.bin"));
        assert_eq!(a.len(), b.len(), "{variant}: output sizes differ");
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        // bf16 keeps 8 significant bits: allow a couple of ulps of the largest logit.
        assert!(worst <= scale * 2f32.powi(-6), "{variant}: max |diff| {worst} vs scale {scale}");
        let vocab = 2048;
        let argmax =
            |v: &[f32]| v.iter().enumerate().fold((0, f32::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0;
        assert_eq!(
            argmax(&a[a.len() - vocab..]),
            argmax(&b[b.len() - vocab..]),
            "{variant}: next-token argmax differs"
        );
    }
}

#[test]
fn fresh_export_of_the_program_fixtures_reproduces_their_manifest() {
    let _load = load();
    let Some(python) = export_python() else { return };
    let out = Command::new(&python).arg(repo().join("scripts/export_fixtures.py")).arg("--check").output().unwrap();
    assert!(out.status.success(), "export_fixtures.py --check failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn llm_fixtures_reproduce_their_manifest_under_executorchs_python_runtime() {
    let _load = load();
    let Some(python) = export_python() else { return };
    let out = Command::new(python).arg(repo().join("scripts/export_llm.py")).arg("--check").output().unwrap();
    assert!(out.status.success(), "export_llm.py --check failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// ExecuTorch's Python runtime's greedy ids for `model` after `prompt`, on this machine.
fn python_greedy(python: &Path, model: &Path, prompt: &[i64], steps: usize, token_by_token: bool) -> Vec<i64> {
    let ids: Vec<String> = prompt.iter().map(i64::to_string).collect();
    let mut cmd = Command::new(python);
    cmd.arg(repo().join("scripts/export_llm.py")).arg("--greedy").arg(model).args([
        "--prompt-ids",
        &ids.join(","),
        "--steps",
        &steps.to_string(),
    ]);
    if token_by_token {
        cmd.arg("--token-by-token");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "export_llm.py --greedy: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["finite"], true);
    v["generated"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

#[test]
fn etbench_generates_what_executorchs_python_runtime_generates_on_this_machine() {
    let _load = load();
    let Some(python) = export_python() else { return };
    // (program, prefill mode etbench uses, whether Python feeds the prompt token by token)
    let cases = [
        ("llama-tiny-kv-xnnpack", "one-call", false),
        ("llama-tiny-kv-xnnpack", "token", true),
        ("llama-tiny-kv-static-xnnpack", "auto", true),
        ("gemma3n-tiny-kv-bf16", "one-call", false),
        ("gemma3n-tiny-kv-xnnpack-fp32", "token", true),
    ];
    for (name, mode, token_by_token) in cases {
        let model = models_dir().join(format!("{name}.pte"));
        let dir = tempfile::tempdir().unwrap();
        // A prompt of another seed than the manifest's, longer than Gemma 3n's sliding window (16).
        let out = etbench()
            .args([
                "run",
                "--warmup",
                "0",
                "--iters",
                "1",
                "--format",
                "none",
                "--prefill",
                "24",
                "--decode",
                "15",
                "--prompt-seed",
                "3",
            ])
            .args(["--prefill-mode", mode, "--model"])
            .arg(&model)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr_of(&out));
        let doc = read_doc(dir.path());
        let l = doc.runs[0].llm.as_ref().unwrap_or_else(|| panic!("{name}: no generation: {:?}", doc.runs[0].error));
        let ours = l.generated().to_vec();
        assert_eq!(ours.len(), 16);
        assert_eq!(ours, python_greedy(&python, &model, &l.prompt_ids, 16, token_by_token), "{name} ({mode})");
    }
}
