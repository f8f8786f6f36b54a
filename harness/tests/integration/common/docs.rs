//! The commands the README and the pages of `docs/` show, run as written.
//!
//! A page's runnable commands are the lines of its ```` ```sh ```` blocks (a line ending in `\` continues on the next;
//! `#` comments and blank lines are skipped). Commands that cannot run on a test machine (a real phone, GitHub) go in
//! ```` ```text ```` blocks instead, so nothing is shown as runnable that no test ran. [`Scratch`] is the directory a
//! reader would be in: `target/release/etbench` and `etbench-runner`, `models/`, `devices/` and `scripts/` of the
//! checkout, an `ETBENCH_HOME` of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{repo, runner};

/// Every command of the ```` ```sh ```` blocks of `page` (a path relative to the repository root), in order.
pub fn sh_commands(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
    sh_commands_in(&text, page)
}

/// The ```` ```sh ```` commands of one section of `page`: from its `## heading` to the next `## `.
pub fn section_sh_commands(page: &str, heading: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
    let body = text.split(&format!("\n## {heading}\n")).nth(1).unwrap_or_else(|| panic!("{page} has no ## {heading}"));
    sh_commands_in(body.split("\n## ").next().unwrap(), page)
}

fn sh_commands_in(text: &str, page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if !in_sh || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                out.push(std::mem::take(&mut pending).trim().to_owned());
            }
        }
    }
    assert!(pending.is_empty(), "{page}: a ```sh block ends inside a continued line");
    out
}

/// A reader's working directory: the checkout's `models/`, `devices/` and `scripts/` (symlinks) and this build's
/// `etbench`/`etbench-runner` as `target/release/…`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("target/release");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_etbench"), bin.join("etbench")).unwrap();
        std::os::unix::fs::symlink(runner(), bin.join("etbench-runner")).unwrap();
        for name in ["models", "devices", "scripts"] {
            std::os::unix::fs::symlink(repo().join(name), dir.path().join(name)).unwrap();
        }
        let home = dir.path().to_string_lossy().into_owned();
        Self {
            dir,
            envs: vec![
                ("ETBENCH_HOME".into(), home),
                ("ETBENCH_RUNNER".into(), runner().to_string_lossy().into_owned()),
            ],
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An environment variable every command of this scratch directory gets.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.envs.push((name.to_owned(), value.into()));
        self
    }

    /// Runs one command with `sh -c` here.
    pub fn sh(&self, command: &str) -> Output {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command).current_dir(self.path());
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Runs every command of `page` in order; each must exit 0, or 0/1 when it judges (`compare`, `history check`:
    /// 1 means a regression was found). Returns each command with its output.
    pub fn run_page(&self, page: &str) -> Vec<(String, Output)> {
        let commands = sh_commands(page);
        assert!(!commands.is_empty(), "{page} shows no ```sh commands");
        commands
            .into_iter()
            .map(|command| {
                let out = self.sh(&command);
                let judges = command.contains(" compare ") || command.contains(" history check");
                let ok = out.status.success() || (judges && out.status.code() == Some(1));
                assert!(
                    ok,
                    "{page}: `{command}` as written: {:?}\nstdout:\n{}\nstderr:\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                (command, out)
            })
            .collect()
    }
}

/// The pages of `docs/`, relative to the repository root.
pub fn pages() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "md")).collect())
        .unwrap_or_default();
    v.sort();
    v.into_iter().map(|p| p.strip_prefix(repo()).unwrap().to_owned()).collect()
}

#[test]
fn sh_commands_join_continued_lines_and_skip_comments_and_other_blocks() {
    let dir = tempfile::tempdir_in(repo().join("target")).unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(&page, "x\n```sh\n# a comment\n./a --x \\\n   --y\n\n./b\n```\n```text\n./not-run\n```\n").unwrap();
    let rel = page.strip_prefix(repo()).unwrap().to_string_lossy().into_owned();
    assert_eq!(sh_commands(&rel), ["./a --x    --y", "./b"]);
}
