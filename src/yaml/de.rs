//! A serde `Deserializer` over a position-annotated YAML tree, so typed decoding (`k8s_openapi` objects)
//! reports the field path and `line:col` of the offending value, and records every key the Kubernetes
//! schema does not know (the generated types skip those with `IgnoredAny`).
//!
//! Scalars are typed strictly, like `kubectl apply` sending JSON to the API server: `value: 8080` into a
//! string field is an error (quote it), `replicas: "3"` into an integer field is an error.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{FieldPath, Node, NodeKind, Pos, Resolved, Scalar};

/// A key the schema does not know: (path of the mapping holding it, the key, the key's position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    pub parent: FieldPath,
    pub key: String,
    pub pos: Pos,
}

#[derive(Default)]
pub struct Ctx {
    pub unknown: RefCell<Vec<UnknownField>>,
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
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                current: None,
                path: self.path,
                ctx: self.ctx,
                is_struct: true,
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
