//! structured-merge against structured-merge-diff's own test cases, read as data from
//! ../shared/third_party/structured-merge-diff (unmodified upstream files; see its SOURCE.md):
//! every `TestCase` of `merge/*_test.go` and every object/field-set pair of
//! `typed/toset_test.go`. Prints how many pass; every case that does not is listed in
//! `KNOWN_DIFFERENCES` with the reason, and the test fails when the list is not exact.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod cases;
mod golit;
mod kubernetes;
mod state;

use std::path::{Path, PathBuf};
use structured_merge::TypeRef;
use structured_merge::schema::Schema;

const CONVERT: &str = "runs with a custom converter between API versions; the fake API server \
    serves one version per kind and converts nothing";
const IGNORE: &str = "uses the updater's ignored-fields option, which the API server sets for \
    the status and scale reset fields; the fake resets those before the merge instead";
const SCHEMA_CHANGE: &str = "changes the schema between operations (atomic to granular, new list \
    keys); reconciling stored field sets with a changed schema is not implemented";
const DUPLICATES: &str = "a stored list holding one key twice (possible only through an \
    update): upstream owns and merges such elements whole; here they merge as null values";
const EXTRACT_EMPTY: &str = "an extract-apply that first applied an empty list or map: upstream \
    then prunes the other applier's item; not reproduced";
const DEDUCED_RECURSIVE: &str = "a second applier of a deduced nested map: upstream finds no \
    conflict on the shared parent map; here the parent conflicts";
const BENCHMARK: &str = "a benchmark reading schema files the upstream copy does not ship";

/// Upstream cases this implementation does not reproduce, each with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "merge/duplicates_test.go TestDuplicates/list/ownership/change_duplicated_items",
        DUPLICATES,
    ),
    (
        "merge/duplicates_test.go TestDuplicates/list/ownership/change_fields_duplicated_items",
        DUPLICATES,
    ),
    (
        "merge/duplicates_test.go TestDuplicates/list/ownership/add_duplicated_items_different_field",
        DUPLICATES,
    ),
    (
        "merge/duplicates_test.go TestDuplicates/list/merge/change_duplicated_item",
        DUPLICATES,
    ),
    (
        "merge/duplicates_test.go TestDuplicates/list/merge/unchanged_duplicated_item",
        DUPLICATES,
    ),
    (
        "merge/duplicates_test.go TestDuplicates/list/merge/apply_update_duplicates_apply_without",
        DUPLICATES,
    ),
    (
        "merge/extract_apply_test.go TestExtractApply/extract_apply_empty_structure_add_later_list",
        EXTRACT_EMPTY,
    ),
    (
        "merge/extract_apply_test.go TestExtractApply/extract_apply_empty_structure_add_later_map",
        EXTRACT_EMPTY,
    ),
    (
        "merge/ignore_test.go TestIgnoreFilter/update_does_not_own_ignored",
        IGNORE,
    ),
    (
        "merge/ignore_test.go TestIgnoreFilter/update_does_not_own_deep_ignored",
        IGNORE,
    ),
    (
        "merge/ignore_test.go TestIgnoreFilter/apply_does_not_own_ignored",
        IGNORE,
    ),
    (
        "merge/ignore_test.go TestIgnoreFilter/apply_does_not_own_deep_ignored",
        IGNORE,
    ),
    (
        "merge/ignore_test.go TestIgnoredFields/update_does_not_own_ignored",
        IGNORE,
    ),
    (
        "merge/ignore_test.go TestIgnoredFields/update_does_not_own_deep_ignored",
        IGNORE,
    ),
    (
        "merge/ignore_test.go TestIgnoredFields/apply_does_not_own_ignored",
        IGNORE,
    ),
    (
        "merge/ignore_test.go TestIgnoredFields/apply_does_not_own_deep_ignored",
        IGNORE,
    ),
    (
        "merge/ignore_test.go TestFilteredFieldsUsesVersions/does_use_ignored_fields_versions",
        CONVERT,
    ),
    (
        "merge/ignore_test.go TestFilteredFieldsUsesVersions/update_does_not_steal_ignored",
        CONVERT,
    ),
    (
        "merge/ignore_test.go TestFilteredFieldsUsesVersions/apply_does_not_steal_ignored",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go testMultipleAppliersFieldUnsetting/unset_scalar_sole_owner",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go testMultipleAppliersFieldUnsetting/unset_scalar_shared_with_applier",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go testMultipleAppliersFieldUnsetting/unset_scalar_shared_with_updater",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go testMultipleAppliersFieldUnsetting/updater_claims_field",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go testMultipleAppliersFieldUnsetting/unset_complex_sole_owner",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go testMultipleAppliersFieldUnsetting/unset_complex_shared_with_applier",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go TestMultipleAppliersDeducedType/multiple_appliers_recursive_map_deduced",
        DEDUCED_RECURSIVE,
    ),
    (
        "merge/multiple_appliers_test.go TestMultipleAppliersRealConversion/multiple_appliers_recursive_map_real_conversion",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go TestMultipleAppliersRealConversion/appliers_remove_from_controller_real_conversion",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go TestMultipleAppliersRealConversion/applier_updater_shared_ownership_real_conversion",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go testMultipleAppliersFieldRenameConversions/updater_claims_field",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go BenchmarkMultipleApplierRecursiveRealConversion",
        CONVERT,
    ),
    (
        "merge/multiple_appliers_test.go TestMultipleAppliersReliantFieldsConversions/multiple_versions_with_reliant_fields",
        CONVERT,
    ),
    ("merge/real_test.go BenchmarkOperations", BENCHMARK),
    (
        "merge/schema_change_test.go TestGranularToAtomicSchemaChanges/to-atomic",
        SCHEMA_CHANGE,
    ),
    (
        "merge/schema_change_test.go TestGranularToAtomicSchemaChanges/to-atomic-owner-with-no-child-fields",
        SCHEMA_CHANGE,
    ),
    (
        "merge/schema_change_test.go TestAtomicToGranularSchemaChanges/to-granular",
        SCHEMA_CHANGE,
    ),
    (
        "merge/schema_change_test.go TestAssociativeListSchemaChanges/new required key with default",
        SCHEMA_CHANGE,
    ),
    (
        "merge/schema_change_test.go TestAssociativeListSchemaChanges/new optional key",
        SCHEMA_CHANGE,
    ),
    (
        "merge/schema_change_test.go TestPromoteFieldToAssociativeListKey/identical item merges",
        SCHEMA_CHANGE,
    ),
    (
        "merge/schema_change_test.go TestPromoteFieldToAssociativeListKey/distinct item added",
        SCHEMA_CHANGE,
    ),
    (
        "merge/schema_change_test.go TestPromoteFieldToAssociativeListKey/item missing new key field is distinct",
        SCHEMA_CHANGE,
    ),
];

