//! `consentgate policy check` and the gateway's refusal to start on an invalid policy set.

use std::path::{Path, PathBuf};

use crate::helpers::{consentgate, write_fresh_config};

/// A copy of the bundled policy folder that a test may break.
fn policy_copy(dir: &Path) -> PathBuf {
    let out = dir.join("policies");
    std::fs::create_dir_all(&out).unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(bundled).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), out.join(entry.file_name())).unwrap();
    }
    out
}

#[test]
fn the_bundled_policy_set_checks_clean_with_its_version() {
    let output = consentgate()
        .args(["policy", "check"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(stdout.contains("sha256:"), "{stdout}");
}

#[test]
fn a_syntax_error_is_reported_with_its_file_and_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let policies = policy_copy(dir.path());
    let file = policies.join("release_table.cedar");
    let text = std::fs::read_to_string(&file).unwrap();
    // The third line of the appended rule (after a blank line) is broken.
    let broken_line = text.lines().count() + 4;
    std::fs::write(
        &file,
        format!("{text}\n@id(\"broken\")\npermit (principal, action, resource)\nwhen {{ context.purpose == }};\n"),
    )
    .unwrap();
    let output = consentgate()
        .args(["policy", "check"])
        .arg(&policies)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("release_table.cedar:{broken_line}:")),
        "{stderr}"
    );
}

#[test]
fn a_set_without_a_prohibited_purpose_forbid_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policies = policy_copy(dir.path());
    let file = policies.join("prohibited.cedar");
    let text = std::fs::read_to_string(&file).unwrap();
    // Remove the whole rule, from its `@id` to its closing `};`.
    let start = text
        .find("@id(\"prohibited.advertising\")")
        .expect("the advertising rule");
    let end = start + text[start..].find("};").unwrap() + 2;
    std::fs::write(&file, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let output = consentgate()
        .args(["policy", "check"])
        .arg(&policies)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("advertising"));
}

#[test]
fn serve_refuses_to_start_on_an_invalid_policy_set() {
    let dir = tempfile::tempdir().unwrap();
    let policies = policy_copy(dir.path());
    std::fs::write(
        policies.join("extra.cedar"),
        "permit (principal, action, resource) when { nonsense };\n",
    )
    .unwrap();
    let (_, path) = write_fresh_config(
        dir.path(),
        "sqlite://x.db",
        "[policies]\ndir = \"policies\"\n",
    );
    let output = consentgate()
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("extra.cedar"), "{stderr}");
    assert!(
        !dir.path().join("x.db").exists(),
        "nothing was opened before the policy check"
    );
}
