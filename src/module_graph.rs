//! Keeps docs/architecture.md's module graph true: every `crate::…` path in the library code must name a module
//! of a lower layer than the importer's, as the table in "The module graph" assigns them. Test-only code
//! (`#[cfg(test)]`/`#[test]` items and the files they declare) is exempt.
//!
//! Reads the sources with a small lexer instead of a Rust parser (no extra dependency): comments and string
//! and char literals are blanked first, so neither a doc link nor a message text counts as an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import of a top-level module by another.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// Module → layer, from the table under `## The module graph`.
fn layers(doc: &str) -> BTreeMap<String, u32> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("The module graph"))
        .expect("docs/architecture.md has a `## The module graph` section");
    let mut out = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let Some(Ok(layer)) = cells.first().map(|c| c.parse::<u32>()) else {
            continue; // header or separator
        };
        let modules = cells.get(2).expect("a `modules` cell");
        for m in modules.split('`').skip(1).step_by(2) {
            assert!(
                out.insert(m.to_string(), layer).is_none(),
                "`{m}` is listed twice in the module graph table"
            );
        }
    }
    assert!(!out.is_empty(), "the module graph table has no rows");
    out
}

/// `src` with comments and the contents of string and char literals replaced by spaces (newlines kept), so byte
/// offsets and line numbers stay those of the original.
fn blank(src: &str) -> Vec<u8> {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let wipe = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let prev_ident = i > 0 && ident(b[i - 1]);
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            wipe(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            wipe(&mut out, i, j);
            i = j;
        } else if !prev_ident && (b[i] == b'r' || b[i..].starts_with(b"br")) && {
            let s = if b[i] == b'r' { i + 1 } else { i + 2 };
            let h = b[s..].iter().take_while(|&&c| c == b'#').count();
            b.get(s + h) == Some(&b'"')
        } {
            // Raw string: r"…", r#"…"#, br"…".
            let s = if b[i] == b'r' { i + 1 } else { i + 2 };
            let h = b[s..].iter().take_while(|&&c| c == b'#').count();
            let body = s + h + 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', h))
                .collect();
            let end = (body..b.len())
                .find(|&j| b[j..].starts_with(&close))
                .map_or(b.len(), |j| j + close.len());
            wipe(&mut out, body, end.saturating_sub(close.len()));
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            wipe(&mut out, i + 1, j);
            i = j + 1;
        } else if b[i] == b'\''
            && (!prev_ident || (b[i - 1] == b'b' && (i < 2 || !ident(b[i - 2]))))
        {
            // A char literal ('x', '\n', '\u{1F600}', '\'') or a lifetime ('a), which stays.
            let len = if b.get(i + 1) == Some(&b'\\') {
                b.get(i + 3..)
                    .and_then(|r| r.iter().position(|&c| c == b'\''))
                    .map(|p| p + 4)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch) == Some(&b'\'')).then_some(ch + 2)
            };
            match len {
                Some(n) => {
                    wipe(&mut out, i + 1, i + n - 1);
                    i += n;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(u8),
}

/// Identifiers and single punctuation bytes, each with its byte offset.
fn tokens(clean: &[u8]) -> Vec<(Tok, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < clean.len() {
        let c = clean[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            let start = i;
            while i < clean.len() && (clean[i].is_ascii_alphanumeric() || clean[i] == b'_') {
                i += 1;
            }
            let word = String::from_utf8_lossy(&clean[start..i]).into_owned();
            out.push((Tok::Ident(word), start));
        } else {
            if !c.is_ascii_whitespace() {
                out.push((Tok::Punct(c), i));
            }
            i += 1;
        }
    }
    out
}

/// What one file declares and imports.
#[derive(Debug, Default)]
struct Scan {
    /// `(name, #[path], test-only)` of each `mod name;`.
    children: Vec<(String, Option<String>, bool)>,
    /// `(line, target)` of each `crate::target` (or `super::…` climbing to the root) outside test-only code.
    imports: Vec<(usize, String)>,
}

/// Scans one file whose module sits `depth` levels below the crate root.
fn scan(src: &str, depth: usize) -> Scan {
    let clean = blank(src);
    let toks = tokens(&clean);
    let line_of = |off: usize| src[..off].matches('\n').count() + 1;
    let is = |k: usize, p: u8| matches!(toks.get(k), Some((Tok::Punct(q), _)) if *q == p);
    let ident = |k: usize| match toks.get(k) {
        Some((Tok::Ident(w), _)) => Some(w.as_str()),
        _ => None,
    };
    let path_sep = |k: usize| is(k, b':') && is(k + 1, b':');
    // The first identifier of each element of the `{…}` group opening at `k`.
    let group = |k: usize| -> Vec<(usize, String)> {
        let (mut d, mut j, mut want, mut out) = (0, k, true, Vec::new());
        loop {
            match toks.get(j) {
                None => return out,
                Some((Tok::Punct(b'{'), _)) => {
                    d += 1;
                    want = d == 1;
                }
                Some((Tok::Punct(b'}'), _)) => {
                    d -= 1;
                    if d == 0 {
                        return out;
                    }
                }
                Some((Tok::Punct(b','), _)) if d == 1 => want = true,
                Some((Tok::Ident(w), off)) if want && d == 1 => {
                    out.push((*off, w.clone()));
                    want = false;
                }
                Some((Tok::Punct(_), _)) => {}
                Some((Tok::Ident(_), _)) => {}
            }
            j += 1;
        }
    };

    let mut scan = Scan::default();
    let mut braces = 0usize;
    // Brace depth at which each enclosing inline `mod x {` opened.
    let mut inline_mods: Vec<usize> = Vec::new();
    // Brace depth of the test-only item being skipped, if any; `pending_test` until its first token.
    let mut test_item: Option<usize> = None;
    let mut pending_test = false;
    let mut pending_path: Option<String> = None;
    let mut k = 0;
    while k < toks.len() {
        // Attributes: `#[…]` (outer) and `#![…]` (inner).
        if is(k, b'#') && (is(k + 1, b'[') || (is(k + 1, b'!') && is(k + 2, b'['))) {
            let open = if is(k + 1, b'[') { k + 1 } else { k + 2 };
            let (mut d, mut j) = (0, open);
            while j < toks.len() {
                if is(j, b'[') {
                    d += 1;
                } else if is(j, b']') {
                    d -= 1;
                    if d == 0 {
                        break;
                    }
                }
                j += 1;
            }
            let words: Vec<&str> = (open + 1..j).filter_map(ident).collect();
            let outer = open == k + 1;
            if outer && test_item.is_none() {
                if words == ["test"]
                    || words == ["tokio", "test"]
                    || words.starts_with(&["cfg", "test"])
                    || words.starts_with(&["cfg", "all", "test"])
                {
                    pending_test = true;
                }
                if words.first() == Some(&"path") {
                    let (from, to) = (toks[open].1, toks[j].1);
                    pending_path = src[from..to].split('"').nth(1).map(str::to_string);
                }
            }
            k = j + 1;
            continue;
        }
        let start_of_item = pending_test && test_item.is_none();
        if start_of_item {
            test_item = Some(braces);
            pending_test = false;
        }
        let in_test = test_item.is_some();
        match &toks[k].0 {
            Tok::Punct(b'{') => braces += 1,
            Tok::Punct(b'}') => {
                braces -= 1;
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
                if test_item == Some(braces) {
                    test_item = None;
                }
            }
            Tok::Punct(b';') if test_item == Some(braces) => test_item = None,
            Tok::Ident(w) if w == "mod" => {
                if let Some(name) = ident(k + 1) {
                    if is(k + 2, b';') {
                        scan.children
                            .push((name.to_string(), pending_path.take(), in_test));
                    } else if is(k + 2, b'{') {
                        inline_mods.push(braces);
                    }
                }
            }
            Tok::Ident(w) if !in_test && (w == "crate" || w == "super") && path_sep(k + 1) => {
                let after_colons = k > 1 && path_sep(k - 2);
                let target_at = if w == "crate" {
                    Some(k + 3)
                } else if !after_colons {
                    // `super::super::x`: reaches the crate root when it climbs out of every module.
                    let mut j = k;
                    let mut n = 0;
                    while ident(j) == Some("super") && path_sep(j + 1) {
                        n += 1;
                        j += 3;
                    }
                    (n == depth + inline_mods.len()).then_some(j)
                } else {
                    None
                };
                if let Some(t) = target_at {
                    if is(t, b'{') {
                        for (off, name) in group(t) {
                            scan.imports.push((line_of(off), name));
                        }
                    } else if let Some(name) = ident(t) {
                        scan.imports.push((line_of(toks[t].1), name.to_string()));
                    }
                }
            }
            _ => {}
        }
        if matches!(&toks[k].0, Tok::Punct(b';' | b'{' | b'}')) {
            pending_path = None; // an item ended or a block began: the attribute belonged to no `mod`
        }
        k += 1;
    }
    scan
}

/// Every import between top-level modules in the library code, and the top-level modules `lib.rs` declares.
fn crate_edges(src_dir: &Path) -> (Vec<Edge>, BTreeSet<String>) {
    let read =
        |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let lib = src_dir.join("lib.rs");
    let root = scan(&read(&lib), 0);
    // Test-only modules (this one) are no part of the graph.
    let top: BTreeSet<String> = root
        .children
        .iter()
        .filter(|c| !c.2)
        .map(|c| c.0.clone())
        .collect();
    // (file, its top-level module, depth below the root, test-only)
    let mut queue: Vec<(PathBuf, String, usize, bool)> = Vec::new();
    let child_file = |parent: &Path, name: &str, path: &Option<String>| -> PathBuf {
        let parent_dir = parent.parent().unwrap();
        if let Some(p) = path {
            return parent_dir.join(p);
        }
        let stem = parent.file_stem().unwrap().to_str().unwrap();
        let dir = if matches!(stem, "mod" | "lib" | "main") {
            parent_dir.to_path_buf()
        } else {
            parent_dir.join(stem)
        };
        let flat = dir.join(format!("{name}.rs"));
        if flat.exists() {
            flat
        } else {
            dir.join(name).join("mod.rs")
        }
    };
    for (name, path, test) in &root.children {
        queue.push((child_file(&lib, name, path), name.clone(), 1, *test));
    }
    let mut edges = Vec::new();
    while let Some((file, module, depth, test)) = queue.pop() {
        let s = scan(&read(&file), depth);
        let rel = file
            .strip_prefix(src_dir.parent().unwrap())
            .unwrap()
            .display()
            .to_string();
        for (name, path, child_test) in &s.children {
            let f = child_file(&file, name, path);
            queue.push((f, module.clone(), depth + 1, test || *child_test));
        }
        if test {
            continue;
        }
        for (line, to) in s.imports {
            if to != module && top.contains(&to) {
                edges.push(Edge {
                    file: rel.clone(),
                    line,
                    from: module.clone(),
                    to,
                });
            }
        }
    }
    edges.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    (edges, top)
}

/// The edges the table forbids, as `file:line: message`.
fn violations(edges: &[Edge], layers: &BTreeMap<String, u32>) -> Vec<String> {
    edges
        .iter()
        .filter_map(|e| {
            let (from, to) = (layers.get(&e.from)?, layers.get(&e.to)?);
            (to >= from).then(|| {
                format!(
                    "{}:{}: `{}` (layer {from}) imports `{}` (layer {to}); only lower layers may be imported",
                    e.file, e.line, e.from, e.to
                )
            })
        })
        .collect()
}

#[test]
fn imports_follow_the_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let layers = layers(&doc);
    let (edges, top) = crate_edges(&root.join("src"));
    let listed: BTreeSet<String> = layers.keys().cloned().collect();
    let missing: Vec<_> = top.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&top).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/architecture.md's module graph is out of date: not in the table {missing:?}, not in src/lib.rs {stale:?}"
    );
    assert!(
        edges.len() > 50,
        "the scan found only {} imports",
        edges.len()
    );
    let bad = violations(&edges, &layers);
    assert!(
        bad.is_empty(),
        "imports the module graph (docs/architecture.md) does not allow:\n{}",
        bad.join("\n")
    );
}

