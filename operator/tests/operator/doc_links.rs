//! The docs a newcomer follows do not lead nowhere: every relative link in README.md and docs/
//! names a file that exists, so does every repository file they name in code, and every
//! `make <target>` they show is a target of the Makefile.

use crate::support::repo;
use regex::Regex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo("docs"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// Text outside backticks and fenced code blocks: where links are (a regex in a code span is
/// not a link).
fn prose(markdown: &str) -> String {
    let mut found = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            found.extend(line.split('`').step_by(2).map(|part| format!("{part} ")));
            found.push('\n');
        }
    }
    found
}

/// Text inside backticks and fenced code blocks: where commands are shown.
fn code(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            found.push(line.to_owned());
        } else {
            found.extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
        }
    }
    found
}

#[test]
fn every_relative_link_in_the_docs_names_a_file_that_exists() {
    let link = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = prose(&std::fs::read_to_string(&page).unwrap());
        let dir = page.parent().unwrap();
        for target in link.captures_iter(&text).map(|c| c[1].to_owned()) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            checked += 1;
            if !dir.join(path).exists() {
                broken.push(format!("{}: {target}", display(&page)));
            }
        }
    }
    assert!(
        checked > 30,
        "only {checked} links found: is the pattern right?"
    );
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_make_target_the_docs_show_exists() {
    let makefile = std::fs::read_to_string(repo("Makefile")).unwrap();
    let target = Regex::new(r"(?m)^([a-z][a-z0-9-]*):").unwrap();
    let targets: BTreeSet<String> = target
        .captures_iter(&makefile)
        .map(|c| c[1].to_owned())
        .collect();
    let shown = Regex::new(r"(?:^|[\s;(])make ([a-z][a-z0-9-]*)").unwrap();
    let mut missing = Vec::new();
    let mut checked = BTreeSet::new();
    for page in pages() {
        for snippet in code(&std::fs::read_to_string(&page).unwrap()) {
            for name in shown.captures_iter(&snippet).map(|c| c[1].to_owned()) {
                checked.insert(name.clone());
                if !targets.contains(&name) {
                    missing.push(format!("{}: make {name}", display(&page)));
                }
            }
        }
    }
    assert!(
        checked.contains("test") && checked.contains("demo"),
        "{checked:?}"
    );
    assert!(
        missing.is_empty(),
        "targets the Makefile lacks:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_repository_file_the_docs_name_exists() {
    // A path in code that starts at a top-level folder of this repository, e.g.
    // `operator/tests/operator/faults.rs`: moved files otherwise leave the docs pointing nowhere.
    let folders: Vec<String> = std::fs::read_dir(repo(""))
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.') && name != "target")
        .collect();
    let path =
        Regex::new(r"(?:^|[\s(`'\x22])([a-z][a-z0-9_-]*/[A-Za-z0-9_./-]*\.[a-z]+)\b").unwrap();
    let mut missing = Vec::new();
    let mut checked = 0;
    for page in pages() {
        for snippet in code(&std::fs::read_to_string(&page).unwrap()) {
            for name in path.captures_iter(&snippet).map(|c| c[1].to_owned()) {
                let top = name.split('/').next().unwrap_or_default();
                if !folders.iter().any(|folder| folder == top) || name.contains('*') {
                    continue;
                }
                checked += 1;
                if !repo(&name).exists() {
                    missing.push(format!("{}: {name}", display(&page)));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} paths found: is the pattern right?"
    );
    assert!(
        missing.is_empty(),
        "files the docs name that do not exist:\n{}",
        missing.join("\n")
    );
}

fn display(path: &Path) -> String {
    path.strip_prefix(repo(""))
        .unwrap_or(path)
        .display()
        .to_string()
}
