//! The Kubernetes schema as k8s-openapi's own `Deserialize` impls describe it (test only): a probing
//! deserializer asks each generated type for its struct name and field list (`deserialize_struct`), then
//! follows one field at a time to learn the shape of its value. Nothing is copied from the schema: when
//! k8s-openapi gains a field, this sees it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};

/// What a field holds, seen through `Option`, newtypes, lists and maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    Scalar,
    Struct(&'static str, &'static [&'static str]),
}

/// Shape plus the containers around it (`[]` list, `{}` map of string keys), outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldShape {
    pub wrappers: Vec<char>,
    pub shape: Shape,
}

#[derive(Debug)]
struct Stop(String);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Stop {}
impl de::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop(msg.to_string())
    }
}

struct Probe<'a> {
    path: &'a [&'a str],
    out: &'a RefCell<FieldShape>,
}

impl<'a> Probe<'a> {
    fn scalar<T>(self) -> Result<T, Stop> {
        if self.path.is_empty() {
            self.out.borrow_mut().shape = Shape::Scalar;
        }
        Err(Stop("scalar".into()))
    }
    fn wrap(&self, c: char) {
        if self.path.is_empty() {
            self.out.borrow_mut().wrappers.push(c);
        }
    }
}

impl<'de, 'a> de::Deserializer<'de> for Probe<'a> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Stop> {
        self.scalar()
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _n: &'static str,
        v: V,
    ) -> Result<V::Value, Stop> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        self.wrap('[');
        v.visit_seq(OneElement(Some(self)))
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        self.wrap('{');
        v.visit_map(OneEntry {
            key: Some("k"),
            value: Some(self),
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            None => {
                self.out.borrow_mut().shape = Shape::Struct(name, fields);
                Err(Stop("struct".into()))
            }
            Some((key, rest)) => v.visit_map(OneEntry {
                key: Some(key),
                value: Some(Probe {
                    path: rest,
                    out: self.out,
                }),
            }),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_unit()
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Stop> {
        self.scalar()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct enum
    }
}

struct OneElement<'a>(Option<Probe<'a>>);

impl<'de, 'a> de::SeqAccess<'de> for OneElement<'a> {
    type Error = Stop;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        match self.0.take() {
            Some(p) => seed.deserialize(p).map(Some),
            None => Ok(None),
        }
    }
}

struct OneEntry<'a> {
    key: Option<&'a str>,
    value: Option<Probe<'a>>,
}

impl<'de, 'a> de::MapAccess<'de> for OneEntry<'a> {
    type Error = Stop;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(k) => {
                let d: de::value::StrDeserializer<'_, Stop> =
                    de::IntoDeserializer::into_deserializer(k);
                seed.deserialize(d).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        seed.deserialize(self.value.take().expect("value after key"))
    }
}

/// The shape of the value at `path` (struct keys from the root of `T`).
pub fn probe<T: DeserializeOwned>(path: &[&str]) -> FieldShape {
    let out = RefCell::new(FieldShape {
        wrappers: Vec::new(),
        shape: Shape::Scalar,
    });
    let _ = T::deserialize(Probe { path, out: &out });
    out.into_inner()
}

/// One struct type reached from a root kind: its fields, the shape of each, and one path that reaches it.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub fields: BTreeMap<&'static str, FieldShape>,
    /// Struct keys from the root kind.
    pub path: Vec<&'static str>,
    pub root: &'static str,
}

/// Every struct type reachable from `T` through fields `follow(type, field)` accepts, by struct name.
/// Panics when two different types share a struct name (the table is keyed by it).
pub fn walk<T: DeserializeOwned>(
    root: &'static str,
    follow: &dyn Fn(&str, &str) -> bool,
    into: &mut BTreeMap<&'static str, TypeInfo>,
) {
    let Shape::Struct(name, fields) = probe::<T>(&[]).shape else {
        panic!("{root} is not a struct");
    };
    let mut queue = VecDeque::from([(name, fields, Vec::<&'static str>::new())]);
    let mut seen = BTreeSet::new();
    while let Some((name, fields, path)) = queue.pop_front() {
        if let Some(known) = into.get(name) {
            let known: Vec<&str> = known.fields.keys().copied().collect();
            let mut these: Vec<&str> = fields.to_vec();
            these.sort();
            assert_eq!(known, these, "two types named {name}");
        }
        if !seen.insert(name) {
            continue;
        }
        let mut info = TypeInfo {
            fields: BTreeMap::new(),
            path: path.clone(),
            root,
        };
        for f in fields {
            let mut p = path.clone();
            p.push(f);
            let shape = probe::<T>(&p);
            if let Shape::Struct(n, fs) = shape.shape
                && follow(name, f)
            {
                queue.push_back((n, fs, p));
            }
            info.fields.insert(f, shape);
        }
        into.entry(name).or_insert(info);
    }
}
