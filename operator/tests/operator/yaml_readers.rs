//! What `render` prints means the same to every reader: adversarial strings (YAML 1.1 booleans,
//! nulls, numbers, sexagesimals, indicators, edge spaces, line breaks) are put into every
//! string field of the CRD — and every key of its free-form maps — of the full example; each
//! manifest the CRD admits is rendered, and every document (and alertmanager.yml) must read
//! back as the same JSON with serde_yaml (YAML 1.2) and with PyYAML (YAML 1.1, as kubectl's Go
//! YAML reads booleans). `crd` output is held to the same rule.

use crate::support::repo;
use dice_operator::children::Children;
use dice_operator::crd::DiceService;
use dice_operator::render::{self, alertmanager};
use dice_operator::validate::Defaults;
use kube::CustomResourceExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Strings a YAML reader may take for something else, and ordinary ones for contrast.
const ADVERSARIAL: &[&str] = &[
    "on",
    "off",
    "On",
    "OFF",
    "yes",
    "no",
    "Yes",
    "NO",
    "y",
    "n",
    "Y",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "",
    "0x1F",
    "0o17",
    "0b101",
    "017",
    "1e3",
    "1.5e+3",
    "-.5",
    "+1",
    ".inf",
    "-.Inf",
    ".NaN",
    "1_000",
    "12:30",
    "1:20:30",
    "2001-12-14",
    "=",
    "<<",
    "!tag",
    "&anchor",
    "*alias",
    "- item",
    "? key",
    "a: b",
    "x #y",
    "#comment",
    "{a}",
    "[a]",
    "|",
    ">",
    "%",
    "@",
    "`",
    "'",
    "\"",
    " lead",
    "trail ",
    "line\nbreak",
    "two\n\nlines\n",
    "\ttab",
    "nel\u{85}x",
    "ls\u{2028}x",
    "bom\u{feff}",
    "del\u{7f}",
    "ünïcödé ✓",
    "---",
    "...",
    "dice",
    "team-a",
    "{{ $labels.job }}",
    "50m",
    "1",
    "10s",
    "250ms",
    "http://on",
    "https://example.com/yes?no=off",
    "http://127.0.0.1:4318",
];

/// Every string-valued place in `schema`: `(path, is_map_key, its schema)`. Paths use `.name`,
/// `[]` for an array item and `{}` for a map value; a map key is its map's path plus the flag.
fn string_fields(schema: &Value, path: &str, found: &mut Vec<(String, bool, Value)>) {
    match schema["type"].as_str() {
        Some("string") => found.push((path.to_owned(), false, schema.clone())),
        Some("array") => string_fields(&schema["items"], &format!("{path}[]"), found),
        Some("object") => {
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                string_fields(property, &format!("{path}.{name}"), found);
            }
            if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                found.push((path.to_owned(), true, json!({"type": "string"})));
                string_fields(values, &format!("{path}{{}}"), found);
            }
        }
        _ => {}
    }
}

/// Sets `text` at `path` in `spec` (creating what is missing; array item 0, map key `k`), or,
/// for a map key, adds the entry `text: "v"`.
fn set(spec: &mut Value, path: &str, text: &str, map_key: bool) {
    let mut target = spec;
    let mut rest = path.trim_start_matches(".spec");
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[]") {
            if !target.is_array() || target.as_array().unwrap().is_empty() {
                *target = json!([{}]);
            }
            target = &mut target[0];
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{}") {
            if !target.is_object() || target.as_object().unwrap().is_empty() {
                *target = json!({"k": {}});
            }
            let key = target.as_object().unwrap().keys().next().unwrap().clone();
            target = &mut target[key.as_str()];
            rest = after;
        } else {
            let after = rest.trim_start_matches('.');
            let end = after.find(['.', '[', '{']).unwrap_or(after.len());
            if !target.is_object() {
                *target = json!({});
            }
            target = &mut target[&after[..end]];
            rest = &after[end..];
        }
    }
    if map_key {
        if !target.is_object() {
            *target = json!({});
        }
        target[text] = json!("v");
    } else {
        *target = json!(text);
    }
}

