//! The Dockerfiles, linted without an engine (none runs here): multi-stage, a distroless final
//! stage, a numeric non-root user, exec-form entrypoints, locked builds with the workspace's
//! toolchain, and nothing fetched by URL.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

struct Dockerfile {
    name: &'static str,
    instructions: Vec<(String, String)>,
}

/// Instructions with continuation lines joined, comments and blank lines dropped.
fn parse(name: &'static str) -> Dockerfile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../images")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        current.push_str(line.trim_end_matches('\\'));
        current.push(' ');
        if !line.ends_with('\\') {
            let (keyword, rest) = current.trim().split_once(' ').unwrap();
            instructions.push((keyword.to_uppercase(), rest.trim().to_owned()));
            current.clear();
        }
    }
    Dockerfile { name, instructions }
}

impl Dockerfile {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, rest)| rest.as_str())
            .collect()
    }

    /// Instructions after the last FROM.
    fn final_stage(&self) -> &[(String, String)] {
        let last = self
            .instructions
            .iter()
            .rposition(|(k, _)| k == "FROM")
            .unwrap();
        &self.instructions[last..]
    }
}

const IMAGES: [&str; 2] = ["dice-operator.Dockerfile", "dice-server.Dockerfile"];

#[test]
fn builds_are_multi_stage_with_a_distroless_non_root_final_image() {
    for name in IMAGES {
        let file = parse(name);
        let froms = file.all("FROM");
        assert!(froms.len() >= 2, "{name}: one stage builds, another runs");
        assert!(froms[0].ends_with(" AS build"), "{name}: {froms:?}");
        let final_stage = file.final_stage();
        assert!(
            final_stage[0].1.starts_with("gcr.io/distroless/"),
            "{name}: {}",
            final_stage[0].1
        );
        assert!(
            final_stage[0].1.ends_with(":nonroot"),
            "{name}: {}",
            final_stage[0].1
        );
        let user = final_stage
            .iter()
            .find(|(k, _)| k == "USER")
            .map(|(_, u)| u.as_str());
        assert_eq!(
            user,
            Some("65532:65532"),
            "{name}: a numeric non-root UID (runAsNonRoot can check it)"
        );
        let entrypoint = final_stage.iter().find(|(k, _)| k == "ENTRYPOINT").unwrap();
        assert!(
            entrypoint.1.starts_with("[\""),
            "{name}: exec form, no shell in distroless"
        );
        assert!(
            final_stage.iter().all(|(k, _)| k != "RUN"),
            "{name}: nothing runs in the final stage"
        );
        assert!(
            final_stage
                .iter()
                .any(|(k, rest)| k == "COPY" && rest.starts_with("--from=build")),
            "{}",
            file.name
        );
    }
}

#[test]
fn builds_are_locked_use_the_workspace_toolchain_and_fetch_nothing_by_url() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
            .unwrap();
    let minimum: Vec<u32> = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .unwrap()
        .trim_end_matches('"')
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    for name in IMAGES {
        let file = parse(name);
        let builder = file.all("FROM")[0];
        let version: Vec<u32> = builder
            .split(':')
            .nth(1)
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .split('.')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(
            version >= minimum,
            "{name}: builder {version:?} older than rust-version {minimum:?}"
        );
        assert!(
            file.all("RUN")
                .iter()
                .any(|r| r.contains("cargo build --release --locked")),
            "{name}"
        );
        assert!(file.all("ADD").is_empty(), "{name}: COPY only, no ADD");
        assert!(
            file.instructions
                .iter()
                .all(|(_, rest)| !rest.contains("curl ") && !rest.contains("wget ")),
            "{name}: nothing downloaded outside cargo"
        );
    }
}
