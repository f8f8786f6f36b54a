//! The export script still works: re-export bf16 and int8 with the pinned stack (the venv made by
//! scripts/setup-export-env.sh) and check, through the real runtime, that the fresh files give the committed
//! fixtures' outputs for the same input (within bf16 tolerance).


use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn export_python() -> PathBuf {
    let python = std::env::var_os("ETBENCH_EXPORT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-export/bin/python"));
    assert!(
        python.is_file(),
        "{} missing: run `bash scripts/setup-export-env.sh` (scripts/test.sh does) or set ETBENCH_EXPORT_PYTHON",
        python.display()
    );
    python
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
    let python = export_python();
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
        let argmax = |v: &[f32]| v.iter().enumerate().fold((0, f32::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0;
        assert_eq!(argmax(&a[a.len() - vocab..]), argmax(&b[b.len() - vocab..]), "{variant}: next-token argmax differs");
    }
}

#[test]
fn fresh_export_of_the_program_fixtures_reproduces_their_manifest() {
    let _load = load();
    let python = export_python();
    let out = Command::new(&python).arg(repo().join("scripts/export_fixtures.py")).arg("--check").output().unwrap();
    assert!(out.status.success(), "export_fixtures.py --check failed:\n{}", String::from_utf8_lossy(&out.stderr));
}
