//! A serde `Deserializer` over a position-annotated YAML tree, so typed decoding (`k8s_openapi` objects)
//! reports the field path and `line:col` of the offending value, and records every key the Kubernetes
//! schema does not know (the generated types skip those with `IgnoredAny`).
//!
//! Scalars are typed strictly, like `kubectl apply` sending JSON to the API server: `value: 8080` into a
//! string field is an error (quote it), `replicas: "3"` into an integer field is an error.
//!
//! A type that wants to check its values itself (the inventory, which reports every problem at once with
//! its own messages) asks for [`Spanned`] values: the node's position, its key's position and its shape,
//! with the typed value only when it decodes.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{FieldPath, Node, NodeKind, Pos, Resolved, Scalar};

/// A key the schema does not know: (path of the mapping holding it, the key, the key's position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    pub parent: FieldPath,
    pub key: String,
    pub pos: Pos,
    /// The keys the struct knows, as the schema names them (empty for a map).
    pub expected: &'static [&'static str],
}

/// A key the schema knows, as written: which generated struct holds it, so the manifest layer can look
/// the field up in its table of what clusterctl implements (`manifest::fields`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownField {
    /// The struct name k8s-openapi gives serde (`PodSpec`, `Container`, …).
    pub ty: &'static str,
    pub key: &'static str,
    /// Path of the value.
    pub path: FieldPath,
    /// Position of the key.
    pub pos: Pos,
    /// The value is null or an empty mapping/sequence (it says nothing).
    pub empty: bool,
    /// The value's text when it is a scalar.
    pub scalar: Option<String>,
}

#[derive(Default)]
pub struct Ctx {
    pub unknown: RefCell<Vec<UnknownField>>,
    /// Every key of a struct that the schema knows, in document order (parents before children).
    pub known: RefCell<Vec<KnownField>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    pub message: String,
    /// Set by the innermost value that failed.
    pub at: Option<(FieldPath, Pos)>,
}

impl DeError {
    fn locate(mut self, path: &FieldPath, pos: Pos) -> DeError {
        if self.at.is_none() {
            self.at = Some((path.clone(), pos));
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            at: None,
        }
    }
}

/// Decode `node` (at `path`) into `T`, recording unknown keys into `ctx`.
pub fn from_node<T: de::DeserializeOwned>(
    node: &Node,
    path: &FieldPath,
    ctx: &Ctx,
) -> Result<T, DeError> {
    T::deserialize(De {
        node,
        path: path.clone(),
        ctx,
    })
    .map_err(|e| e.locate(path, node.pos))
}

pub struct De<'a> {
    node: &'a Node,
    path: FieldPath,
    ctx: &'a Ctx,
}

fn unexpected<'s>(s: &'s Scalar, r: &'s Resolved<'s>) -> de::Unexpected<'s> {
    match r {
        Resolved::Null => de::Unexpected::Unit,
        Resolved::Bool(b) => de::Unexpected::Bool(*b),
        Resolved::Int(i) if *i < 0 => de::Unexpected::Signed(*i as i64),
        Resolved::Int(i) => de::Unexpected::Unsigned(*i as u64),
        Resolved::Float(f) => de::Unexpected::Float(*f),
        Resolved::Str(_) => de::Unexpected::Str(&s.text),
    }
}

impl<'a> De<'a> {
    fn invalid<V: Visitor<'a>>(&self, visitor: &V) -> DeError {
        match &self.node.kind {
            NodeKind::Scalar(s) => {
                let r = s.resolve();
                de::Error::invalid_type(unexpected(s, &r), visitor)
            }
            NodeKind::Seq(_) => de::Error::invalid_type(de::Unexpected::Seq, visitor),
            NodeKind::Map(_) => de::Error::invalid_type(de::Unexpected::Map, visitor),
        }
    }
}

