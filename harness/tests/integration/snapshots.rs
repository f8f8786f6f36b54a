//! Snapshot tests: every exporter on a fixed document, and `--help`. A change in output shows up as a diff to review
//! (`cargo insta review`).

use chrono::{TimeZone, Utc};
use etbench::export;
use etbench::results::*;
use etbench_protocol::*;

fn info() -> SystemInfo {
    SystemInfo {
        hostname: Some("lab-1".into()),
        os: Some("Debian GNU/Linux".into()),
        os_version: Some("12".into()),
        kernel: Some("6.1.0".into()),
        arch: "x86_64".into(),
        cpu_brand: Some("Example CPU".into()),
        cpu_logical_cores: 2,
        cpu_physical_cores: Some(2),
        memory_total_bytes: 24 << 30,
    }
}

fn phase(phase: PhaseKind, duration_ns: u64, hwm_mib: u64) -> PhaseRecord {
    PhaseRecord {
        model: 0,
        phase,
        duration_ns,
        iterations: 1,
        memory: MemorySnapshot {
            vm_hwm_bytes: Some(hwm_mib << 20),
            ru_maxrss_bytes: Some(hwm_mib << 20),
            rss_bytes: Some(hwm_mib << 20),
            rss_anon_bytes: Some(4 << 20),
            rss_file_bytes: Some(3 << 20),
            minor_faults: Some(10),
            major_faults: Some(0),
            peak_reset: true,
        },
    }
}

fn ok_run(name: &str, base_ns: u64) -> RunResult {
    let timed: Vec<u64> = (0..10).map(|i| base_ns + i * 1000 + if i == 9 { base_ns } else { 0 }).collect();
    let mut run = RunResult {
        id: format!("local/{name}/mmap/t2/r0"),
        device: DeviceRef { name: "local".into(), transport: "local".into(), info: info(), probed: None },
        model: ModelRef {
            path: format!("models/{name}.pte"),
            name: name.into(),
            size_bytes: 2_739_252,
            sha256: "ab".repeat(32),
            program: None,
        },
        params: RunParams::single(RunSpec { warmup: 3, iterations: 10, threads: Some(2), ..RunSpec::default() }),
        started_at: Utc.with_ymd_and_hms(2026, 11, 28, 6, 0, 0).unwrap(),
        status: RunStatus::Ok,
        error: None,
        runner: Some(RunnerInfo {
            debug_build: false,
            runner_version: "0.1.0".into(),
            executorch_version: "1.5.1+cpu".into(),
            target_triple: "x86_64-unknown-linux-gnu".into(),
            threads_effective: Some(2),
            inputs: vec![TensorSpec::tensor(Dtype::Int64, vec![1, 32])],
            outputs: vec![TensorSpec::tensor(Dtype::Bfloat16, vec![1, 32, 2048])],
            inputs_used: Vec::new(),
            input_ids: vec![2; 32],
        }),
        phases: vec![
            phase(PhaseKind::ProgramLoad, 40_000, 7),
            phase(PhaseKind::MethodLoad, 2_000_000, 9),
            phase(PhaseKind::FirstForward, base_ns * 2, 16),
            phase(PhaseKind::Warmup, base_ns * 3, 16),
            phase(PhaseKind::Timed, base_ns * 10, 16),
        ],
        samples: Samples {
            first_forward_ns: Some(base_ns * 2),
            warmup_ns: vec![base_ns; 3],
            timed_ns: timed,
            generate_ns: vec![],
            timed_rounds: vec![],
        },
        outputs: vec![OutputCheck {
            index: 0,
            sizes: vec![1, 32, 2048],
            dtype: Dtype::Bfloat16,
            nan_count: 0,
            inf_count: 0,
            argmax_last: Some(105),
            sum: Some(-12.5),
        }],
        output_verdict: OutputVerdict::MatchesManifest,
        summary: None,
        prompt: None,
        generation: None,
        llm: None,
        conditions: Vec::new(),
        energy: None,
        warnings: Vec::new(),
        profile: None,
        memory_fit: None,
        pairing: None,
        output_dump: None,
    };
    run.summarise();
    run
}

