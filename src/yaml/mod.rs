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
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle};

pub mod de;
mod diagnostic;

pub use diagnostic::{Diagnostic, Severity, SourceRef, escape_controls};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
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
    /// Shared, so an alias costs one node however large its target is.
    Seq(Arc<Vec<Node>>),
    Map(Arc<Vec<Entry>>),
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
            NodeKind::Map(m) => Some(m.as_slice()),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s.as_slice()),
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

/// Limits of one YAML file, chosen to accept everything `kubectl` (go-yaml under `sigs.k8s.io/yaml`) and the
/// API server accept, while keeping memory and time bounded for hostile input (docs/manifests.md).
pub mod limits {
    /// A file larger than this is refused unread. kubectl has no such limit; a 16 MiB file holds thousands of
    /// objects, each of which the API server would take only up to 3 MiB.
    pub const MAX_FILE_BYTES: usize = 16 << 20;
    /// One document (one object, or one `v1 List`): above the API server's 3 MiB request body, so every
    /// object it would accept fits, with room for YAML's indentation and comments.
    pub const MAX_DOCUMENT_CHARS: usize = 4 << 20;
    /// Problems reported for one file before reading stops (a file of a million duplicate keys must not
    /// print a million lines).
    pub const MAX_ERRORS: usize = 1000;
    /// Nesting of mappings and sequences, the document root counting as 1: go-yaml's limit (10,000).
    pub const MAX_DEPTH: usize = 10_000;
    /// go-yaml's "excessive aliasing" rule (`allowedAliasRatio`): once more than 1,000 nodes were read and
    /// more than 100 of them came from aliases, the alias share may not pass 99 % (up to 400,000 nodes),
    /// falling linearly to 10 % at 4,000,000 nodes.
    pub fn excessive_aliasing(decoded: u64, aliased: u64) -> bool {
        if aliased <= 100 || decoded <= 1000 {
            return false;
        }
        let (low, high) = (400_000.0, 4_000_000.0);
        let d = decoded as f64;
        let allowed = if d <= low {
            0.99
        } else if d >= high {
            0.10
        } else {
            0.99 - 0.89 * (d - low) / (high - low)
        };
        aliased as f64 / d > allowed
    }
}

enum Frame {
    Seq {
        pos: Pos,
        /// This node's segment in its parent: the full path is built from the stack only for a message
        /// (a path per frame would make deep nesting quadratic).
        seg: Option<Seg>,
        items: Vec<Node>,
        anchor: usize,
        /// Nodes in this subtree (keys included), for alias accounting.
        size: u64,
        /// Char index of `[` when this is a flow sequence.
        flow: Option<usize>,
    },
    Map {
        pos: Pos,
        seg: Option<Seg>,
        entries: Vec<Entry>,
        /// The key read, waiting for its value.
        pending: Option<(String, Pos)>,
        /// `<<` merge sources, applied at the end (explicit keys win).
        merges: Vec<Node>,
        anchor: usize,
        /// Each key's first position and its index in `entries` (a map, so duplicates stay linear).
        seen: HashMap<String, (Pos, usize)>,
        size: u64,
        flow: Option<usize>,
    },
}

impl Frame {
    fn size_mut(&mut self) -> &mut u64 {
        match self {
            Frame::Seq { size, .. } | Frame::Map { size, .. } => size,
        }
    }
}

/// Parse a YAML stream. Returns the non-empty documents read before any syntax error, and the problems.
///
/// Never aborts and stays bounded: see [`limits`]. Also accepts two things go-yaml (and so `kubectl`)
/// accepts but a strict YAML 1.2 parser refuses: continuation lines of a flow collection or quoted scalar
/// indented less than their parent (`command: [` … `]` at the key's column) and `\'` in double quotes.
pub fn parse_documents(text: &str) -> (Vec<Document>, Vec<YamlError>) {
    let mut docs = Vec::new();
    let errors = for_each_document(text, &mut |d| docs.push(d));
    (docs, errors)
}

