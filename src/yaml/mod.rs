//! Position-annotated YAML: text → documents of [`Node`]s, each carrying the `line:col` where it was written,
//! a serde deserializer over them ([`de`]) and the `file:line:col: field.path: message` [`Diagnostic`].
//! Shared by the manifest reader and the inventory (`cluster.yaml`) so both report problems the same way.
//! A leaf of the module graph: imports nothing of this crate (docs/architecture.md).
//!
//! Built on `saphyr-parser`'s event stream. Beyond plain parsing it
//! - rejects duplicate mapping keys (at the second occurrence, naming the first),
//! - resolves aliases (`*a`) and merge keys (`<<: *a`) like the YAML library behind `kubectl`,
//! - resolves plain scalars with YAML 1.1 rules as `kubectl` does (`yes`/`on` are booleans, `0777` is octal),
//! - locates a Kubernetes-style field path (`spec.containers[0].image`) in the tree.
//!
//! Pure: no IO.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

pub mod de;
mod diagnostic;

pub use diagnostic::{Diagnostic, Severity, SourceRef};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts: the first key of a block mapping, the `-` … of a sequence item's content,
    /// the first character of a scalar (its opening quote when quoted).
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's text (keys are always read as strings, as Kubernetes' JSON does).
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Plain (unquoted, not a block scalar): only plain scalars resolve to null/bool/number.
    pub plain: bool,
    /// Explicit tag such as `!!str`, written as `!!str`.
    pub tag: Option<String>,
}

/// What a scalar means.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

impl Scalar {
    /// YAML 1.1 resolution as done by the YAML library under `kubectl` (go-yaml v2).
    pub fn resolve(&self) -> Resolved<'_> {
        match self.tag.as_deref() {
            Some("!!str") => return Resolved::Str(&self.text),
            Some("!!null") => return Resolved::Null,
            Some("!!bool") | Some("!!int") | Some("!!float") => {
                let r = resolve_plain(&self.text);
                if !matches!(r, Resolved::Str(_)) {
                    return r;
                }
                return Resolved::Str(&self.text);
            }
            _ => {}
        }
        if !self.plain {
            return Resolved::Str(&self.text);
        }
        resolve_plain(&self.text)
    }

    /// A short description for type errors, e.g. `integer 8080`, `boolean true`, `string "x"`.
    pub fn describe(&self) -> String {
        match self.resolve() {
            Resolved::Null => "null".to_string(),
            Resolved::Bool(b) => format!("boolean {b}"),
            Resolved::Int(i) => format!("integer {i}"),
            Resolved::Float(_) => format!("number {}", self.text),
            Resolved::Str(s) => format!("string {}", go_quote(s)),
        }
    }
}

fn resolve_plain(s: &str) -> Resolved<'_> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Resolved::Str(s);
    }
    let t: String = s.chars().filter(|&c| c != '_').collect();
    if let Some(i) = parse_int(&t) {
        return Resolved::Int(i);
    }
    if !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && t.bytes().any(|b| b.is_ascii_digit())
    {
        if let Ok(f) = t.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str(s)
}

/// Go's `strconv.ParseInt(s, 0, 64)` (then `ParseUint`): sign, `0x`/`0o`/`0b` prefixes, leading-`0` octal.
fn parse_int(t: &str) -> Option<i128> {
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(digits, radix).ok()? as i128;
    let v = if neg { -v } else { v };
    if v < i64::MIN as i128 {
        return None;
    }
    Some(v)
}

impl Node {
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(s) if s.resolve() == Resolved::Null)
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key == key)
    }

    /// `a mapping`, `a sequence`, `a string`, … for messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Scalar(s) => s.describe(),
            NodeKind::Seq(_) => "a sequence".to_string(),
            NodeKind::Map(_) => "a mapping".to_string(),
        }
    }

    /// The position of `path`: its value when present, else the nearest enclosing node that exists
    /// (the parent mapping of a missing field).
    pub fn locate(&self, path: &FieldPath) -> Pos {
        self.locate_ex(path, false)
    }

    /// Like [`Node::locate`] but when the last segment is a mapping key, the key's position.
    pub fn locate_key(&self, path: &FieldPath) -> Pos {
        self.locate_ex(path, true)
    }

    fn locate_ex(&self, path: &FieldPath, want_key: bool) -> Pos {
        let mut node = self;
        let n = path.segs.len();
        for (i, seg) in path.segs.iter().enumerate() {
            let next = match seg {
                Seg::Field(k) | Seg::Key(k) => match node.get(k) {
                    Some(e) if want_key && i + 1 == n => return e.key_pos,
                    Some(e) => Some(&e.value),
                    None => None,
                },
                Seg::Index(ix) => node.as_seq().and_then(|s| s.get(*ix)),
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.pos
    }
}

/// One part of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A struct field: `.name`.
    Field(String),
    /// A map key: `[cpu]`.
    Key(String),
    /// A list index: `[0]`.
    Index(usize),
}

