//! Updating a model card in place: the text between `<!-- etbench:begin -->` and `<!-- etbench:end -->` is replaced,
//! or, when there are no markers, the body of the `## Benchmarks` section (any level, any case) is replaced and the
//! markers are added. Every other byte is kept; running it twice gives the same file. The card is rewritten through a
//! temp file + rename in its directory, keeping its permissions, so a failure leaves it untouched.

use std::path::{Component, Path, PathBuf};

use anyhow::Context;

pub const BEGIN: &str = "<!-- etbench:begin -->";
pub const END: &str = "<!-- etbench:end -->";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpliceError {
    #[error("unbalanced etbench markers: {begins} `{BEGIN}` and {ends} `{END}`{order}; keep exactly one `{BEGIN}` line followed by one `{END}` line, or remove both to use the `## Benchmarks` section")]
    Unbalanced { begins: usize, ends: usize, order: &'static str },
    #[error("no place for the results: neither `{BEGIN}` … `{END}` marker lines nor a `## Benchmarks` heading; add one of them where the results should go")]
    NoSection,
}

/// Byte offsets of each line start, with the line's text (without its newline).
fn lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        out.push((start, line.trim_end_matches(['\n', '\r'])));
        start += line.len();
    }
    out
}

/// Level of an ATX heading (`## Title`), ignoring lines inside fenced code blocks (handled by the caller).
fn heading(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let level = trimmed.bytes().take_while(|&b| b == b'#').count();
    let rest = &trimmed[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with([' ', '\t'])))
        .then(|| (level, rest.trim().trim_end_matches('#').trim_end()))
}

/// Headings outside fenced code blocks: (line index, level, title).
fn headings(lines: &[(usize, &str)]) -> Vec<(usize, usize, String)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, (_, line)) in lines.iter().enumerate() {
        let t = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| t.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (None, None) => {
                if let Some((level, title)) = heading(line) {
                    out.push((i, level, title.to_owned()));
                }
            }
            _ => {}
        }
    }
    out
}

/// The card text with `content` in place of the old results.
pub fn splice(text: &str, content: &str) -> Result<String, SpliceError> {
    let lines = lines(text);
    let find =
        |m: &str| lines.iter().enumerate().filter(|(_, (_, l))| l.trim() == m).map(|(i, _)| i).collect::<Vec<_>>();
    let (begins, ends) = (find(BEGIN), find(END));
    let mut body = content.to_owned();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    match (begins.as_slice(), ends.as_slice()) {
        ([b], [e]) if b < e => {
            let from = lines.get(b + 1).map(|l| l.0).unwrap_or(text.len());
            let to = lines[*e].0;
            Ok(format!("{}{body}{}", &text[..from], &text[to..]))
        }
        ([], []) => {
            let hs = headings(&lines);
            let (pos, &(line, level, _)) = hs
                .iter()
                .enumerate()
                .find(|(_, h)| h.2.eq_ignore_ascii_case("benchmarks"))
                .ok_or(SpliceError::NoSection)?;
            let next = hs[pos + 1..].iter().find(|h| h.1 <= level).map(|h| lines[h.0].0);
            let from = lines.get(line + 1).map(|l| l.0).unwrap_or(text.len());
            let head = &text[..from];
            let sep = if head.ends_with('\n') { "" } else { "\n" };
            let tail = match next {
                Some(to) => format!("\n{}", &text[to..]),
                None => String::new(),
            };
            Ok(format!("{head}{sep}\n{BEGIN}\n{body}{END}\n{tail}"))
        }
        (b, e) => {
            let order = if b.len() == 1 && e.len() == 1 { " (the end marker comes first)" } else { "" };
            Err(SpliceError::Unbalanced { begins: b.len(), ends: e.len(), order })
        }
    }
}

/// Replaces `path` with `text` atomically, keeping its permissions ([`crate::files::atomic_write`]).
pub fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::files::atomic_write(path, text.as_bytes())
        .with_context(|| format!("updating the model card {}; is its directory writable?", path.display()))
}

/// Reads the card and returns its new text; errors name the file and leave it untouched.
pub fn updated(path: &Path, content: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--card {}: cannot read the model card", path.display()))?;
    splice(&text, content).with_context(|| format!("--card {}", path.display()))
}

/// `to` relative to the directory `from` (both made absolute first), with `/` separators for markdown links.
pub fn relative(from: &Path, to: &Path) -> anyhow::Result<String> {
    let abs = |p: &Path| std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()));
    let (from, to) = (abs(from)?, abs(to)?);
    let (f, t): (Vec<Component>, Vec<Component>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..f.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    let s = rel.to_string_lossy().replace('\\', "/");
    Ok(if s.is_empty() { ".".into() } else { s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_replaced_and_nothing_else_moves() {
        let card = "# Model\n\nintro\n<!-- etbench:begin -->\nold\n<!-- etbench:end -->\ntail ✓\n";
        let out = splice(card, "new").unwrap();
        assert_eq!(out, "# Model\n\nintro\n<!-- etbench:begin -->\nnew\n<!-- etbench:end -->\ntail ✓\n");
        assert_eq!(splice(&out, "new").unwrap(), out);
    }

    #[test]
    fn a_benchmarks_section_gets_markers_and_is_idempotent() {
        let card =
            "# Model\n\n## BENCHMARKS\n\nold table\n\n```\n# not a heading\n```\n### sub\nmore\n## Usage\nkeep\n";
        let once = splice(card, "T\n").unwrap();
        assert_eq!(
            once,
            "# Model\n\n## BENCHMARKS\n\n<!-- etbench:begin -->\nT\n<!-- etbench:end -->\n\n## Usage\nkeep\n"
        );
        assert_eq!(splice(&once, "T\n").unwrap(), once);
    }

    #[test]
    fn a_section_at_the_end_without_newline() {
        let once = splice("## Benchmarks", "T").unwrap();
        assert_eq!(once, "## Benchmarks\n\n<!-- etbench:begin -->\nT\n<!-- etbench:end -->\n");
        assert_eq!(splice(&once, "T").unwrap(), once);
    }

    #[test]
    fn unbalanced_or_missing_places_are_refused() {
        assert!(matches!(
            splice("<!-- etbench:begin -->\nx\n", "T"),
            Err(SpliceError::Unbalanced { begins: 1, ends: 0, .. })
        ));
        let reversed = "<!-- etbench:end -->\n<!-- etbench:begin -->\n";
        assert!(splice(reversed, "T").unwrap_err().to_string().contains("end marker comes first"));
        assert_eq!(splice("# Title\n## Usage\n", "T"), Err(SpliceError::NoSection));
        assert!(heading("    ## indented code").is_none());
        assert!(heading("##NoSpace").is_none());
    }

    #[test]
    fn relative_paths_between_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("card"), dir.path().join("reports/x"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        assert_eq!(relative(&a, &b).unwrap(), "../reports/x");
        assert_eq!(relative(&a, &a).unwrap(), ".");
    }
}