fn document() -> Document {
    let mut failed = ok_run("broken", 1);
    failed.status = RunStatus::Error;
    failed.error = Some(RunnerError {
        model: 0,
        kind: ErrorKind::RunnerCrashed,
        phase: Some(PhaseKind::Warmup),
        executorch_error: None,
        message: "runner killed by signal 9 (SIGKILL) after phase warmup".into(),
    });
    failed.samples.timed_ns.clear();
    failed.output_verdict = OutputVerdict::Missing;
    failed.summarise();
    Document {
        schema_version: SCHEMA_VERSION,
        provenance: Provenance {
            etbench_version: "0.1.0".into(),
            git_sha: Some("0123456789ab".into()),
            created_at: Utc.with_ymd_and_hms(2026, 11, 28, 6, 0, 0).unwrap(),
            command: vec!["etbench".into(), "bench".into()],
            cwd: None,
            host: info(),
            ci: None,
        },
        runs: vec![ok_run("gemma3n-tiny-bf16", 80_000_000), ok_run("gemma3n-tiny-xnnpack-fp32", 6_600_000), failed],
        drift: Vec::new(),
        paired: Vec::new(),
        calibration: None,
    }
}

/// `run --format md`: the one report renderer, without charts.
#[test]
fn markdown_report() {
    insta::assert_snapshot!(export::report::Report::tables(&distinct_models()));
}

/// A prompt run padded to its window and generating text, a profiled run of the same file (never pooled with the
/// plain one), and a second device with a single run of a program without a token input.
fn prompts_profiles_and_one_row() -> Document {
    let mut doc = distinct_models();
    doc.runs.truncate(2);
    let mut prompt = doc.runs[1].clone();
    prompt.id = "local/gemma3n-tiny-xnnpack-fp32/mmap/t2/r0/prompt".into();
    let ids: Vec<i64> = (2..13).collect();
    let mut window = ids.clone();
    window.resize(32, 0);
    prompt.params.spec.inputs = vec![InputSpec::Values(window.clone())];
    prompt.params.spec.real_tokens = Some(11);
    prompt.runner.as_mut().unwrap().input_ids = window;
    prompt.prompt = Some(PromptRecord {
        text: "Say \"hi\" | <b>twice</b>\nthen *stop*".into(),
        tokenizer: "/abs/path/models/tokenizer.json".into(),
        token_ids: ids,
        window: 32,
        fit: Fit::Padded,
        real_tokens: 11,
    });
    prompt.generation = Some(etbench::results::GenerationRecord {
        requested: 3,
        token_ids: vec![105, 7, 7],
        text: Some("hi hi\n".into()),
        step_latency_ns: vec![7_000_000, 6_000_000, 6_500_000],
    });
    prompt.summarise();
    let mut profiled = doc.runs[0].clone();
    profiled.id += "/profiled";
    profiled.params.spec.profile = true;
    profiled.profile = Some(etbench::inspect::etdump::OpProfile {
        etdump: None,
        forwards: 10,
        forward_median_ns: 80e6,
        ops: vec![
            etbench::inspect::etdump::OpStat {
                name: "aten::mm.out".into(),
                kind: etbench::inspect::etdump::OpKind::Operator,
                calls_per_forward: 64.0,
                median_ns_per_forward: 67e6,
                share: 0.84,
            },
            etbench::inspect::etdump::OpStat {
                name: "aten::permute_copy.out".into(),
                kind: etbench::inspect::etdump::OpKind::Operator,
                calls_per_forward: 48.0,
                median_ns_per_forward: 8e6,
                share: 0.1,
            },
        ],
    });
    profiled.warnings = vec![etbench::results::warnings::Warning::DebugBuild];
    doc.runs[0].warnings = vec![etbench::results::warnings::Warning::DebugBuild];
    let mut board = doc.runs[1].clone();
    board.id = "board/convnet-fp32/mmap/t2/r0".into();
    board.device.name = "board".into();
    board.model.name = "convnet-fp32".into();
    board.model.sha256 = "ef".repeat(32);
    let runner = board.runner.as_mut().unwrap();
    runner.inputs = vec![TensorSpec::tensor(Dtype::Float32, vec![1, 3, 32, 32])];
    runner.input_ids.clear();
    board.summarise();
    doc.runs.extend([prompt, profiled, board]);
    doc
}

#[test]
fn report_of_prompts_profiles_and_a_one_row_table() {
    let doc = prompts_profiles_and_one_row();
    let md = export::report::Report::tables(&doc);
    // Prefill tokens/s counts the 11 real tokens of the padded prompt, not the 32-token window.
    let prompt = &doc.runs[2];
    let median = prompt.summary.as_ref().unwrap().latency_ns.median;
    let prefill = prompt.summary.as_ref().unwrap().prefill_tokens_per_s.as_ref().unwrap().median;
    assert!((prefill - 11.0 * 1e9 / median).abs() < 1e-6, "{prefill}");
    insta::assert_snapshot!(md);
}

