//! Methodology and profiling through the real runtime: ETDump profiles, `.pte` inspection checked against the export
//! manifest, memory-limited runs that end in `oom` rows while the sweep goes on.

use crate::common::*;
use etbench::inspect::etdump::OpKind;
use etbench::results::{Document, RunStatus};
use etbench_protocol::ErrorKind;

fn run(models: &[&str], extra: &[&str]) -> (std::process::Output, Document, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = etbench();
    cmd.args(["run", "--format", "none", "--out"]).arg(dir.path());
    for m in models {
        cmd.arg("--model").arg(fixture(m));
    }
    let out = cmd.args(extra).output().unwrap();
    let doc = read_doc(dir.path());
    (out, doc, dir)
}

#[test]
fn etdump_profiles_name_the_operators_and_delegates() {
    let (out, doc, dir) = run(&["bf16", "xnnpack-fp32"], &["--profile", "--warmup", "1", "--iters", "3"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let bf16 = doc.runs[0].profile.as_ref().expect("bf16 profile");
    assert_eq!(bf16.forwards, 3, "first forward and warm-up are skipped");
    let top = &bf16.ops[0];
    assert_eq!((top.name.as_str(), top.kind), ("mm.out", OpKind::Operator), "{:?}", &bf16.ops[..3]);
    assert!(top.share > 0.3 && top.share < 1.0, "mm.out share {}", top.share);
    assert!(bf16.ops.iter().all(|o| o.kind == OpKind::Operator), "bf16 is not delegated");
    let xnn = doc.runs[1].profile.as_ref().expect("xnnpack profile");
    assert!(xnn.ops.iter().any(|o| o.kind == OpKind::DelegateCall && o.calls_per_forward > 50.0));
    assert!(xnn.ops.iter().any(|o| o.kind == OpKind::DelegateOp && o.name.starts_with("Fully Connected")));
    assert!(dir.path().join("profiles").read_dir().unwrap().count() == 2, "ETDump files are kept");
    let diff = etbench()
        .args(["profile", "diff"])
        .arg(dir.path().join("results.json"))
        .arg(dir.path().join("results.json"))
        .output()
        .unwrap();
    assert!(diff.status.success());
    assert!(String::from_utf8_lossy(&diff.stdout).contains("`mm.out`"));
}

#[test]
fn inspect_agrees_with_the_export_manifest() {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models_dir().join("manifest.json")).unwrap()).unwrap();
    for variant in manifest["variants"].as_array().unwrap() {
        let path = models_dir().join(variant["file"].as_str().unwrap());
        let out = etbench().args(["inspect", "--format", "json"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        let ins: Vec<etbench::inspect::Inspection> = serde_json::from_slice(&out.stdout).unwrap();
        let ins = &ins[0];
        let name = variant["name"].as_str().unwrap();
        assert_eq!(ins.file_bytes, variant["size_bytes"].as_u64().unwrap(), "{name}");
        let method = &ins.methods[0];
        assert_eq!(method.name, "forward");
        let shape: Vec<i64> = serde_json::from_value(variant["expected"]["output_shape"].clone()).unwrap();
        assert_eq!(method.outputs[0].sizes, shape, "{name}");
        assert_eq!(method.inputs[0].sizes, vec![1, 32]);
        assert_eq!(ins.is_delegated(), !variant["delegate"].is_null(), "{name}");
        let by_dtype = &ins.constant_bytes_by_dtype;
        match name {
            "bf16" => assert!(by_dtype["bfloat16"] > 2 << 20, "{by_dtype:?}"),
            // int8 weight-only keeps the embeddings in bf16: why the file is only ~14% smaller.
            "int8" => assert!(by_dtype["int8"] > 512 << 10 && by_dtype["bfloat16"] > 512 << 10, "{by_dtype:?}"),
            _ => assert!(ins.delegates.iter().any(|d| d.backend == "XnnpackBackend" && d.blobs > 50)),
        }
    }
    let bad = etbench().args(["inspect"]).arg(models_dir().join("tokenizer.json")).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr_of(&bad).contains("not an ExecuTorch program"), "{}", stderr_of(&bad));
}

#[test]
fn a_memory_limited_run_becomes_an_oom_row_and_the_sweep_goes_on() {
    // XNNPACK repacks weights into anonymous memory (needs ~7 MiB here); mmapped bf16 pages are reclaimable.
    let (out, doc, _dir) = run(&["xnnpack-fp32", "bf16"], &["--memory-limit", "4M", "--iters", "2", "--warmup", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let oom = &doc.runs[0];
    assert_eq!(oom.status, RunStatus::Error);
    let err = oom.error.as_ref().unwrap();
    assert_eq!(err.kind, ErrorKind::Oom, "{}", err.message);
    assert!(err.message.contains("4.0 MiB"), "{}", err.message);
    // Will-it-fit weighs the model against the limit, not against the host's memory.
    let fit = oom.memory_fit.as_ref().expect("a will-it-fit verdict");
    assert!(fit.limited && !fit.fits && fit.available_bytes == 4 << 20, "{fit:?}");
    assert!(stderr_of(&out).contains("the run's --memory-limit allows 4.00 MiB"), "{}", stderr_of(&out));
    assert_eq!(doc.runs[1].status, RunStatus::Ok, "{:?}", doc.runs[1].error);
    assert_eq!(doc.runs[1].params.spec.memory_limit_bytes, Some(4 << 20));
    let cgroup = &doc.runs[1].conditions[0].memory_limit.as_ref().unwrap().cgroup;
    assert!(!std::path::Path::new(cgroup).exists(), "the runner's cgroup is removed afterwards");
}

#[test]
fn inspect_bytes_add_up_to_the_file_size_for_every_program() {
    let mut paths: Vec<_> = std::fs::read_dir(models_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pte"))
        .collect();
    paths.push(repo().join("harness/tests/integration/data/mutable-buffer.pte"));
    for path in &paths {
        let out = etbench().args(["inspect", "--format", "json"]).arg(path).output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        let ins: Vec<etbench::inspect::Inspection> = serde_json::from_slice(&out.stdout).unwrap();
        let ins = &ins[0];
        let total: u64 = ins.bytes.iter().map(|b| b.bytes).sum();
        assert_eq!(total, ins.file_bytes, "{}: {:?}", path.display(), ins.bytes);
        assert!(ins.bytes.iter().all(|b| b.bytes > 0), "{}: {:?}", path.display(), ins.bytes);
        let constants = ins.bytes.iter().find(|b| b.part.starts_with("constants")).map_or(0, |b| b.bytes);
        let tensors: u64 = ins.constant_bytes_by_dtype.values().sum();
        assert!(constants >= tensors, "{}: the constant segment holds every constant tensor", path.display());
        let text = etbench().arg("inspect").arg(path).output().unwrap();
        let text = String::from_utf8(text.stdout).unwrap();
        assert!(
            text.contains("= file size") && text.contains("other/padding") || !text.contains("other/padding"),
            "{text}"
        );
        assert!(
            !text.contains("0.00 MiB") && !text.contains(" 0 B"),
            "{}: rows that round to nothing:\n{text}",
            path.display()
        );
    }
    let int8 = etbench().arg("inspect").arg(fixture("int8")).output().unwrap();
    let int8 = String::from_utf8(int8.stdout).unwrap();
    assert!(int8.contains("embeddings stay bfloat16: 1.00 MiB of 2.25 MiB"), "{int8}");
    let bf16 = String::from_utf8(etbench().arg("inspect").arg(fixture("bf16")).output().unwrap().stdout).unwrap();
    assert!(bf16.contains("embeddings are bfloat16") && !bf16.contains("stay"), "{bf16}");
    let fp32 =
        String::from_utf8(etbench().arg("inspect").arg(fixture("xnnpack-fp32")).output().unwrap().stdout).unwrap();
    assert!(fp32.contains("delegate blobs") && fp32.contains("named data"), "{fp32}");
    let conv =
        String::from_utf8(etbench().arg("inspect").arg(program("convnet-fp32")).output().unwrap().stdout).unwrap();
    assert!(conv.contains("10,600 bytes") && !conv.contains("embeddings"), "{conv}");
    let named = etbench()
        .args(["inspect", "--format", "json"])
        .arg(repo().join("harness/tests/integration/data/mutable-buffer.pte"))
        .output()
        .unwrap();
    let named: Vec<etbench::inspect::Inspection> = serde_json::from_slice(&named.stdout).unwrap();
    let cache = &named[0].named_tensors[0];
    assert_eq!((cache.name.as_str(), cache.role.as_str(), &cache.sizes), ("cache", "mutable buffer", &vec![4, 8]));
}
