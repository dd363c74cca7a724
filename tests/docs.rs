//! The documentation's shape: README stays a front page (a line budget),
//! every relative link in README.md and doc/*.md reaches an existing
//! file and, when it names one, an existing heading anchor, and
//! doc/testing.md names every test file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// README is a front page: what it is, the two commands, how it works, the
/// platforms and links. Everything else lives in doc/.
const README_LINE_BUDGET: usize = 250;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every doc/*.md.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("doc"))
        .expect("doc/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(!docs.is_empty(), "doc/ holds no .md page");
    pages.extend(docs);
    pages
}

/// The page's lines outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The anchor a Markdown renderer gives a heading: lowercase, spaces to
/// hyphens, punctuation other than `-` and `_` dropped; a repeated heading
/// gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while seen.contains(&unique) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
        seen.insert(unique);
    }
    seen
}

/// The targets of the page's inline links and images, `[text](target)`,
/// outside code blocks and code spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(text) {
        // Drop code spans: a `](` inside one is not a link.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push(rest[..end].trim().to_string());
            rest = &rest[end..];
        }
    }
    targets
}

#[test]
fn readme_stays_within_its_line_budget() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= README_LINE_BUDGET,
        "README.md has {lines} lines, more than its budget of {README_LINE_BUDGET}: \
         move the detail into the page of doc/ where its reader looks"
    );
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        let name = page.strip_prefix(repo()).unwrap().display().to_string();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let file: &Path = if path.is_empty() {
                &page
            } else {
                &dir.join(path)
            };
            if !file.exists() {
                broken.push(format!("{name}: {target}: no file {}", file.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let is_markdown = file.extension().is_some_and(|e| e == "md");
                let known = is_markdown
                    && anchors(&std::fs::read_to_string(file).unwrap()).contains(anchor);
                if !known {
                    broken.push(format!("{name}: {target}: no heading #{anchor} there"));
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} relative links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_follow_the_renderers_rules() {
    let page = "# Install on OpenBSD (pf)\n```\n# not a heading\n```\n### `--max-blksize`\n## Flags\n## Flags\n";
    let found = anchors(page);
    let expected: BTreeSet<String> = ["install-on-openbsd-pf", "--max-blksize", "flags", "flags-1"]
        .map(String::from)
        .into();
    assert_eq!(found, expected);
    assert_eq!(
        link_targets("see [a](x.md#y) and `[b](not-a-link)`, ![c](d.png)"),
        ["x.md#y", "d.png"]
    );
}

#[test]
fn testing_guide_names_every_test_file() {
    let guide = std::fs::read_to_string(repo().join("doc/testing.md")).expect("doc/testing.md");
    let mut missing = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("tests")).expect("tests/") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            seen += 1;
            if !guide.contains(&format!("`tests/{name}`")) {
                missing.push(name);
            }
        }
    }
    assert!(seen >= 10, "only {seen} test files found");
    assert!(
        missing.is_empty(),
        "doc/testing.md does not say what these test: {missing:?}"
    );
}