/// The decode-equivalent mark ¹ is on a header only where that column is shown; listed among the columns that are
/// the same for every row, the column has no mark and its note is a plain sentence.
#[test]
fn a_footnote_mark_appears_only_with_its_column() {
    let mut doc = distinct_models();
    doc.runs.truncate(2);
    let same = doc.runs[0].samples.clone();
    doc.runs[1].samples = same;
    doc.runs[1].summarise();
    let md = export::report::Report::tables(&doc);
    let header = md.lines().find(|l| l.starts_with("| variant")).unwrap();
    assert!(!header.contains("decode-eq"), "{header}");
    assert!(!md.contains('¹'), "a mark with no column: {md}");
    assert!(
        md.contains("· decode-eq tok/s 12.5 ·") && md.contains("- Decode-equivalent = 1 / forward latency."),
        "{md}"
    );
    // Shown, the column carries the mark and the footnote follows the table.
    let md = export::report::Report::tables(&distinct_models());
    assert!(md.contains("decode-eq tok/s ¹ |") && md.contains("\n¹ decode-equivalent = "), "{md}");
}

#[test]
fn terminal_table() {
    insta::assert_snapshot!(export::table::render(&document()));
}

#[test]
fn csv_rows() {
    insta::assert_snapshot!(String::from_utf8(export::csv::render(&document())).unwrap());
}

#[test]
fn json_round_trips_through_the_reader() {
    let doc = document();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    std::fs::write(&path, export::json(&doc)).unwrap();
    let back = Document::read(&path).unwrap();
    let (a, b) = (String::from_utf8(export::json(&back)).unwrap(), String::from_utf8(export::json(&doc)).unwrap());
    assert!(a == b, "results.json does not round-trip");
    insta::assert_snapshot!(String::from_utf8(export::json(&doc)).unwrap());
}

#[test]
fn unknown_schema_version_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    std::fs::write(&path, r#"{"schema_version": 99, "runs": []}"#).unwrap();
    let err = Document::read(&path).unwrap_err().to_string();
    assert!(err.contains("schema_version 99") && err.contains("results.json"), "{err}");
}

#[test]
fn help_texts() {
    let cmds = [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["bench", "--help"],
        vec!["drift", "--help"],
        vec!["inspect", "--help"],
        vec!["profile", "show", "--help"],
        vec!["devices", "--help"],
        vec!["devices", "info", "--help"],
        vec!["completions", "--help"],
        vec!["history", "--help"],
        vec!["history", "site", "--help"],
    ];
    for args in cmds {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_etbench"))
            .args(&args)
            .env("COLUMNS", "120")
            .output()
            .unwrap();
        assert!(out.status.success());
        insta::assert_snapshot!(format!("help_{}", args.join("_")), String::from_utf8(out.stdout).unwrap());
    }
}