impl<'de> de::Deserializer<'de> for De<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) if i < 0 => visitor.visit_i64(i as i64),
                Resolved::Int(i) => visitor.visit_u64(i as u64),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(t) => visitor.visit_str(t),
            },
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                index: 0,
                path: self.path,
                ctx: self.ctx,
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                current: None,
                path: self.path,
                ctx: self.ctx,
                is_struct: false,
                name: "",
                fields: &[],
            }),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Str(t) => visitor.visit_str(t),
                // JSON null into a Go string leaves it empty.
                Resolved::Null => visitor.visit_str(""),
                _ => {
                    let mut e = self.invalid(&visitor);
                    e.message
                        .push_str(&format!(" (quote it to make it a string: \"{}\")", s.text));
                    Err(e)
                }
            },
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Bool(b) => visitor.visit_bool(b),
                _ => Err(self.invalid(&visitor)),
            },
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED {
            return visitor.visit_seq(SpannedAccess::new(self, None));
        }
        match &self.node.kind {
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                current: None,
                path: self.path,
                ctx: self.ctx,
                is_struct: true,
                name,
                fields,
            }),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Seq(_) => self.deserialize_any(visitor),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar(s) => visitor.visit_enum(s.text.as_str().into_deserializer()),
            _ => Err(self.invalid(&visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct tuple tuple_struct identifier
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: FieldPath,
    ctx: &'a Ctx,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = self.path.index(self.index);
        self.index += 1;
        seed.deserialize(De {
            node,
            path: path.clone(),
            ctx: self.ctx,
        })
        .map(Some)
        .map_err(|e| e.locate(&path, node.pos))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    entries: std::slice::Iter<'a, super::Entry>,
    current: Option<&'a super::Entry>,
    path: FieldPath,
    ctx: &'a Ctx,
    is_struct: bool,
    /// The struct's name (empty for a map).
    name: &'static str,
    fields: &'static [&'static str],
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some(entry);
        let key: de::value::StrDeserializer<'_, DeError> = entry.key.as_str().into_deserializer();
        seed.deserialize(key)
            .map(Some)
            .map_err(|e| e.locate(&self.path, entry.key_pos))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let entry = self.current.take().expect("value after key");
        let path = if self.is_struct {
            self.path.child(&entry.key)
        } else {
            self.path.key(&entry.key)
        };
        let ctx = self.ctx;
        let parent = self.path.clone();
        if self.is_struct
            && let Some(key) = self.fields.iter().find(|f| **f == entry.key)
        {
            let (empty, scalar) = match &entry.value.kind {
                NodeKind::Scalar(s) => (entry.value.is_null(), Some(s.text.clone())),
                NodeKind::Seq(items) => (items.is_empty(), None),
                NodeKind::Map(entries) => (entries.is_empty(), None),
            };
            ctx.known.borrow_mut().push(KnownField {
                ty: self.name,
                key,
                path: path.clone(),
                pos: entry.key_pos,
                empty,
                scalar,
            });
        }
        seed.deserialize(FieldDe {
            inner: De {
                node: &entry.value,
                path: path.clone(),
                ctx,
            },
            on_ignored: Some(UnknownField {
                parent,
                key: entry.key.clone(),
                pos: entry.key_pos,
                expected: self.fields,
            }),
        })
        .map_err(|e| e.locate(&path, entry.value.pos))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The value of a mapping entry: like [`De`], but knows its key so an ignored value is recorded as unknown.
struct FieldDe<'a> {
    inner: De<'a>,
    on_ignored: Option<UnknownField>,
}

macro_rules! forward_inner {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                self.inner.$method(visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for FieldDe<'de> {
    type Error = DeError;

    forward_inner! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let Some(u) = self.on_ignored {
            self.inner.ctx.unknown.borrow_mut().push(u);
        }
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED {
            let key_pos = self.on_ignored.map(|u| u.pos);
            return visitor.visit_seq(SpannedAccess::new(self.inner, key_pos));
        }
        self.inner.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.inner.deserialize_enum(name, variants, visitor)
    }
}

/// The struct name [`Spanned`] asks for; [`De`] answers it with the position protocol below.
const SPANNED: &str = "$clusterctl::de::Spanned";

/// A value with where it was written: the node's position, its key's position (for a mapping's value),
/// a shallow copy of the node (scalars whole, sequences and mappings without their children: enough to
/// describe it in a message), and the typed value, `None` when the node does not decode as a `T` (the
/// caller reports that in its own words; nothing else is lost, as errors are caught here).
/// Only [`De`] can produce one.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub node: Node,
    pub key_pos: Option<Pos>,
    pub value: Option<T>,
}