/// Like [`parse_documents`], but hands over each document as soon as it is read, so a caller that keeps
/// only what it decodes holds one document tree at a time. Returns the problems.
pub fn for_each_document(text: &str, deliver: &mut dyn FnMut(Document)) -> Vec<YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.len() > limits::MAX_FILE_BYTES {
        return vec![YamlError {
            pos: Pos { line: 1, col: 1 },
            path: FieldPath::root(),
            message: format!(
                "file is {} bytes, over the limit of {} MiB (split it into several files)",
                text.len(),
                limits::MAX_FILE_BYTES >> 20
            ),
        }];
    }
    let mut delivered = 0usize;
    let strict = parse_with_fixups(text, &compat::Fixups::default(), &mut |d| {
        delivered = d.index + 1;
        deliver(d)
    });
    let Some(first_err) = strict.syntax_error else {
        return strict.errors;
    };
    if !compat::may_help(&strict.errors[first_err].message) {
        return strict.errors;
    }
    let fixups = compat::fixups(text);
    if fixups.is_empty() {
        return strict.errors;
    }
    // Rare (the strict parse failed on what kubectl accepts): buffer, as the result may be discarded.
    let mut docs = Vec::new();
    let relaxed = parse_with_fixups(&fixups.text, &fixups, &mut |d| {
        if d.index >= delivered {
            docs.push(d)
        }
    });
    let got_further = match relaxed.syntax_error {
        None => true,
        Some(i) => relaxed.errors[i].pos > strict.errors[first_err].pos,
    };
    if got_further && fixups.verified(&relaxed.ranges, relaxed.escapes_seen, relaxed.reached) {
        docs.into_iter().for_each(deliver);
        relaxed.errors
    } else {
        strict.errors
    }
}

struct Outcome {
    errors: Vec<YamlError>,
    /// Index in `errors` of the error that stopped parsing.
    syntax_error: Option<usize>,
    /// Char ranges of flow collections and quoted scalars (for [`compat::Fixups::verified`]).
    ranges: Vec<(usize, usize)>,
    /// How many `\'` placeholders were found inside double-quoted scalars.
    escapes_seen: usize,
    /// Char index up to which the text was parsed.
    reached: usize,
}

