//! A real headless Chromium (Debian's `chromium`; `scripts/test.sh` installs it) loading a page: its DOM after the
//! load, the console messages it printed, and a screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one page load produced.
pub struct Load {
    /// The DOM after the load event (`--dump-dom`).
    pub dom: String,
    /// Every console message of the page (any level: Chromium prints them all as `INFO:CONSOLE`), and every
    /// uncaught exception or failed resource load, which it reports the same way.
    pub console: Vec<String>,
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium is installed; `false` as [`require`](super::require) says. Tests that load a page ask it first.
#[must_use]
#[track_caller]
pub fn installed() -> bool {
    let check = if Path::new(CHROMIUM).is_file() {
        Ok(())
    } else {
        Err(format!("{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/test.sh installs it)"))
    };
    super::require("Chromium", check)
}

pub fn chromium() -> PathBuf {
    let path = PathBuf::from(CHROMIUM);
    assert!(path.is_file(), "{} is missing: browser::installed() first", path.display());
    path
}

fn command(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// `file://` URL of `page`, with an optional `#fragment`.
pub fn url(page: &Path, fragment: &str) -> String {
    let page = page.canonicalize().unwrap();
    let mut url = format!("file://{}", page.display());
    if !fragment.is_empty() {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

/// Loads `url` in a fresh profile and dumps its DOM.
pub fn load(url: &str) -> Load {
    let profile = tempfile::tempdir().unwrap();
    let out = command(profile.path()).arg("--dump-dom").arg(url).output().unwrap();
    assert!(out.status.success(), "chromium {url}: {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let console =
        String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_owned).collect();
    Load { dom: String::from_utf8_lossy(&out.stdout).into_owned(), console }
}

/// Saves a PNG of `url` at `width` × `height` CSS pixels.
pub fn screenshot(url: &str, png: &Path, (width, height): (u32, u32)) {
    let profile = tempfile::tempdir().unwrap();
    let out = command(profile.path())
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --screenshot {url}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", png.display());
}

/// The start tags of `dom` that carry `attr="value"` (the text between `<` and `>`).
pub fn tags_with<'a>(dom: &'a str, attr: &str, value: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"{value}\"");
    dom.match_indices(&needle)
        .map(|(i, _)| {
            let start = dom[..i].rfind('<').unwrap();
            let end = i + dom[i..].find('>').unwrap();
            &dom[start..=end]
        })
        .collect()
}

/// The value of `attr` in a start tag (`None` when absent).
pub fn attr(tag: &str, attr: &str) -> Option<String> {
    let needle = format!(" {attr}=\"");
    let i = tag.find(&needle)? + needle.len();
    let len = tag[i..].find('"')?;
    Some(tag[i..i + len].replace("&amp;", "&"))
}

/// The numeric `attr` of the element with `id`.
pub fn number(dom: &str, id: &str, name: &str) -> usize {
    let tags = tags_with(dom, "id", id);
    assert_eq!(tags.len(), 1, "one element #{id} in the DOM");
    attr(tags[0], name).unwrap_or_else(|| panic!("#{id} has no {name}: {}", tags[0])).parse().unwrap()
}
