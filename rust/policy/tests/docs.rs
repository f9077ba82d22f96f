// SPDX-License-Identifier: GPL-2.0

//! The admin guide (Documentation/iofollow.rst) documents exactly the table
//! features, messages and status fields the policy core parses: a feature
//! added to `FEATURES`, `MESSAGES` or `FIELDS` without its documentation
//! fails here, and so does documentation of one that is gone.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use iofollow_policy::message::MESSAGES;
use iofollow_policy::status::FIELDS;
use iofollow_policy::table::FEATURES;
use std::collections::BTreeSet;

fn guide() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../Documentation/iofollow.rst"
    );
    std::fs::read_to_string(path).unwrap()
}

/// The rows of the first reStructuredText simple table after `start`:
/// the lines between its two first rulers (`=== ===`).
fn first_table<'a>(text: &'a str, start: &str) -> Vec<&'a str> {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no '{start}' in iofollow.rst"));
    let ruler = |l: &str| l.starts_with("===") && l.contains(' ');
    text[from..]
        .lines()
        .skip_while(|l| !ruler(l))
        .skip(1)
        .take_while(|l| !ruler(l))
        .collect()
}

/// The first word of each row that starts with ``word``.
fn table_names(rows: &[&str]) -> BTreeSet<String> {
    rows.iter()
        .filter_map(|l| l.strip_prefix("``"))
        .map(|l| {
            l.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn every_table_feature_is_documented() {
    let text = guide();
    let documented = table_names(&first_table(&text, "Feature arguments"));
    let parsed: BTreeSet<String> = FEATURES.iter().map(|f| f.name.to_string()).collect();
    assert_eq!(documented, parsed);
}

#[test]
fn every_message_is_documented() {
    let text = guide();
    let documented = table_names(&first_table(&text, "Messages\n--------"));
    let parsed: BTreeSet<String> = MESSAGES.iter().map(|v| v.name.to_string()).collect();
    assert_eq!(documented, parsed);
}

#[test]
fn every_status_field_is_documented() {
    let text = guide();
    let documented = table_names(&first_table(&text, "Status\n------"));
    let parsed: BTreeSet<String> = FIELDS.iter().map(|f| f.to_string()).collect();
    assert_eq!(documented, parsed);
}