/// A Kubernetes-style field path (`spec.template.spec.containers[0].resources.limits[cpu]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath {
    pub segs: Vec<Seg>,
}

impl FieldPath {
    pub fn root() -> FieldPath {
        FieldPath::default()
    }

    pub fn child(&self, name: &str) -> FieldPath {
        let mut p = self.clone();
        p.segs.push(Seg::Field(name.to_string()));
        p
    }

    pub fn key(&self, key: &str) -> FieldPath {
        let mut p = self.clone();
        p.segs.push(Seg::Key(key.to_string()));
        p
    }

    pub fn index(&self, i: usize) -> FieldPath {
        let mut p = self.clone();
        p.segs.push(Seg::Index(i));
        p
    }

    /// `a.b.c` shorthand (fields only).
    pub fn parse(s: &str) -> FieldPath {
        let mut p = FieldPath::root();
        for part in s.split('.').filter(|s| !s.is_empty()) {
            p = p.child(part);
        }
        p
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segs.iter().enumerate() {
            match seg {
                Seg::Field(n) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(n)?;
                }
                Seg::Key(k) => write!(f, "[{k}]")?,
                Seg::Index(ix) => write!(f, "[{ix}]")?,
            }
        }
        Ok(())
    }
}

/// A YAML problem: broken syntax, a duplicate key, a non-scalar key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub path: FieldPath,
    pub message: String,
}

/// A document with its root node. Empty documents (only comments, or nothing between `---`) are not returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 0-based index among all documents of the stream, counting empty ones.
    pub index: usize,
    pub root: Node,
    /// The document has a duplicate key or other structural problem (already reported).
    pub has_errors: bool,
}

enum Frame {
    Seq {
        pos: Pos,
        path: FieldPath,
        items: Vec<Node>,
        anchor: usize,
    },
    Map {
        pos: Pos,
        path: FieldPath,
        entries: Vec<Entry>,
        /// The key read, waiting for its value.
        pending: Option<(String, Pos)>,
        /// `<<` merge sources, applied at the end (explicit keys win).
        merges: Vec<Node>,
        anchor: usize,
        seen: HashMap<String, Pos>,
    },
}

/// Parse a YAML stream. Returns the non-empty documents read before any syntax error, and the problems.
pub fn parse_documents(text: &str) -> (Vec<Document>, Vec<YamlError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut doc_index = 0usize;
    let mut doc_errors = 0usize;

    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                let m = e.marker();
                errors.push(YamlError {
                    pos: Pos {
                        line: m.line(),
                        col: m.col() + 1,
                    },
                    path: FieldPath::root(),
                    message: format!("invalid YAML: {}", e.info()),
                });
                break;
            }
        };
        let pos = Pos::of(&span);
        let completed: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                root = None;
                doc_errors = errors.len();
                anchors.clear();
                None
            }
            Event::DocumentEnd => {
                if let Some(r) = root.take() {
                    let empty = r.is_null() && stack.is_empty();
                    if !empty {
                        docs.push(Document {
                            index: doc_index,
                            root: r,
                            has_errors: errors.len() > doc_errors,
                        });
                    }
                }
                doc_index += 1;
                None
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => {
                    let mut n = n.clone();
                    n.pos = pos;
                    Some((n, 0))
                }
                None => {
                    errors.push(YamlError {
                        pos,
                        path: child_path(&stack),
                        message: "unknown anchor".to_string(),
                    });
                    Some((null_node(pos), 0))
                }
            },
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let tag = tag.map(|t| match t.strip_prefix("tag:yaml.org,2002:") {
                    Some(rest) => format!("!!{rest}"),
                    None => t,
                });
                Some((
                    Node {
                        pos,
                        kind: NodeKind::Scalar(Scalar {
                            text: value.into_owned(),
                            plain: style == ScalarStyle::Plain,
                            tag,
                        }),
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, _) => {
                let path = child_path(&stack);
                stack.push(Frame::Seq {
                    pos,
                    path,
                    items: Vec::new(),
                    anchor,
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                let path = child_path(&stack);
                stack.push(Frame::Map {
                    pos,
                    path,
                    entries: Vec::new(),
                    pending: None,
                    merges: Vec::new(),
                    anchor,
                    seen: HashMap::new(),
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    pos, items, anchor, ..
                }) => Some((
                    Node {
                        pos,
                        kind: NodeKind::Seq(items),
                    },
                    anchor,
                )),
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    pos,
                    path,
                    mut entries,
                    merges,
                    anchor,
                    ..
                }) => {
                    apply_merges(&mut entries, merges, &path, &mut errors);
                    Some((
                        Node {
                            pos,
                            kind: NodeKind::Map(entries),
                        },
                        anchor,
                    ))
                }
                _ => None,
            },
        };
        if let Some((node, anchor)) = completed {
            if anchor != 0 {
                anchors.insert(anchor, node.clone());
            }
            push_node(&mut stack, &mut root, node, &mut errors);
        }
    }
    (docs, errors)
}