/// The full example, with what a field needs around it to be admitted: a claim to add a
/// `request` to, and for `history.storage` a claim instead of PostgreSQL (they exclude each other).
fn base_for(path: &str, full: &Value) -> Value {
    let mut service = full.clone();
    service["spec"]["resources"]["claims"] = json!([{"name": "gpu"}]);
    // Every list and selector of the embedded scheduling types holds one complete element, so
    // setting one string leaves the rest valid (an element missing `operator` does not parse).
    let selector = json!({"matchLabels": {"k": "v"},
        "matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]});
    let requirement = json!({"key": "a", "operator": "In", "values": ["x"]});
    let node_term = json!({"matchExpressions": [requirement], "matchFields": [requirement]});
    let pod_term = json!({"topologyKey": "k", "labelSelector": selector,
        "namespaceSelector": selector, "namespaces": ["n"], "matchLabelKeys": ["k"],
        "mismatchLabelKeys": ["m"]});
    let pod_affinity = json!({"requiredDuringSchedulingIgnoredDuringExecution": [pod_term],
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": pod_term}]});
    let spec = &mut service["spec"];
    spec["affinity"] = json!({
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [node_term]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": node_term}],
        },
        "podAffinity": pod_affinity,
        "podAntiAffinity": pod_affinity,
    });
    spec["topologySpreadConstraints"][0]["labelSelector"] = selector.clone();
    let peer = json!({"namespaceSelector": selector, "podSelector": selector});
    spec["networkPolicy"]["scrapers"] = peer.clone();
    spec["networkPolicy"]["probers"] = peer;
    if path.starts_with(".spec.history.storage") {
        let history = spec["history"].as_object_mut().unwrap();
        history.remove("postgres");
        history.insert("storage".into(), json!({"size": "1Gi"}));
        spec["replicas"] = json!(1);
        spec.as_object_mut().unwrap().remove("autoscaling");
    }
    service
}

fn full_example() -> Value {
    let path = repo("manifests/examples/full.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .find(|v: &Value| v["kind"] == "DiceService")
        .unwrap()
}

/// A YAML 1.1 reader: PyYAML from the test tools' virtualenv (`make test` installs it).
fn pyyaml() -> Option<PathBuf> {
    let python = repo(".tools/venv/bin/python");
    let works = Command::new(&python)
        .args(["-c", "import yaml"])
        .status()
        .is_ok_and(|s| s.success());
    works.then_some(python)
}

/// Every `(yaml, expected JSON)` pair read by PyYAML in one process; returns the mismatches.
fn pyyaml_mismatches(python: &Path, cases: &[(String, Value)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<Value> = cases
        .iter()
        .map(|(yaml, expected)| json!({"yaml": yaml, "expected": expected}))
        .collect();
    std::fs::write(
        dir.path().join("cases.json"),
        serde_json::to_vec(&input).unwrap(),
    )
    .unwrap();
    let script = r#"
import json, sys, yaml
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
for i, case in enumerate(json.load(open(sys.argv[1]))):
    try:
        read = yaml.load(case["yaml"], Loader=Loader)
    except Exception as e:
        print(f"case {i}: PyYAML refused it: {e}"); continue
    if read != case["expected"]:
        print(f"case {i}: PyYAML read something else:\n{case['yaml'][:2000]}")
"#;
    let output = crate::support::run_ok(
        Command::new(python)
            .args(["-c", script])
            .arg(dir.path().join("cases.json")),
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("case "))
        .map(|l| l.to_owned())
        .collect()
}

/// The adversarial strings the field's own enum, pattern and length admit (the CRD refuses the
/// rest before anything renders, so rendering them would test nothing), plus the enum values
/// and a string drawn from the pattern, so that constrained fields are exercised too.
fn candidates(schema: &Value) -> Vec<String> {
    let pattern = schema["pattern"]
        .as_str()
        .map(|p| regex::Regex::new(p).unwrap());
    let max = schema["maxLength"].as_u64().unwrap_or(u64::MAX) as usize;
    let enumerated: Vec<String> = schema["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let fits = |text: &str| {
        text.chars().count() <= max
            && pattern.as_ref().is_none_or(|p| p.is_match(text))
            && (enumerated.is_empty() || enumerated.iter().any(|e| e == text))
    };
    let mut candidates: Vec<String> = ADVERSARIAL
        .iter()
        .filter(|text| fits(text))
        .map(|text| (*text).to_owned())
        .collect();
    candidates.extend(enumerated.iter().cloned());
    if let Some(pattern) = schema["pattern"].as_str() {
        use proptest::strategy::{Strategy, ValueTree};
        let inner = pattern.trim_start_matches('^').trim_end_matches('$');
        let strategy = proptest::string::string_regex(inner).unwrap();
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        candidates.extend(
            (0..20)
                .map(|_| strategy.new_tree(&mut runner).unwrap().current())
                .find(|text| fits(text)),
        );
    }
    candidates.sort();
    candidates.dedup();
    candidates
}

/// The same JSON through serde_yaml (YAML 1.2), else a readable failure.
fn assert_yaml_1_2_reads(yaml: &str, expected: &Value, what: &str) {
    let read: Value = serde_yaml::from_str(yaml)
        .unwrap_or_else(|e| panic!("{what}: serde_yaml cannot read it ({e}):\n{yaml}"));
    assert!(
        &read == expected,
        "{what}: serde_yaml reads something else:\n{yaml}"
    );
}

#[test]
fn every_string_field_renders_to_yaml_every_reader_reads_alike() {
    let crd = serde_json::to_value(DiceService::crd()).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut fields = Vec::new();
    string_fields(schema, ".spec", &mut fields);
    // Affinity repeats two types four times over (node selector terms, pod affinity terms):
    // one of each carries every string they have, at a quarter of the renders.
    fields.retain(|(path, ..)| {
        !path.starts_with(".spec.affinity.")
            || path.starts_with(".spec.affinity.nodeAffinity.required")
            || path.starts_with(".spec.affinity.podAntiAffinity.preferred")
    });
    let base = full_example();
    let mut defaults = Defaults::with_image("dice-server:test");
    // Every string must reach the output: the admin's allow-lists would refuse most.
    defaults.probe_allow.probers = vec!["*".into()];
    defaults.probe_allow.modules = vec!["*".into()];
    defaults.pod_policy.annotation_prefixes = vec!["*".into()];
    defaults.pod_policy.priority_classes = vec!["*".into()];
    let secrets = alertmanager::SecretValues {
        slack_api_url: Some("http://127.0.0.1:9/slack".into()),
        pagerduty_routing_key: Some("0123456789abcdef0123456789abcdef".into()),
        pagerduty_url: None,
        from_manifest: Default::default(),
    };
    // Rendered text → what it must read as; identical documents are checked once.
    let mut cases: BTreeMap<String, Value> = BTreeMap::new();
    let mut admitted: BTreeMap<String, usize> = BTreeMap::new();
    let mut record = |rendered: &[(DiceService, Children)], what: &str| {
        for (_, children) in rendered {
            for (stem, object) in render::objects(children).unwrap() {
                let yaml = dice_operator::yaml::to_string(&object).unwrap();
                if let std::collections::btree_map::Entry::Vacant(entry) = cases.entry(yaml) {
                    assert_yaml_1_2_reads(entry.key(), &object, &format!("{what} {stem}"));
                    entry.insert(object);
                }
            }
            if let Some(config) = &children.alertmanager_config {
                let yml =
                    alertmanager::alertmanager_yml(std::slice::from_ref(config), &secrets).unwrap();
                let read: Value = serde_yaml::from_str(&yml).unwrap();
                cases.insert(yml, read);
            }
        }
    };
    let render = |service: &Value| {
        render::render_manifest(&serde_json::to_string(service).unwrap(), &defaults).ok()
    };
    // Each field with the strings its own schema admits. Free-form fields (most strings fit)
    // take one string each per render, rotated so every field meets every string; a refused
    // combination is retried field by field. Constrained fields render one string at a time.
    let fields: Vec<(String, String, bool, Vec<String>)> = fields
        .into_iter()
        .map(|(path, map_key, schema)| {
            let name = format!("{path}{}", if map_key { " (keys)" } else { "" });
            (name, path, map_key, candidates(&schema))
        })
        .collect();
    let (free, constrained): (Vec<_>, Vec<_>) = fields.iter().partition(|(_, path, _, c)| {
        c.len() >= ADVERSARIAL.len() / 2 && !path.contains("history.storage")
    });
    for (name, ..) in &fields {
        admitted.insert(name.clone(), 0);
    }
    // A string the manifest reader itself refuses (DEL, NEL in a JSON string) would fail every
    // combined render and send each round down the field-by-field path; those strings are
    // tried one field at a time below instead.
    let readable = |text: &String| {
        serde_yaml::from_str::<Value>(&serde_json::to_string(text).unwrap()).is_ok()
    };
    let free_readable: Vec<Vec<String>> = free
        .iter()
        .map(|(.., c)| c.iter().filter(|t| readable(t)).cloned().collect())
        .collect();
    let rounds = free_readable.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..rounds {
        let pick = |index: usize| {
            let c = &free_readable[index];
            c[(round + index) % c.len()].clone()
        };
        // All fields at once; a refused set is halved until the refused strings are alone, so
        // a round costs a few renders, not one per field.
        let mut pending = vec![(0..free.len()).collect::<Vec<usize>>()];
        while let Some(subset) = pending.pop() {
            let mut service = base_for("", &base);
            for &index in &subset {
                let (_, path, map_key, _) = &free[index];
                set(&mut service["spec"], path, &pick(index), *map_key);
            }
            if let Some(rendered) = render(&service) {
                record(
                    &rendered,
                    &format!("round {round}, {} fields", subset.len()),
                );
                for &index in &subset {
                    *admitted.get_mut(&free[index].0).unwrap() += 1;
                }
            } else if subset.len() > 1 {
                let (left, right) = subset.split_at(subset.len() / 2);
                pending.push(left.to_vec());
                pending.push(right.to_vec());
            }
        }
    }
    let unreadable = free
        .iter()
        .map(|(name, path, map_key, c)| {
            let refused = c.iter().filter(|t| !readable(t)).cloned().collect();
            (name, path, map_key, refused)
        })
        .collect::<Vec<(&String, &String, &bool, Vec<String>)>>();
    let constrained_all = constrained
        .iter()
        .map(|(name, path, map_key, c)| (name, path, map_key, c.clone()));
    for (name, path, map_key, c) in unreadable.into_iter().chain(constrained_all) {
        for text in &c {
            let mut service = base_for(path, &base);
            set(&mut service["spec"], path, text, *map_key);
            if let Some(rendered) = render(&service) {
                record(&rendered, &format!("{name}={text:?}"));
                *admitted.get_mut(name).unwrap() += 1;
            }
        }
    }
    let crd_yaml = dice_operator::yaml::to_string(&crd).unwrap();
    assert_yaml_1_2_reads(&crd_yaml, &crd, "crd");
    cases.insert(crd_yaml, crd.clone());

    println!(
        "{} strings tried in {} string fields and map keys:",
        ADVERSARIAL.len(),
        fields.len()
    );
    for (field, count) in &admitted {
        println!("  {field}: {count} admitted");
    }
    let never: Vec<&String> = admitted
        .iter()
        .filter(|(_, c)| **c == 0)
        .map(|(f, _)| f)
        .collect();
    assert!(
        never.is_empty(),
        "fields no string reached the output through: {never:?}"
    );
    let free_form = admitted
        .values()
        .filter(|c| **c >= ADVERSARIAL.len() / 2)
        .count();
    assert!(
        free_form >= 10,
        "too few free-form fields took the adversarial strings"
    );
    let cases: Vec<(String, Value)> = cases.into_iter().collect();
    match pyyaml() {
        Some(python) => {
            let mismatches = pyyaml_mismatches(&python, &cases);
            assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
            println!(
                "PyYAML (YAML 1.1) read {} distinct documents as serde_yaml did",
                cases.len()
            );
        }
        None => println!(
            "SKIP: PyYAML is not in .tools/venv (make test installs it); YAML 1.1 reading skipped"
        ),
    }
}

/// The reproduction from the issue: the default spec's `DICE_GPU=off` was written unquoted.
#[test]
fn the_default_spec_renders_every_env_value_as_a_string_for_yaml_1_1() {
    let manifest = std::fs::read_to_string(repo("manifests/examples/minimal.yaml")).unwrap();
    let rendered = render::render_manifest(&manifest, &Defaults::with_image("x:1")).unwrap();
    let documents = render::documents(&rendered[0].1).unwrap();
    let (_, deployment) = documents.iter().find(|(s, _)| *s == "deployment").unwrap();
    assert!(deployment.contains("value: \"off\""), "{deployment}");
    assert!(!deployment.contains("value: off"), "{deployment}");
}

/// The committed YAML users apply or install (generated CRD and its chart copy, the install
/// manifest, the examples, the chart's values) reads the same under YAML 1.1 and 1.2.
#[test]
fn committed_manifests_read_alike_under_yaml_1_1_and_1_2() {
    let Some(python) = pyyaml() else {
        println!("SKIP: PyYAML is not in .tools/venv (make test installs it)");
        return;
    };
    let files = [
        "crds/diceservice.yaml",
        "charts/dice-operator/crds/diceservice.yaml",
        "charts/dice-operator/values.yaml",
        "manifests/install.yaml",
        "manifests/examples/minimal.yaml",
        "manifests/examples/gpu.yaml",
        "manifests/examples/full.yaml",
    ];
    let script = "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None], default=repr))";
    for file in files {
        let path = repo(file);
        let output = Command::new(&python)
            .args(["-c", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let yaml_1_1: Value = serde_json::from_slice(&output.stdout).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let yaml_1_2: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .filter(|v: &Value| !v.is_null())
            .collect();
        assert!(
            yaml_1_1 == Value::Array(yaml_1_2),
            "{file} reads differently under YAML 1.1 and 1.2"
        );
    }
}