impl<T> Spanned<T> {
    pub fn pos(&self) -> Pos {
        self.node.pos
    }
}

/// A [`Spanned`] field that may be absent: `None` when the key is missing, `Some` when it is written,
/// even as `key: ~`. Use it with `#[serde(default)]` on the struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<T>(pub Option<Spanned<T>>);

impl<T> Default for Field<T> {
    fn default() -> Self {
        Field(None)
    }
}

/// A leaf whose text the caller reads from [`Spanned::node`]: decoding it checks nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Raw;

impl<'de> de::Deserialize<'de> for Raw {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_ignored_any(de::IgnoredAny).map(|_| Raw)
    }
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Spanned<T>, D::Error> {
        d.deserialize_struct(SPANNED, &[], SpannedVisitor(PhantomData))
    }
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Field<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Field<T>, D::Error> {
        Spanned::deserialize(d).map(|s| Field(Some(s)))
    }
}

/// The protocol: a sequence of line, col, key line, key col (0, 0: none), kind (0 scalar, 1 sequence,
/// 2 mapping), scalar text, plain, tag ("" none), then the value itself.
struct SpannedAccess<'a> {
    de: Option<De<'a>>,
    key_pos: Option<Pos>,
    step: u8,
}

impl<'a> SpannedAccess<'a> {
    fn new(de: De<'a>, key_pos: Option<Pos>) -> SpannedAccess<'a> {
        SpannedAccess {
            de: Some(de),
            key_pos,
            step: 0,
        }
    }
}

impl<'de> de::SeqAccess<'de> for SpannedAccess<'de> {
    type Error = DeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        let Some(de) = self.de.as_ref() else {
            return Ok(None);
        };
        let node = de.node;
        let scalar = node.as_scalar();
        let num = |n: usize| seed_u64(n as u64);
        let key = self.key_pos.unwrap_or_default();
        let step = self.step;
        self.step += 1;
        let v = match step {
            0 => seed.deserialize(num(node.pos.line)),
            1 => seed.deserialize(num(node.pos.col)),
            2 => seed.deserialize(num(key.line)),
            3 => seed.deserialize(num(key.col)),
            4 => seed.deserialize(num(match node.kind {
                NodeKind::Scalar(_) => 0,
                NodeKind::Seq(_) => 1,
                NodeKind::Map(_) => 2,
            })),
            5 => seed.deserialize(scalar.map_or("", |s| s.text.as_str()).into_deserializer()),
            6 => seed.deserialize(scalar.is_some_and(|s| s.plain).into_deserializer()),
            7 => seed.deserialize(
                scalar
                    .and_then(|s| s.tag.as_deref())
                    .unwrap_or("")
                    .into_deserializer(),
            ),
            _ => seed.deserialize(self.de.take().expect("value")),
        };
        v.map(Some)
    }
}

fn seed_u64(n: u64) -> de::value::U64Deserializer<DeError> {
    n.into_deserializer()
}

struct SpannedVisitor<T>(PhantomData<T>);

