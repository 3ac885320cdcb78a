//! The crate's stage modules depend one way: each may use only the modules below it in the
//! pipeline's order, so there is no import cycle among them (issue 17 §5).
//!
//! Read from the sources: every `crate::module` path outside comments and test modules.

use std::collections::BTreeMap;
use std::path::Path;

/// The modules from the bottom up. A module may use only those before it; a new module must be
/// placed here.
const LAYERS: [&str; 31] = [
    "output",
    "cosmology",
    "band",
    "loss",
    "model",
    "manifest",
    "sky",
    "tiles",
    "catalog",
    "patches",
    "synthetic",
    "labels",
    "normalise",
    "dataset",
    "train",
    "predict",
    "detect",
    "crossmatch",
    "evaluate",
    "plot",
    "mmf",
    "compare",
    "chain",
    "query",
    "join",
    "region",
    "export",
    "fetch",
    "bench",
    "params",
    "pipeline",
];

/// Not stages: the error type and the re-exports serve every module; the binary sits on top.
const OUTSIDE: [&str; 4] = ["error", "lib", "prelude", "bin"];

/// `text` without `//` comments (doc comments included) and `/* */` blocks, cut where its test
/// module starts.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let line_comment = rest.find("//");
        let block_comment = rest.find("/*");
        match (line_comment, block_comment) {
            (Some(l), b) if b.is_none_or(|b| l < b) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |e| &rest[l + e..]);
            }
            (_, Some(b)) => {
                out.push_str(&rest[..b]);
                rest = rest[b..].find("*/").map_or("", |e| &rest[b + e + 2..]);
            }
            _ => {
                out.push_str(rest);
                rest = "";
            }
        }
    }
    out
}

/// The top-level modules `code` names through `crate::`: `crate::a::…` and every first segment of
/// a `crate::{a::…, b, …}` group.
fn used_modules(code: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let (mut depth, mut start) = (1, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 1 => {
                        out.push(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(after));
        }
    }
    out
}

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn sources(dir: &Path, module: Option<&str>, out: &mut Vec<(String, std::path::PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let top = module.map_or(name.clone(), str::to_string);
        if path.is_dir() {
            sources(&path, Some(&top), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((top, path));
        }
    }
}

#[test]
fn the_code_reader_finds_paths_and_groups_but_not_comments() {
    let code = code_of("use crate::sky::Sky; // crate::pipeline\nuse crate::{band::Band, catalog::{Catalog, x}, tiles};\n/* crate::train */ let a = crate::plot::f();\n#[cfg(test)]\nuse crate::bench;");
    assert_eq!(used_modules(&code), ["sky", "band", "catalog", "tiles", "plot"]);
}

#[test]
fn stage_modules_use_only_the_stages_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, None, &mut files);
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (module, path) in &files {
        if OUTSIDE.contains(&module.as_str()) {
            continue;
        }
        let Some(own) = rank(module) else {
            panic!("module {module} ({}) is not in LAYERS: place it in the pipeline's order", path.display());
        };
        for used in used_modules(&code_of(&std::fs::read_to_string(path).unwrap())) {
            if used == *module
                || OUTSIDE.contains(&used.as_str())
                || used.chars().next().is_some_and(char::is_uppercase)
            {
                continue;
            }
            match rank(&used) {
                Some(r) if r < own => {}
                _ => wrong.entry(path.strip_prefix(&src).unwrap().display().to_string()).or_default().push(used),
            }
        }
    }
    assert!(files.len() > 60, "read {} files", files.len());
    assert!(wrong.is_empty(), "modules that use a stage at or above their own: {wrong:#?}");
}