fn null_node(pos: Pos) -> Node {
    Node {
        pos,
        kind: NodeKind::Scalar(Scalar {
            text: String::new(),
            plain: true,
            tag: None,
        }),
    }
}

/// The path of the node about to be completed inside the top frame.
fn child_path(stack: &[Frame]) -> FieldPath {
    match stack.last() {
        None => FieldPath::root(),
        Some(Frame::Seq { path, items, .. }) => path.index(items.len()),
        Some(Frame::Map { path, pending, .. }) => match pending {
            Some((k, _)) => path.child(k),
            None => path.clone(),
        },
    }
}

fn push_node(
    stack: &mut [Frame],
    root: &mut Option<Node>,
    node: Node,
    errors: &mut Vec<YamlError>,
) {
    match stack.last_mut() {
        None => *root = Some(node),
        Some(Frame::Seq { items, .. }) => items.push(node),
        Some(Frame::Map {
            path,
            entries,
            pending,
            merges,
            seen,
            ..
        }) => match pending.take() {
            None => {
                // A key.
                let key = match &node.kind {
                    NodeKind::Scalar(s) => s.text.clone(),
                    _ => {
                        errors.push(YamlError {
                            pos: node.pos,
                            path: path.clone(),
                            message: "mapping keys must be strings, not a collection".to_string(),
                        });
                        String::from("\u{0}invalid-key")
                    }
                };
                *pending = Some((key, node.pos));
            }
            Some((key, key_pos)) => {
                if key == "<<" {
                    merges.push(node);
                    return;
                }
                if let Some(first) = seen.get(&key) {
                    errors.push(YamlError {
                        pos: key_pos,
                        path: path.child(&key),
                        message: format!(
                            "duplicate key {} (first defined at line {}, column {})",
                            go_quote(&key),
                            first.line,
                            first.col
                        ),
                    });
                    // Later wins, like JSON decoding would.
                    if let Some(e) = entries.iter_mut().find(|e| e.key == key) {
                        e.value = node;
                        e.key_pos = key_pos;
                    }
                    return;
                }
                seen.insert(key.clone(), key_pos);
                entries.push(Entry {
                    key,
                    key_pos,
                    value: node,
                });
            }
        },
    }
}

fn apply_merges(
    entries: &mut Vec<Entry>,
    merges: Vec<Node>,
    path: &FieldPath,
    errors: &mut Vec<YamlError>,
) {
    let mut sources = Vec::new();
    for m in merges {
        match m.kind {
            NodeKind::Map(es) => sources.push(es),
            NodeKind::Seq(items) => {
                for it in items {
                    match it.kind {
                        NodeKind::Map(es) => sources.push(es),
                        _ => errors.push(YamlError {
                            pos: it.pos,
                            path: path.clone(),
                            message: "merge key `<<` needs a mapping or a list of mappings"
                                .to_string(),
                        }),
                    }
                }
            }
            _ => errors.push(YamlError {
                pos: m.pos,
                path: path.clone(),
                message: "merge key `<<` needs a mapping or a list of mappings".to_string(),
            }),
        }
    }
    for src in sources {
        for e in src {
            if !entries.iter().any(|x| x.key == e.key) {
                entries.push(e);
            }
        }
    }
}

