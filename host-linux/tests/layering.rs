//! The house's rules, checked on the source: each folder of host-linux/src imports only
//! from folders below it in [`ROOMS`] (docs/architecture.md draws the same order), so no
//! two folders import each other, and a new folder must be given its place here; and no
//! AT command is spelled in host-linux outside its tests: every one is modem-core's.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The rooms of host-linux/src, bottom first.
const ROOMS: [&str; 12] = [
    "platform", "spool", "handoff", "fleet", "audio", "calls", "events", "bot", "agent", "api",
    "mqtt", "app",
];

/// Files at the top of src/ that are the crate's doors, not rooms.
const DOORS: [&str; 2] = ["lib.rs", "main.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("host-linux/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (doc links are not imports).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules of the crate that `code` names: `crate::x`, `crate::{x, y}`.
fn rooms_named(code: &str) -> Vec<String> {
    let mut named = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or("");
                named.push(first.trim_start_matches('{').trim().to_owned());
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            named.push(name);
        }
    }
    named
}

fn rank(room: &str) -> Option<usize> {
    ROOMS.iter().position(|r| *r == room)
}

#[test]
fn every_room_imports_only_from_rooms_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut homeless = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or("");
        if DOORS.contains(&first) {
            continue;
        }
        let room = first.trim_end_matches(".rs");
        let Some(own) = rank(room) else {
            homeless.push(rel.display().to_string());
            continue;
        };
        let text = fs::read_to_string(file).expect("a source file is readable");
        for named in rooms_named(&code_of(&text)) {
            if rank(&named).is_some_and(|r| r > own) {
                upward
                    .entry(format!("{room} -> {named}"))
                    .or_default()
                    .push(rel.display().to_string());
            }
        }
    }
    assert!(
        homeless.is_empty(),
        "files outside the rooms of host-linux/src (give the folder its place in ROOMS and \
         docs/architecture.md): {homeless:?}"
    );
    assert!(
        upward.is_empty(),
        "rooms importing from a room above them: {upward:#?}"
    );
    assert!(
        files.len() > 50,
        "the walk found only {} files",
        files.len()
    );
}

#[test]
fn the_check_sees_imports_in_every_form() {
    let code = code_of(
        "use crate::bot::BotState;\n\
         use crate::{api, platform::link};\n\
         // use crate::app::cli;\n\
         let x = crate::spool::queue::Queue::new();",
    );
    assert_eq!(rooms_named(&code), ["bot", "api", "platform", "spool"]);
}

/// The code of a file that is not test code: what comes before its first `#[cfg(test)]`
/// (the test module closes every file that has one); nothing for a file that is itself a
/// test module (`#[cfg(test)] mod tests;` in its parent).
fn shipped_code(path: &Path, text: &str) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let parent = path.parent().map(|dir| dir.with_extension("rs"));
    let declared_as_test = parent
        .and_then(|p| fs::read_to_string(p).ok())
        .is_some_and(|p| p.contains(&format!("#[cfg(test)]\nmod {stem};")));
    if declared_as_test {
        return String::new();
    }
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    code_of(&text[..end])
}

#[test]
fn no_at_command_is_spelled_in_host_linux_outside_its_tests() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut spelled = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("a source file is readable");
        for (n, line) in shipped_code(file, &text).lines().enumerate() {
            if line.contains("\"AT") || line.contains("b\"AT") {
                spelled.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        spelled.is_empty(),
        "AT commands spelled in host-linux (modem-core's driver owns them): {spelled:#?}"
    );
}

#[test]
fn test_code_is_told_apart_from_shipped_code() {
    let dir = std::env::temp_dir().join(format!("layering-{}", std::process::id()));
    fs::create_dir_all(dir.join("room")).unwrap();
    fs::write(dir.join("room.rs"), "#[cfg(test)]\nmod tests;\n").unwrap();
    let shipped = "fn f() { send(\"ATD\"); }\n#[cfg(test)]\nmod tests { \"AT\" }\n";
    assert_eq!(
        shipped_code(&dir.join("other.rs"), shipped),
        "fn f() { send(\"ATD\"); }"
    );
    assert_eq!(shipped_code(&dir.join("room/tests.rs"), "\"AT\""), "");
    fs::remove_dir_all(&dir).unwrap();
}