/// Decodes a `T`, turning a failure into `None`.
struct Catch<T>(PhantomData<T>);

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Catch<T> {
    type Value = Option<T>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        Ok(T::deserialize(d).ok())
    }
}

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
    type Value = Spanned<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value read by clusterctl's YAML deserializer")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Spanned<T>, A::Error> {
        let mut n = || -> Result<usize, A::Error> {
            let v: u64 = seq
                .next_element()?
                .ok_or_else(|| de::Error::custom("short position"))?;
            Ok(v as usize)
        };
        let pos = Pos {
            line: n()?,
            col: n()?,
        };
        let key = Pos {
            line: n()?,
            col: n()?,
        };
        let kind = n()?;
        let text: String = seq.next_element()?.unwrap_or_default();
        let plain: bool = seq.next_element()?.unwrap_or_default();
        let tag: String = seq.next_element()?.unwrap_or_default();
        let value = seq.next_element_seed(Catch(PhantomData))?.flatten();
        let kind = match kind {
            0 => NodeKind::Scalar(Scalar {
                text,
                plain,
                tag: (!tag.is_empty()).then_some(tag),
            }),
            1 => NodeKind::Seq(Default::default()),
            _ => NodeKind::Map(Default::default()),
        };
        Ok(Spanned {
            node: Node { pos, kind },
            key_pos: (key.line > 0).then_some(key),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents;
    use k8s_openapi::api::apps::v1::Deployment;

    fn decode(text: &str) -> (Result<Deployment, DeError>, Vec<UnknownField>) {
        let (docs, errs) = parse_documents(text);
        assert!(errs.is_empty());
        let ctx = Ctx::default();
        let r = from_node::<Deployment>(&docs[0].root, &FieldPath::root(), &ctx);
        (r, ctx.unknown.into_inner())
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let (r, _) = decode(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: three\n  selector: {}\n  template: {}\n",
        );
        let e = r.unwrap_err();
        let (path, pos) = e.at.unwrap();
        assert_eq!(path.to_string(), "spec.replicas");
        assert_eq!(pos, Pos { line: 6, col: 13 });
        assert_eq!(e.message, "invalid type: string \"three\", expected i32");
    }

    #[test]
    fn numbers_into_strings_are_errors_with_a_hint() {
        let (r, _) = decode(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n  labels:\n    version: 1.0\n",
        );
        let e = r.unwrap_err();
        let (path, _) = e.at.unwrap();
        assert_eq!(path.to_string(), "metadata.labels[version]");
        assert_eq!(
            e.message,
            "invalid type: floating point `1.0`, expected a string (quote it to make it a string: \"1.0\")"
        );
    }

    #[test]
    fn unknown_fields_are_recorded() {
        let (r, unknown) = decode(
            "apiVersion: apps/v1\nkind: Deployment\nfoo: 1\nmetadata:\n  name: x\n  bar: {a: 1}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        imagee: nginx\n",
        );
        r.unwrap();
        let u: Vec<String> = unknown
            .iter()
            .map(|u| format!("{}:{} {} {}", u.pos.line, u.pos.col, u.parent, u.key))
            .collect();
        assert_eq!(
            u,
            vec![
                "3:1  foo",
                "6:3 metadata bar",
                "12:9 spec.template.spec.containers[0] imagee"
            ]
        );
    }

    #[test]
    fn spanned_values_carry_positions_and_catch_type_errors() {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct S {
            port: Field<u16>,
            name: Field<Raw>,
            list: Field<Vec<Spanned<Raw>>>,
            absent: Field<Raw>,
        }
        let (docs, _) = parse_documents("name: 0x1F\nport: [1]\nlist:\n- ~\n- {a: 1}\nextra: 1\n");
        let ctx = Ctx::default();
        let s: Spanned<S> = from_node(&docs[0].root, &FieldPath::root(), &ctx).unwrap();
        let s = s.value.unwrap();
        let name = s.name.0.unwrap();
        assert_eq!(name.node.as_scalar().unwrap().text, "0x1F");
        assert_eq!(
            (name.pos(), name.key_pos),
            (Pos { line: 1, col: 7 }, Some(Pos { line: 1, col: 1 }))
        );
        let port = s.port.0.unwrap();
        assert_eq!(
            (port.value, port.node.describe()),
            (None, "a sequence".to_string())
        );
        let list = s.list.0.unwrap().value.unwrap();
        assert!(list[0].node.is_null());
        assert_eq!(
            (list[1].pos(), list[1].key_pos),
            (Pos { line: 5, col: 3 }, None)
        );
        assert!(s.absent.0.is_none());
        let unknown = ctx.unknown.into_inner();
        assert_eq!(unknown.len(), 1);
        assert_eq!(
            (unknown[0].key.as_str(), unknown[0].expected),
            ("extra", &["port", "name", "list", "absent"][..])
        );
    }

    #[test]
    fn quantities_accept_numbers_and_int_or_string_both() {
        let (r, _) = decode(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  strategy:\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 10%\n  template:\n    spec:\n      containers:\n      - name: a\n        resources:\n          limits: {cpu: 0.5, memory: 128Mi}\n",
        );
        let d = r.unwrap();
        let spec = d.spec.unwrap();
        let ru = spec.strategy.unwrap().rolling_update.unwrap();
        assert_eq!(
            ru.max_surge,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
        );
        let c = &spec.template.spec.unwrap().containers[0];
        let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["cpu"].0, "0.5");
        assert_eq!(limits["memory"].0, "128Mi");
    }
}