#[test]
fn only_the_printer_may_print() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    assert!(lib.contains("#![deny(clippy::print_stdout, clippy::print_stderr)]"));
    let mut stack = vec![src.clone()];
    let mut allowed = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let clean = blank(&std::fs::read_to_string(&p).unwrap());
                let text = String::from_utf8(clean).unwrap();
                if text.contains("allow(clippy::print_stdout")
                    || text.contains("allow(clippy::print_stderr")
                {
                    allowed.push(p.strip_prefix(&src).unwrap().display().to_string());
                }
            }
        }
    }
    assert_eq!(
        allowed,
        ["cli/ui.rs"],
        "printing may be allowed only in cli::Ui"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imports(src: &str, depth: usize) -> Vec<(usize, String)> {
        scan(src, depth).imports
    }

    #[test]
    fn finds_use_lines_groups_and_inline_paths() {
        let src =
            "use crate::a::B;\nuse crate::{b::{C, D}, c, self as me};\nfn f() { crate::d::e(); }\n";
        let found = imports(src, 1);
        assert_eq!(
            found,
            [
                (1, "a".to_string()),
                (2, "b".into()),
                (2, "c".into()),
                (2, "self".into()),
                (3, "d".into())
            ]
        );
    }

    #[test]
    fn ignores_comments_strings_and_test_code() {
        let src = r##"
//! See [`crate::doc_link`].
/* crate::block */
fn f() -> &'static str { let _c = '"'; "crate::in_string" }
fn g() -> &'static str { r#"crate::raw "quoted" "# }
#[cfg(test)]
mod tests { use crate::test_only; fn h() { crate::also_test(); } }
#[cfg(test)]
use crate::test_use;
use crate::kept;
"##;
        assert_eq!(imports(src, 1), [(10, "kept".to_string())]);
    }

    #[test]
    fn super_counts_when_it_climbs_to_the_root() {
        let src = "use super::sibling;\nuse super::super::other::X;\nmod inner { use super::super::third; }\n";
        // In a file two levels deep: `super::super` is the root; inside `inner` it takes three.
        assert_eq!(imports(src, 2), [(2, "other".to_string())]);
        assert_eq!(
            imports("mod inner { use super::super::third; }", 1),
            [(1, "third".to_string())]
        );
    }

    #[test]
    fn child_modules_keep_path_and_test_flags() {
        let src =
            "pub mod a;\n#[cfg(test)]\n#[path = \"b_tests.rs\"]\nmod tests;\nmod c { fn x() {} }\n";
        assert_eq!(
            scan(src, 1).children,
            [
                ("a".to_string(), None, false),
                ("tests".to_string(), Some("b_tests.rs".to_string()), true)
            ]
        );
    }

    #[test]
    fn a_lower_layer_importing_a_higher_one_is_reported() {
        let layers: BTreeMap<String, u32> = [("cmd", 0), ("plan", 6), ("transport", 9)]
            .map(|(m, l)| (m.to_string(), l))
            .into();
        let e = |from: &str, to: &str| Edge {
            file: "src/x.rs".into(),
            line: 3,
            from: from.into(),
            to: to.into(),
        };
        assert!(violations(&[e("plan", "cmd"), e("transport", "plan")], &layers).is_empty());
        assert_eq!(
            violations(&[e("plan", "transport"), e("cmd", "cmd")], &layers),
            [
                "src/x.rs:3: `plan` (layer 6) imports `transport` (layer 9); only lower layers may be imported",
                "src/x.rs:3: `cmd` (layer 0) imports `cmd` (layer 0); only lower layers may be imported"
            ]
        );
    }

    #[test]
    fn table_rows_parse_into_layers() {
        let doc = "# A\n## The module graph\n| layer | kind | modules | may import |\n| --- | --- | --- | --- |\n| 0 | leaves | `a` `b` | nothing |\n| 3 | core | `c` | x |\n## Next\n| 9 | `z` | `zz` | |\n";
        let l = layers(doc);
        assert_eq!(
            l.into_iter().collect::<Vec<_>>(),
            [("a".into(), 0), ("b".into(), 0), ("c".into(), 3)]
        );
    }
}