fn upstream() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/third_party/structured-merge-diff");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIP: ../shared/third_party/structured-merge-diff is absent; conformance is not checked"
        );
        None
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Every case's id and, where it fails, why.
fn outcomes(dir: &Path) -> Vec<(String, Result<(), String>)> {
    let mut outcomes = Vec::new();
    let mut files: Vec<String> = std::fs::read_dir(dir.join("merge"))
        .expect("merge/ is readable")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with("_test.go"))
        .collect();
    files.sort();
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|file| {
            let path = format!("merge/{file}");
            let source = read(dir, &path);
            (path, source)
        })
        .collect();
    let parsers: Vec<_> = sources
        .iter()
        .flat_map(|(_, source)| cases::parsers(&golit::tokenize(source).expect("Go source")))
        .collect();
    for (path, source) in &sources {
        let found = cases::merge_cases(path, source, &parsers).unwrap_or_else(|e| panic!("{e}"));
        for case in found {
            let outcome = state::run(&case);
            outcomes.push((case.id, outcome));
        }
    }
    let toset = cases::field_set_cases(&read(dir, "typed/toset_test.go")).expect("toset cases");
    for case in toset {
        let outcome = field_set_outcome(&case);
        outcomes.push((case.id, outcome));
    }
    outcomes
}

fn field_set_outcome(case: &cases::FieldSetCase) -> Result<(), String> {
    let expected = case.set.clone()?;
    let schema = Schema::from_smd_yaml(&case.schema).map_err(|e| e.to_string())?;
    let object = state::yaml(&case.object)?;
    let got = schema
        .to_field_set(&object, &TypeRef::named(&case.root))
        .map_err(|e| e.to_string())?;
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "expected {}, got {}",
            expected.to_fields_v1(),
            got.to_fields_v1()
        ))
    }
}

#[test]
fn upstream_cases_pass_except_the_listed_ones() {
    let Some(dir) = upstream() else {
        return;
    };
    let outcomes = outcomes(&dir);
    let passed = outcomes.iter().filter(|(_, o)| o.is_ok()).count();
    println!(
        "conformance: {passed} of {} structured-merge-diff cases pass",
        outcomes.len()
    );
    let mut surprises = Vec::new();
    for (id, outcome) in &outcomes {
        let listed = KNOWN_DIFFERENCES.iter().find(|(known, _)| known == id);
        match (outcome, listed) {
            (Err(why), None) => surprises.push(format!("FAILS (not listed): {id}: {why}")),
            (Ok(()), Some(_)) => surprises.push(format!("PASSES (listed as a difference): {id}")),
            (Err(_), Some((_, reason))) => println!("known difference: {id}: {reason}"),
            (Ok(()), None) => {}
        }
    }
    for (known, _) in KNOWN_DIFFERENCES {
        if !outcomes.iter().any(|(id, _)| id == known) {
            surprises.push(format!("listed but not found upstream: {known}"));
        }
    }
    assert!(surprises.is_empty(), "{}", surprises.join("\n"));
}

/// The FieldsV1 files of upstream's testdata read and written back unchanged (the form
/// `metadata.managedFields` holds).
#[test]
fn upstream_fields_v1_files_round_trip() {
    let Some(dir) = upstream() else {
        return;
    };
    for file in [
        "podset.json",
        "nodeset.json",
        "prometheus-crdset.json",
        "endpointsset.json",
    ] {
        let text = read(&dir, &format!("internal/testdata/{file}"));
        let fields: serde_json::Value = serde_json::from_str(&text).expect(file);
        let set = structured_merge::Set::from_fields_v1(&fields).expect(file);
        assert_eq!(set.to_fields_v1(), fields, "{file}");
        println!("{file}: {} paths round-trip", set.len());
    }
}
