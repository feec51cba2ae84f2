//! The Dockerfiles, linted: multi-stage, upstream images pinned by digest, a distroless final
//! stage, a numeric non-root user, exec-form entrypoints, locked builds with the workspace's
//! toolchain, and nothing fetched by URL. `containers` runs the built images.

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

    /// The default of a global `ARG NAME=value`.
    fn arg(&self, name: &str) -> Option<&str> {
        self.all("ARG")
            .into_iter()
            .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
    }

    /// A FROM's image with `${ARG}` resolved to the argument's default.
    fn resolve<'a>(&'a self, image: &'a str) -> &'a str {
        image
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .and_then(|name| self.arg(name))
            .unwrap_or(image)
    }

    /// The stage named `name`: its FROM image (resolved) and its instructions.
    fn stage(&self, name: &str) -> (&str, &[(String, String)]) {
        let start = self
            .instructions
            .iter()
            .position(|(k, rest)| k == "FROM" && rest.ends_with(&format!(" AS {name}")))
            .unwrap_or_else(|| panic!("{}: no stage {name}", self.name));
        let end = self.instructions[start + 1..]
            .iter()
            .position(|(k, _)| k == "FROM")
            .map_or(self.instructions.len(), |p| start + 1 + p);
        let image = self.instructions[start].1.split(' ').next().unwrap();
        (self.resolve(image), &self.instructions[start..end])
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

/// `registry/name:tag@sha256:<64 hex>`.
fn pinned_by_digest(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(name, digest)| {
        name.contains(':') && digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit())
    })
}

#[test]
fn builds_are_multi_stage_with_a_distroless_non_root_final_image_pinned_by_digest() {
    for name in IMAGES {
        let file = parse(name);
        let (builder, _) = file.stage("compile");
        assert!(pinned_by_digest(builder), "{name}: builder {builder}");
        let (prebuilt, _) = file.stage("prebuilt");
        assert_eq!(prebuilt, "scratch", "{name}: prebuilt binaries only");
        assert_eq!(
            file.arg("BINARIES"),
            Some("compile"),
            "{name}: source builds by default"
        );
        let final_stage = file.final_stage();
        let base = file.resolve(&final_stage[0].1);
        assert!(base.starts_with("gcr.io/distroless/"), "{name}: {base}");
        assert!(base.contains(":nonroot@"), "{name}: {base}");
        assert!(pinned_by_digest(base), "{name}: {base}");
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
        // One final layout: whichever way the binaries were made, they come from one stage.
        let copies: Vec<&str> = final_stage
            .iter()
            .filter(|(k, _)| k == "COPY")
            .map(|(_, rest)| rest.as_str())
            .collect();
        assert!(
            !copies.is_empty() && copies.iter().all(|c| c.starts_with("--from=binaries ")),
            "{name}: {copies:?}"
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
        let (builder, compile) = file.stage("compile");
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
            compile
                .iter()
                .any(|(k, r)| k == "RUN" && r.contains("cargo build --release --locked")),
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