/// `document()` with a different sha256 per model, as real files have (runs pair and pool by content hash).
fn distinct_models() -> Document {
    let mut doc = document();
    for run in &mut doc.runs {
        let h: u64 = run.model.name.bytes().fold(0xcbf29ce484222325, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
        run.model.sha256 = format!("{h:016x}").repeat(4);
    }
    doc
}

#[test]
fn bmf_export() {
    insta::assert_snapshot!(String::from_utf8(export::bmf::render(&distinct_models())).unwrap());
}

#[test]
fn gab_exports() {
    use export::gab::{render, Direction};
    insta::assert_snapshot!(
        "gab_smaller",
        String::from_utf8(render(&distinct_models(), Direction::SmallerIsBetter)).unwrap()
    );
    insta::assert_snapshot!(
        "gab_bigger",
        String::from_utf8(render(&distinct_models(), Direction::BiggerIsBetter)).unwrap()
    );
}

/// `distinct_models()` plus the XNNPACK run on a probed phone, as a GitHub Actions push would export it; programs are
/// read from the bundled fixtures of the same names.
#[test]
fn pytorch_v3_export() {
    let mut doc = distinct_models();
    let mut phone = doc.runs[1].clone();
    phone.id = "pixel/gemma3n-tiny-xnnpack-fp32/mmap/t2/r0".into();
    phone.device = DeviceRef {
        name: "pixel".into(),
        transport: "adb".into(),
        info: SystemInfo {
            hostname: Some("localhost".into()),
            os: Some("Android".into()),
            os_version: Some("15".into()),
            kernel: Some("6.1.75-android14-11".into()),
            arch: "aarch64".into(),
            cpu_brand: Some("CPU part 0xd4d".into()),
            cpu_logical_cores: 9,
            cpu_physical_cores: None,
            memory_total_bytes: 7_989_182_464,
        },
        probed: Some(ProbedInfo {
            os_release: None,
            memory_available_bytes: Some(3_221_225_472),
            android_facts: Some(AndroidFacts {
                model: Some("Pixel 8".into()),
                manufacturer: Some("Google".into()),
                soc: Some("Google Tensor G3".into()),
                android_version: Some("15".into()),
                sdk: Some(35),
                abi: Some("arm64-v8a".into()),
            }),
            android: [(
                "ro.build.fingerprint".to_owned(),
                "google/shiba/shiba:15/AP4A.250105.002/12701944:user/release-keys".to_owned(),
            )]
            .into(),
            clusters: vec![
                CpuCluster {
                    name: "little".into(),
                    cpus: vec![0, 1, 2, 3],
                    mask: "0xf".into(),
                    capacity: Some(256),
                    max_khz: Some(1_704_000),
                },
                CpuCluster {
                    name: "big".into(),
                    cpus: vec![4, 5, 6, 7, 8],
                    mask: "0x1f0".into(),
                    capacity: Some(1024),
                    max_khz: Some(2_910_000),
                },
            ],
            runner_libc: Some(RunnerLibc {
                provided_by: "device".into(),
                libc: "bionic".into(),
                version: None,
                detail: None,
            }),
            ..ProbedInfo::default()
        }),
    };
    doc.runs.push(phone);
    let ci = export::pytorch::Ci {
        repo: Some("acme/edge-models".into()),
        head_branch: Some("refs/heads/main".into()),
        head_sha: Some("4f3c2b1a".repeat(5)),
        workflow_id: Some(12_345_678_901),
        run_attempt: Some(1),
        job: Some("bench".into()),
    };
    // The program facts a run records (`etbench run` reads them from the flatbuffer on the host).
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    for run in &mut doc.runs {
        let program = etbench::inspect::inspect(&models.join(format!("{}.pte", run.model.name))).ok();
        run.model.program = program.as_ref().map(etbench::results::ProgramFacts::of);
    }
    let text = String::from_utf8(export::pytorch::render_with(&doc, &ci)).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(crate::ingest::all_row_errors(&rows, true), Vec::<String>::new());
    insta::assert_snapshot!(text);
}

#[test]
fn jsonl_export() {
    let text = String::from_utf8(export::jsonl::render(&distinct_models())).unwrap();
    assert_eq!(text.lines().count(), distinct_models().runs.len());
    insta::assert_snapshot!(text);
}

#[test]
fn model_card_report() {
    let docs = [distinct_models()];
    let report = etbench::export::report::Report::render(&docs).unwrap();
    insta::assert_snapshot!(report.markdown(&docs));
    insta::assert_snapshot!("samples_csv", String::from_utf8(report.samples_csv.clone()).unwrap());
}

#[test]
fn compare_markdown_and_table() {
    let base = distinct_models();
    let mut cand = distinct_models();
    for run in &mut cand.runs {
        run.samples.timed_ns.iter_mut().for_each(|v| *v = *v * 13 / 10);
        run.summarise();
    }
    let c = etbench::analysis::compare::compare(&base, &cand, ("base.json", "cand.json"), &Default::default()).unwrap();
    insta::assert_snapshot!("compare_md", c.render_markdown());
    insta::assert_snapshot!("compare_table", c.render_table());
}

#[test]
fn help_texts_of_report_compare_history() {
    let cmds = [
        vec!["report", "--help"],
        vec!["compare", "--help"],
        vec!["history", "--help"],
        vec!["history", "add", "--help"],
        vec!["history", "report", "--help"],
        vec!["history", "check", "--help"],
    ];
    for args in cmds {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_etbench"))
            .args(&args)
            .env("COLUMNS", "120")
            .output()
            .unwrap();
        assert!(out.status.success());
        insta::assert_snapshot!(format!("help_{}", args.join("_")), String::from_utf8(out.stdout).unwrap());
    }
}

#[test]
fn chart_rows_say_what_differs_so_no_two_look_alike() {
    let mut doc = distinct_models();
    doc.runs.truncate(2);
    // The same file at 1 and 2 threads, and another file that happens to have the same name.
    let mut one_thread = doc.runs[0].clone();
    one_thread.runner.as_mut().unwrap().threads_effective = Some(1);
    let mut namesake = doc.runs[1].clone();
    namesake.model.sha256 = "cd".repeat(32);
    let original = format!("gemma3n-tiny-xnnpack-fp32 · 2 threads · {}\n", &doc.runs[1].model.sha256[..8]);
    doc.runs.extend([one_thread, namesake]);
    let report = etbench::export::report::Report::render(&[doc]).unwrap();
    let svg = &report.charts.iter().find(|c| c.name == "latency").unwrap().svg;
    for label in [
        "gemma3n-tiny-bf16 · 2 threads\n",
        "gemma3n-tiny-bf16 · 1 thread\n",
        &original,
        "gemma3n-tiny-xnnpack-fp32 · 2 threads · cdcdcdcd\n",
    ] {
        assert!(svg.contains(label), "no row {label:?} in {svg}");
    }
}