fn parse_with_fixups(
    text: &str,
    fx: &compat::Fixups,
    deliver: &mut dyn FnMut(Document),
) -> Outcome {
    let mut errors = Vec::new();
    // Only a rewritten text needs the ranges checked.
    let keep_ranges = !fx.is_empty();
    let mut syntax_error = None;
    let mut ranges = Vec::new();
    let mut escapes_seen = 0usize;
    let mut reached = 0usize;
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, u64)> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut doc_index = 0usize;
    let mut doc_errors = 0usize;
    let mut doc_start = 0usize;
    let mut doc_start_pos = Pos { line: 1, col: 1 };
    // go-yaml's counters: every node read, and those read through an alias.
    let (mut decoded, mut aliased) = (0u64, 0u64);

    let mut fatal = |errors: &mut Vec<YamlError>, pos: Pos, path: FieldPath, message: String| {
        syntax_error = Some(errors.len());
        errors.push(YamlError { pos, path, message });
    };
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                let m = e.marker();
                reached = m.index();
                let message = if e.info() == "recursion limit exceeded" {
                    "invalid YAML: flow collections (`[`, `{`) nested deeper than 255 levels"
                        .to_string()
                } else {
                    format!("invalid YAML: {}", e.info())
                };
                fatal(
                    &mut errors,
                    fx.pos(m.line(), m.col()),
                    FieldPath::root(),
                    message,
                );
                break;
            }
        };
        reached = span.end.index();
        let pos = fx.pos(span.start.line(), span.start.col());
        if span.start.index() - doc_start > limits::MAX_DOCUMENT_CHARS {
            fatal(
                &mut errors,
                doc_start_pos,
                FieldPath::root(),
                format!(
                    "document is larger than {} MiB, the most clusterctl reads in one document (the API server takes at most 3 MiB per object)",
                    limits::MAX_DOCUMENT_CHARS >> 20
                ),
            );
            break;
        }
        let completed: Option<(Node, usize, u64)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                root = None;
                doc_errors = errors.len();
                anchors.clear();
                doc_start = span.start.index();
                doc_start_pos = pos;
                (decoded, aliased) = (0, 0);
                None
            }
            Event::DocumentEnd => {
                if let Some(r) = root.take() {
                    let empty = r.is_null() && stack.is_empty();
                    if !empty {
                        deliver(Document {
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
                Some((n, size)) => {
                    decoded = decoded.saturating_add(size.saturating_add(1));
                    aliased = aliased.saturating_add(*size);
                    if limits::excessive_aliasing(decoded, aliased) {
                        fatal(
                            &mut errors,
                            pos,
                            child_path(&stack),
                            format!(
                                "document contains excessive aliasing ({aliased} of {decoded} nodes come from aliases; kubectl refuses it too)"
                            ),
                        );
                        break;
                    }
                    // Shared, not copied: an alias costs one node however large its target. Its size
                    // counts in full, as go-yaml walks the target again for each alias.
                    let mut n = n.clone();
                    n.pos = pos;
                    Some((n, 0, size.saturating_add(1)))
                }
                None => {
                    errors.push(YamlError {
                        pos,
                        path: child_path(&stack),
                        message: "unknown anchor".to_string(),
                    });
                    Some((null_node(pos), 0, 1))
                }
            },
            Event::Scalar(value, style, anchor, tag) => {
                decoded += 1;
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let tag = tag.map(|t| match t.strip_prefix("tag:yaml.org,2002:") {
                    Some(rest) => format!("!!{rest}"),
                    None => t,
                });
                let (start, end) = (span.start.index(), span.end.index());
                let mut text_value = value.into_owned();
                match style {
                    ScalarStyle::DoubleQuoted if keep_ranges => {
                        ranges.push((start, end));
                        escapes_seen += fx.restore_escapes(text, start, end, &mut text_value);
                    }
                    ScalarStyle::SingleQuoted if keep_ranges => ranges.push((start, end)),
                    _ => {}
                }
                Some((
                    Node {
                        pos,
                        kind: NodeKind::Scalar(Scalar {
                            text: text_value,
                            plain: style == ScalarStyle::Plain,
                            tag,
                        }),
                    },
                    anchor,
                    1,
                ))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _)
                if stack.len() + 1 > limits::MAX_DEPTH =>
            {
                let _ = anchor;
                // The root path: ten thousand `[0]` would be no help.
                fatal(
                    &mut errors,
                    pos,
                    FieldPath::root(),
                    format!(
                        "nesting deeper than {} levels (kubectl's limit too)",
                        limits::MAX_DEPTH
                    ),
                );
                break;
            }
            Event::SequenceStart(anchor, _) => {
                decoded += 1;
                let seg = child_seg(&stack);
                let flow = (span.end.index() > span.start.index()).then_some(span.start.index());
                stack.push(Frame::Seq {
                    pos,
                    seg,
                    items: Vec::new(),
                    anchor,
                    size: 1,
                    flow,
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                decoded += 1;
                let seg = child_seg(&stack);
                let flow = (span.end.index() > span.start.index()).then_some(span.start.index());
                stack.push(Frame::Map {
                    pos,
                    seg,
                    entries: Vec::new(),
                    pending: None,
                    merges: Vec::new(),
                    anchor,
                    seen: HashMap::new(),
                    size: 1,
                    flow,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    pos,
                    items,
                    anchor,
                    size,
                    flow,
                    ..
                }) => {
                    if let Some(start) = flow.filter(|_| keep_ranges) {
                        ranges.push((start, span.start.index()));
                    }
                    let mut items = items;
                    // Vec growth leaves up to half unused: give it back, trees can be large.
                    items.shrink_to_fit();
                    Some((
                        Node {
                            pos,
                            kind: NodeKind::Seq(Arc::new(items)),
                        },
                        anchor,
                        size,
                    ))
                }
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    pos,
                    seg,
                    mut entries,
                    merges,
                    anchor,
                    size,
                    flow,
                    mut seen,
                    ..
                }) => {
                    if let Some(start) = flow.filter(|_| keep_ranges) {
                        ranges.push((start, span.start.index()));
                    }
                    let path = || {
                        let mut p = path_of(&stack);
                        p.segs.extend(seg.clone());
                        p
                    };
                    apply_merges(&mut entries, merges, &mut seen, &path, &mut errors);
                    entries.shrink_to_fit();
                    Some((
                        Node {
                            pos,
                            kind: NodeKind::Map(Arc::new(entries)),
                        },
                        anchor,
                        size,
                    ))
                }
                _ => None,
            },
        };
        if errors.len() >= limits::MAX_ERRORS {
            fatal(
                &mut errors,
                pos,
                FieldPath::root(),
                format!(
                    "more than {} problems in this file; stopped reading it",
                    limits::MAX_ERRORS
                ),
            );
            break;
        }
        if let Some((node, anchor, size)) = completed {
            if anchor != 0 {
                anchors.insert(anchor, (node.clone(), size));
            }
            if let Some(parent) = stack.last_mut() {
                let s = parent.size_mut();
                *s = s.saturating_add(size);
            }
            push_node(&mut stack, &mut root, node, &mut errors);
        }
    }
    Outcome {
        errors,
        syntax_error,
        ranges,
        escapes_seen,
        reached,
    }
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

/// The path of the top frame.
fn path_of(stack: &[Frame]) -> FieldPath {
    let segs = stack.iter().filter_map(|f| match f {
        Frame::Seq { seg, .. } | Frame::Map { seg, .. } => seg.clone(),
    });
    FieldPath {
        segs: segs.collect(),
    }
}

/// The segment, in the top frame, of the node about to be completed (none for a key or the root).
fn child_seg(stack: &[Frame]) -> Option<Seg> {
    match stack.last()? {
        Frame::Seq { items, .. } => Some(Seg::Index(items.len())),
        Frame::Map { pending, .. } => pending.as_ref().map(|(k, _)| Seg::Field(k.clone())),
    }
}

/// The path of the node about to be completed inside the top frame.
fn child_path(stack: &[Frame]) -> FieldPath {
    let mut p = path_of(stack);
    p.segs.extend(child_seg(stack));
    p
}

fn push_node(
    stack: &mut [Frame],
    root: &mut Option<Node>,
    node: Node,
    errors: &mut Vec<YamlError>,
) {
    let Some((top, below)) = stack.split_last_mut() else {
        *root = Some(node);
        return;
    };
    let path = |seg: &Option<Seg>| {
        let mut p = path_of(below);
        p.segs.extend(seg.clone());
        p
    };
    match top {
        Frame::Seq { items, .. } => items.push(node),
        Frame::Map {
            seg,
            entries,
            pending,
            merges,
            seen,
            ..
        } => match pending.take() {
            None => {
                // A key.
                let key = match &node.kind {
                    NodeKind::Scalar(s) => s.text.clone(),
                    _ => {
                        errors.push(YamlError {
                            pos: node.pos,
                            path: path(seg),
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
                if let Some(&(first, at)) = seen.get(&key) {
                    errors.push(YamlError {
                        pos: key_pos,
                        path: path(seg).child(&key),
                        message: format!(
                            "duplicate key {} (first defined at line {}, column {})",
                            go_quote(&key),
                            first.line,
                            first.col
                        ),
                    });
                    // Later wins, like JSON decoding would.
                    let e = &mut entries[at];
                    e.value = node;
                    e.key_pos = key_pos;
                    return;
                }
                seen.insert(key.clone(), (key_pos, entries.len()));
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
    seen: &mut HashMap<String, (Pos, usize)>,
    path: &dyn Fn() -> FieldPath,
    errors: &mut Vec<YamlError>,
) {
    let mut sources = Vec::new();
    for m in merges {
        match m.kind {
            NodeKind::Map(es) => sources.push(es),
            NodeKind::Seq(items) => {
                for it in items.iter() {
                    match &it.kind {
                        NodeKind::Map(es) => sources.push(es.clone()),
                        _ => errors.push(YamlError {
                            pos: it.pos,
                            path: path(),
                            message: "merge key `<<` needs a mapping or a list of mappings"
                                .to_string(),
                        }),
                    }
                }
            }
            _ => errors.push(YamlError {
                pos: m.pos,
                path: path(),
                message: "merge key `<<` needs a mapping or a list of mappings".to_string(),
            }),
        }
    }
    for src in sources {
        for e in src.iter() {
            // A set, not a scan of `entries`: merging big mappings must stay linear.
            if !seen.contains_key(&e.key) {
                seen.insert(e.key.clone(), (e.key_pos, entries.len()));
                entries.push(e.clone());
            }
        }
    }
}

/// What go-yaml accepts beyond YAML 1.2 and `saphyr-parser` does not: flow collections and quoted scalars
/// whose continuation lines sit left of their parent's indentation, and `\'` inside double quotes.
///
/// Used only when the strict parse fails with one of those errors: a small lexer finds the spots, the text
/// is rewritten without moving anything the parser reports (continuation lines get leading spaces, which
/// YAML folding drops; `\'` becomes the same-length `\N`, turned back into `'` in the decoded scalar), and
/// the result is kept only if the parser confirms every spot was inside a flow collection or quoted scalar.
mod compat {
    use super::Pos;

    #[derive(Default)]
    pub struct Fixups {
        /// The rewritten text.
        pub text: String,
        /// (1-based line, spaces added at its start), sorted by line.
        pads: Vec<(u32, u32)>,
        /// Char index in `text` of the first non-blank character of each padded line.
        padded_at: Vec<u32>,
        /// (char index, byte offset) in `text` of the `\` of each `\'` rewritten as `\N`, sorted.
        escapes: Vec<(u32, u32)>,
    }

    /// The strict parser's messages this rewrite can help with.
    pub fn may_help(message: &str) -> bool {
        message.contains("invalid indentation") || message.contains("unknown escape character")
    }

    impl Fixups {
        pub fn is_empty(&self) -> bool {
            self.pads.is_empty() && self.escapes.is_empty()
        }

        /// A parser position (1-based line, 0-based column in `text`) in the original text.
        pub fn pos(&self, line: usize, col: usize) -> Pos {
            let pad = match self.pads.binary_search_by_key(&(line as u32), |p| p.0) {
                Ok(i) => self.pads[i].1 as usize,
                Err(_) => 0,
            };
            Pos {
                line,
                col: col.saturating_sub(pad) + 1,
            }
        }

        /// Turns the placeholders of the double-quoted scalar `text[start..end]` (char indices) back into
        /// `'` in its decoded `value`. Returns how many it restored.
        pub fn restore_escapes(
            &self,
            text: &str,
            start: usize,
            end: usize,
            value: &mut String,
        ) -> usize {
            let lo = self.escapes.partition_point(|e| (e.0 as usize) < start);
            let hi = self.escapes.partition_point(|e| (e.0 as usize) < end);
            if lo == hi {
                return 0;
            }
            // Walk back from the first placeholder to the scalar's opening quote.
            let (first_char, first_byte) = self.escapes[lo];
            let bytes = text.as_bytes();
            let mut b = first_byte as usize;
            for _ in 0..(first_char as usize - start) {
                b -= 1;
                while bytes[b] & 0xC0 == 0x80 {
                    b -= 1;
                }
            }
            // Every source item that decodes to U+0085, in order, and whether it is a placeholder.
            let mut items = Vec::new();
            let mut ci = start;
            let mut it = text[b..].chars().peekable();
            while ci < end {
                let Some(c) = it.next() else { break };
                ci += 1;
                if c == '\u{85}' {
                    items.push(false);
                } else if c == '\\' {
                    let Some(n) = it.next() else { break };
                    ci += 1;
                    let hex = match n {
                        'N' => {
                            let placeholder = self.escapes[lo..hi]
                                .binary_search_by_key(&((ci - 2) as u32), |e| e.0)
                                .is_ok();
                            items.push(placeholder);
                            0
                        }
                        'x' => 2,
                        'u' => 4,
                        'U' => 8,
                        _ => 0,
                    };
                    if hex > 0 {
                        let digits: String = it.by_ref().take(hex).collect();
                        ci += digits.chars().count();
                        if u32::from_str_radix(&digits, 16) == Ok(0x85) {
                            items.push(false);
                        }
                    }
                }
            }
            let mut flags = items.into_iter();
            let mut restored = 0;
            *value = value
                .chars()
                .map(|c| {
                    if c == '\u{85}' && flags.next() == Some(true) {
                        restored += 1;
                        '\''
                    } else {
                        c
                    }
                })
                .collect();
            restored
        }

        /// Whether the parse of `text` confirmed every rewrite it reached: each `\'` was decoded inside a
        /// double-quoted scalar, each padded line lies inside a flow collection or quoted scalar.
        pub fn verified(
            &self,
            ranges: &[(usize, usize)],
            escapes_seen: usize,
            reached: usize,
        ) -> bool {
            let reached_escapes = self
                .escapes
                .iter()
                .filter(|e| (e.0 as usize) < reached)
                .count();
            if reached_escapes != escapes_seen {
                return false;
            }
            let mut ranges = ranges.to_vec();
            ranges.sort_unstable();
            // Largest end among ranges starting before each point.
            let mut max_end = Vec::with_capacity(ranges.len());
            let mut m = 0;
            for r in &ranges {
                m = m.max(r.1);
                max_end.push(m);
            }
            self.padded_at
                .iter()
                .map(|&p| p as usize)
                .filter(|&p| p < reached)
                .all(|p| {
                    let k = ranges.partition_point(|r| r.0 < p);
                    k > 0 && max_end[k - 1] >= p
                })
        }
    }

    fn blank(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\r' | b'\n')
    }

    /// Lex `text` (bytes: every YAML indicator is ASCII) for the spots to rewrite, then rewrite it.
    pub fn fixups(text: &str) -> Fixups {
        let b = text.as_bytes();
        let n = b.len();
        let mut pads: Vec<(usize, usize)> = Vec::new();
        let mut escapes: Vec<usize> = Vec::new();
        let (mut i, mut line, mut line_start, mut line_indent) = (0usize, 0usize, 0usize, 0usize);
        let mut flow = 0usize;
        let mut open_col = 0usize;
        let mut quote: Option<(u8, usize)> = None;
        let mut block_scalar: Option<isize> = None;
        let (mut parent, mut last_token) = (-1isize, -1isize);
        let mut at_line_start = true;
        let mut prev_blank = true;
        let col_of =
            |pos: usize, ls: usize| b[ls..pos].iter().filter(|&&c| c & 0xC0 != 0x80).count();
        let to_eol = |mut i: usize| {
            while i < n && b[i] != b'\n' {
                i += 1;
            }
            i
        };
        while i < n {
            if at_line_start {
                at_line_start = false;
                line_start = i;
                let mut j = i;
                while j < n && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                let indent = j - i;
                let is_blank = j >= n || b[j] == b'\n' || b[j] == b'\r';
                if let Some(p) = block_scalar {
                    if is_blank || indent as isize > p {
                        i = to_eol(i);
                        continue;
                    }
                    block_scalar = None;
                }
                let marker = indent == 0
                    && (b[i..].starts_with(b"---") || b[i..].starts_with(b"..."))
                    && (i + 3 >= n || blank(b[i + 3]));
                if marker {
                    (flow, quote) = (0, None);
                } else if !is_blank && (flow > 0 || quote.is_some()) {
                    let need = if flow > 0 {
                        open_col
                    } else {
                        quote.map_or(0, |q| q.1)
                    } + 1;
                    if indent < need {
                        pads.push((line, need - indent));
                    }
                }
                (parent, last_token, line_indent) = (-1, -1, indent);
                i = if marker { i + 3 } else { j };
                prev_blank = !marker;
                continue;
            }
            let c = b[i];
            if c == b'\n' {
                line += 1;
                i += 1;
                at_line_start = true;
                continue;
            }
            if let Some((q, _)) = quote {
                match (q, c) {
                    (b'"', b'\\') => {
                        if b.get(i + 1) == Some(&b'\'') {
                            escapes.push(i);
                        }
                        // An escaped line break: let the newline start the next line.
                        i += if b.get(i + 1) == Some(&b'\n') { 1 } else { 2 };
                    }
                    (b'"', b'"') => {
                        quote = None;
                        i += 1;
                    }
                    (b'\'', b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                    (b'\'', b'\'') => {
                        quote = None;
                        i += 1;
                    }
                    _ => i += 1,
                }
                prev_blank = false;
                continue;
            }
            if blank(c) {
                prev_blank = true;
                i += 1;
                continue;
            }
            if c == b'#' && prev_blank {
                i = to_eol(i);
                continue;
            }
            let token_start =
                prev_blank || (flow > 0 && matches!(b[i - 1], b'[' | b'{' | b',' | b':'));
            prev_blank = false;
            let next_blank = i + 1 >= n || blank(b[i + 1]);
            if flow > 0 {
                match c {
                    b'[' | b'{' => flow += 1,
                    b']' | b'}' => flow -= 1,
                    b'"' | b'\'' if token_start => quote = Some((c, col_of(i, line_start))),
                    _ => {}
                }
                i += 1;
                continue;
            }
            if c == b':' && next_blank {
                parent = last_token;
                i += 1;
                continue;
            }
            if !token_start {
                i += 1;
                continue;
            }
            let col = col_of(i, line_start);
            match c {
                b'"' | b'\'' => {
                    quote = Some((c, col));
                    last_token = col as isize;
                    i += 1;
                }
                b'[' | b'{' => {
                    flow = 1;
                    open_col = col;
                    last_token = col as isize;
                    i += 1;
                }
                b'-' | b'?' if next_blank => {
                    parent = col as isize;
                    i += 1;
                }
                b'|' | b'>' => {
                    block_scalar = Some(if parent >= 0 {
                        parent
                    } else {
                        line_indent as isize - 1
                    });
                    i = to_eol(i);
                }
                b'&' | b'!' | b'*' => {
                    while i < n && !blank(b[i]) {
                        i += 1;
                    }
                }
                _ => {
                    // A plain scalar: up to `: `, ` #` or the end of the line.
                    last_token = col as isize;
                    i += 1;
                    while i < n && b[i] != b'\n' {
                        if b[i] == b':' && (i + 1 >= n || blank(b[i + 1])) {
                            break;
                        }
                        if b[i] == b'#' && blank(b[i - 1]) {
                            break;
                        }
                        i += 1;
                    }
                }
            }
        }
        rewrite(text, &pads, &escapes)
    }

    fn rewrite(text: &str, pads: &[(usize, usize)], escapes: &[usize]) -> Fixups {
        let added: usize = pads.iter().map(|p| p.1).sum();
        // A hostile file could ask for huge pads on every line: then keep the strict result.
        if (pads.is_empty() && escapes.is_empty()) || added > text.len().max(1 << 20) {
            return Fixups::default();
        }
        let mut bytes = Vec::with_capacity(text.len() + added);
        let mut fx = Fixups::default();
        let (mut pi, mut ei) = (0usize, 0usize);
        let mut chars = 0u32;
        let mut offset = 0usize;
        for (line, segment) in text.split_inclusive('\n').enumerate() {
            if pi < pads.len() && pads[pi].0 == line {
                let add = pads[pi].1;
                pi += 1;
                bytes.resize(bytes.len() + add, b' ');
                chars += add as u32;
                fx.pads.push(((line + 1) as u32, add as u32));
                let lead = segment
                    .bytes()
                    .take_while(|&c| c == b' ' || c == b'\t')
                    .count();
                fx.padded_at.push(chars + lead as u32);
            }
            let seg_start = bytes.len();
            let mut seg_chars = chars;
            let mut last = offset;
            while ei < escapes.len() && escapes[ei] < offset + segment.len() {
                let e = escapes[ei];
                seg_chars += text[last..e].chars().count() as u32;
                last = e;
                fx.escapes
                    .push((seg_chars, (seg_start + (e - offset)) as u32));
                ei += 1;
            }
            bytes.extend_from_slice(segment.as_bytes());
            chars += segment.chars().count() as u32;
            offset += segment.len();
        }
        for &(_, at) in &fx.escapes {
            bytes[at as usize + 1] = b'N';
        }
        fx.text = String::from_utf8(bytes).expect("ASCII edits keep UTF-8 valid");
        fx
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

    fn scalar(root: &Node, path: &str) -> String {
        let mut node = root;
        for part in path.split('.') {
            node = match part.parse::<usize>() {
                Ok(i) => &node.as_seq().unwrap()[i],
                Err(_) => &node.get(part).unwrap().value,
            };
        }
        node.as_scalar().unwrap().text.clone()
    }

    #[test]
    fn flow_and_quoted_continuations_left_of_the_key_are_accepted_like_kubectl() {
        // The official examples write `command: [` … `]` with the bracket at the key's column.
        let text = "spec:\n  containers:\n  - name: a\n    command: [\n      \"sh\", \"-c\",\n    \"x\"\n    ]\n    args: [\n\"a\"\n]\n    note: \"one\ntwo\"\n    last: {\n  k: v\n}\n";
        let root = one(text);
        let c = "spec.containers.0";
        assert_eq!(scalar(&root, &format!("{c}.command.0")), "sh");
        assert_eq!(scalar(&root, &format!("{c}.command.2")), "x");
        assert_eq!(scalar(&root, &format!("{c}.args.0")), "a");
        assert_eq!(scalar(&root, &format!("{c}.note")), "one two");
        assert_eq!(scalar(&root, &format!("{c}.last.k")), "v");
        // Positions are those of the original text, also on the rewritten lines.
        let cmd = &root.locate(
            &FieldPath::parse("spec.containers")
                .index(0)
                .child("command")
                .index(2),
        );
        assert_eq!(*cmd, Pos { line: 6, col: 5 });
        let args = root.locate(
            &FieldPath::parse("spec.containers")
                .index(0)
                .child("args")
                .index(0),
        );
        assert_eq!(args, Pos { line: 9, col: 1 });
        // The same under a block scalar is content, untouched.
        let root = one("a: |\n  x: [\n  \"\\'\"\nc: [\nd\n]\n");
        assert_eq!(scalar(&root, "a"), "x: [\n\"\\'\"\n");
        assert_eq!(scalar(&root, "c.0"), "d");
    }

    #[test]
    fn escaped_single_quote_in_double_quotes_is_accepted_like_kubectl() {
        let root = one(
            "a: \"echo \\'hi\\' \\N \\x85\"\nb: 'it''s \\'\nc: \"multi\n  line \\'q\\'\"\n# \"\\'\"\nd: plain \\' x\n",
        );
        assert_eq!(scalar(&root, "a"), "echo 'hi' \u{85} \u{85}");
        assert_eq!(scalar(&root, "b"), "it's \\");
        assert_eq!(scalar(&root, "c"), "multi line 'q'");
        assert_eq!(scalar(&root, "d"), "plain \\' x");
        // Still refused: escapes go-yaml refuses too.
        let (_, errs) = parse_documents("a: \"\\q\"\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("unknown escape"), "{errs:?}");
    }

    #[test]
    fn real_indentation_errors_stay_errors() {
        for text in [
            "a:\n  b: 1\n c: 2\n",
            "a: [1,\n---\n2]\n",
            "a:\n  - b\n c\n",
        ] {
            let (_, errs) = parse_documents(text);
            assert_eq!(errs.len(), 1, "{text:?}: {errs:?}");
        }
    }

    #[test]
    fn depth_is_limited_like_go_yaml() {
        let ok = format!("a: {}{}\n", "[".repeat(254), "]".repeat(254));
        let (docs, errs) = parse_documents(&ok);
        assert!(errs.is_empty() && docs.len() == 1, "{errs:?}");
        let (_, errs) = parse_documents(&format!("a: {}\n", "[".repeat(300)));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].message.contains("nested deeper than 255"),
            "{errs:?}"
        );
        // Block nesting: the root counts as 1, as in go-yaml (10,000 levels pass, 10,001 do not).
        let block = |levels: usize| format!("{}x\n", "- ".repeat(levels));
        // Deep trees are dropped recursively: give the test the main thread's stack size.
        let (ok, over) = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                (
                    parse_documents(&block(10_000)).1,
                    parse_documents(&block(10_001)).1,
                )
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(ok.is_empty(), "{ok:?}");
        assert_eq!(over.len(), 1);
        assert_eq!(
            over[0].pos,
            Pos {
                line: 1,
                col: 20_001
            }
        );
        assert_eq!(
            over[0].message,
            "nesting deeper than 10000 levels (kubectl's limit too)"
        );
    }

    fn bomb(levels: usize) -> String {
        let mut t = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..levels {
            let p = format!("*a{}", i - 1);
            t.push_str(&format!("a{i}: &a{i} [{}]\n", vec![p; 10].join(", ")));
        }
        t
    }

    #[test]
    fn alias_expansion_follows_go_yamls_ratio() {
        // kubectl (go-yaml) reads 10^3 and refuses 10^4: the same here.
        let (docs, errs) = parse_documents(&bomb(3));
        assert!(errs.is_empty() && docs.len() == 1, "{errs:?}");
        for levels in [4, 9, 30] {
            let (_, errs) = parse_documents(&bomb(levels));
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(
                errs[0]
                    .message
                    .starts_with("document contains excessive aliasing")
            );
            assert_eq!(errs[0].pos.line, 4, "{errs:?}");
        }
        assert!(!limits::excessive_aliasing(400_000, 390_000));
        assert!(limits::excessive_aliasing(4_000_000, 400_001));
        assert!(!limits::excessive_aliasing(1000, 999));
    }

    #[test]
    fn duplicate_keys_and_merges_stay_linear() {
        let mut t = String::new();
        for i in 0..50_000 {
            t.push_str(&format!("k{i}: 1\n"));
        }
        for i in 0..50_000 {
            t.push_str(&format!("k{i}: 2\n"));
        }
        let start = std::time::Instant::now();
        let (docs, errs) = parse_documents(&t);
        assert_eq!(errs.len(), limits::MAX_ERRORS + 1);
        assert!(
            errs.last()
                .unwrap()
                .message
                .starts_with("more than 1000 problems")
        );
        assert!(docs.is_empty());
        // Generous: quadratic would take minutes.
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn oversized_files_are_refused_unread() {
        let big = "#".repeat(limits::MAX_FILE_BYTES + 1);
        let (docs, errs) = parse_documents(&big);
        assert!(docs.is_empty());
        assert_eq!(errs[0].pos, Pos { line: 1, col: 1 });
        assert!(
            errs[0].message.contains("over the limit of 16 MiB"),
            "{errs:?}"
        );
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
    }
}