/// Go's `%q` for strings: double quotes, backslash escapes for quotes, backslashes and control characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let (docs, errs) = parse_documents(text);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(docs.len(), 1);
        docs.into_iter().next().unwrap().root
    }

    #[test]
    fn positions_are_one_based() {
        let root = one("a: 1\nb:\n  c: [x, y]\n  d:\n  - e: f\n");
        assert_eq!(root.pos, Pos { line: 1, col: 1 });
        let a = root.get("a").unwrap();
        assert_eq!(a.key_pos, Pos { line: 1, col: 1 });
        assert_eq!(a.value.pos, Pos { line: 1, col: 4 });
        let p = FieldPath::parse("b.c").index(1);
        assert_eq!(root.locate(&p), Pos { line: 3, col: 10 });
        let p = FieldPath::parse("b.d").index(0).child("e");
        assert_eq!(root.locate(&p), Pos { line: 5, col: 8 });
        assert_eq!(root.locate_key(&p), Pos { line: 5, col: 5 });
        // Missing → parent mapping.
        let p = FieldPath::parse("b.d").index(0).child("zzz");
        assert_eq!(root.locate(&p), Pos { line: 5, col: 5 });
        assert_eq!(
            FieldPath::parse("spec.containers")
                .index(0)
                .child("resources")
                .child("limits")
                .key("cpu")
                .to_string(),
            "spec.containers[0].resources.limits[cpu]"
        );
    }

    #[test]
    fn documents_and_empty_ones() {
        let (docs, errs) =
            parse_documents("# only a comment\n---\na: 1\n---\n---\n# c\n---\nb: 2\n...\n");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].root.pos.line, 3);
        assert_eq!(docs[1].root.pos.line, 8);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let (docs, errs) = parse_documents("a: 1\nspec:\n  replicas: 1\n  replicas: 2\n");
        assert_eq!(docs.len(), 1);
        assert!(docs[0].has_errors);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pos, Pos { line: 4, col: 3 });
        assert_eq!(errs[0].path.to_string(), "spec.replicas");
        assert_eq!(
            errs[0].message,
            "duplicate key \"replicas\" (first defined at line 3, column 3)"
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (_, errs) = parse_documents("a: 1\nb: [1, 2\nc: 3\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.starts_with("invalid YAML: "), "{errs:?}");
        let (_, errs) = parse_documents("a:\n  b: 1\n c: 2\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].pos.line, 3);
    }

    #[test]
    fn scalars_resolve_like_kubectl() {
        let root = one(
            "a: yes\nb: \"yes\"\nc: 0777\nd: 1_000\ne: 1.5\nf: ~\ng: nginx\nh: 0x1F\ni: -3\nj: 1e3\nk: !!str 12\nl: .5\nm: '80'\n",
        );
        let r = |k: &str| root.get(k).unwrap().value.as_scalar().unwrap().resolve();
        assert_eq!(r("a"), Resolved::Bool(true));
        assert_eq!(r("b"), Resolved::Str("yes"));
        assert_eq!(r("c"), Resolved::Int(511));
        assert_eq!(r("d"), Resolved::Int(1000));
        assert_eq!(r("e"), Resolved::Float(1.5));
        assert_eq!(r("f"), Resolved::Null);
        assert_eq!(r("g"), Resolved::Str("nginx"));
        assert_eq!(r("h"), Resolved::Int(31));
        assert_eq!(r("i"), Resolved::Int(-3));
        assert_eq!(r("j"), Resolved::Float(1000.0));
        assert_eq!(r("k"), Resolved::Str("12"));
        assert_eq!(r("l"), Resolved::Float(0.5));
        assert_eq!(r("m"), Resolved::Str("80"));
    }

    #[test]
    fn anchors_and_merge_keys() {
        let root = one("base: &b\n  x: 1\n  y: 2\nuse:\n  <<: *b\n  y: 3\nalias: *b\n");
        let u = &root.get("use").unwrap().value;
        assert_eq!(u.get("x").unwrap().value.as_scalar().unwrap().text, "1");
        assert_eq!(u.get("y").unwrap().value.as_scalar().unwrap().text, "3");
        assert!(root.get("alias").unwrap().value.get("x").is_some());
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
    }
}
