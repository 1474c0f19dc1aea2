//! Label selectors, the one matcher every stage uses: `kubectl -l` text (`a=b`, `a==b`, `a!=b`, `a`, `!a`,
//! `a in (x,y)`, `a notin (x)`, joined by commas) and `metav1.LabelSelector` objects (matchLabels +
//! matchExpressions, as workloads, services' owners and affinity terms carry them) compile to the same
//! requirements. Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// `key op values`; `a=b` is `a in (b)`, `a!=b` is `a notin (b)`, as upstream's `labels.Requirement`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Req {
    key: String,
    op: Op,
    /// Sorted and deduplicated, so equal selectors compare (and intern) equal.
    values: Vec<String>,
}

/// A compiled selector. `Nothing` is what upstream makes of a missing or invalid `LabelSelector`
/// (`metav1.LabelSelectorAsSelector` fails, callers select nothing); `All(reqs)` ANDs its requirements,
/// so `All([])` (the default, an empty `-l`, an empty `LabelSelector`) selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    Nothing,
    All(Vec<Req>),
}

impl Default for Selector {
    fn default() -> Self {
        Selector::All(Vec::new())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid label selector {input:?}: {why}")]
pub struct SelectorError {
    pub input: String,
    pub why: String,
}

fn req(key: String, op: Op, mut values: Vec<String>) -> Req {
    values.sort();
    values.dedup();
    Req { key, op, values }
}

impl Selector {
    /// `kubectl -l` syntax.
    pub fn parse(s: &str) -> Result<Selector, SelectorError> {
        let err = |why: &str| SelectorError {
            input: s.to_string(),
            why: why.to_string(),
        };
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let r = if let Some(k) = part.strip_prefix('!') {
                req(key(k, &err)?, Op::DoesNotExist, vec![])
            } else if let Some((k, v)) = part.split_once("!=") {
                req(key(k, &err)?, Op::NotIn, vec![v.trim().to_string()])
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                req(key(k, &err)?, Op::In, vec![v.trim().to_string()])
            } else if let Some((k, rest)) = split_word(part, " notin ") {
                let vs = set(rest).ok_or_else(|| err("expected (values) after notin"))?;
                req(key(k, &err)?, Op::NotIn, vs)
            } else if let Some((k, rest)) = split_word(part, " in ") {
                let vs = set(rest).ok_or_else(|| err("expected (values) after in"))?;
                req(key(k, &err)?, Op::In, vs)
            } else {
                req(key(part, &err)?, Op::Exists, vec![])
            };
            reqs.push(r);
        }
        Ok(Selector::all(reqs))
    }

    /// `metav1.LabelSelectorAsSelector`: a missing selector selects nothing, an empty one everything, an
    /// invalid one (unknown operator, `In`/`NotIn` without values, `Exists` with values) nothing.
    pub fn of(sel: Option<&LabelSelector>) -> Selector {
        let Some(sel) = sel else {
            return Selector::Nothing;
        };
        let mut reqs = vec![];
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(req(k.clone(), Op::In, vec![v.clone()]));
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let op = match e.operator.as_str() {
                "In" if !values.is_empty() => Op::In,
                "NotIn" if !values.is_empty() => Op::NotIn,
                "Exists" if values.is_empty() => Op::Exists,
                "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
                _ => return Selector::Nothing,
            };
            reqs.push(req(e.key.clone(), op, values));
        }
        Selector::all(reqs)
    }

    fn all(mut reqs: Vec<Req>) -> Selector {
        reqs.sort();
        reqs.dedup();
        Selector::All(reqs)
    }

    /// Adds `key in (v)` (`mismatch`: `key notin (v)`) for each key the pod has: matchLabelKeys /
    /// mismatchLabelKeys. Keys the pod lacks are ignored, as upstream does.
    pub fn with_label_keys(
        self,
        labels: &BTreeMap<String, String>,
        keys: &[String],
        mismatch: bool,
    ) -> Selector {
        let Selector::All(mut reqs) = self else {
            return self;
        };
        let op = if mismatch { Op::NotIn } else { Op::In };
        for k in keys {
            if let Some(v) = labels.get(k) {
                reqs.push(req(k.clone(), op, vec![v.clone()]));
            }
        }
        Selector::all(reqs)
    }

    /// Matches labels given as a lookup (`get(key)` → value), e.g. a namespace's implied name label.
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::All(reqs) => reqs.iter().all(|r| {
                let v = get(&r.key);
                let listed = |v: &str| r.values.iter().any(|x| x == v);
                match r.op {
                    Op::In => v.is_some_and(listed),
                    Op::NotIn => v.is_none_or(|v| !listed(v)),
                    Op::Exists => v.is_some(),
                    Op::DoesNotExist => v.is_none(),
                }
            }),
        }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }
}

fn key(k: &str, err: &dyn Fn(&str) -> SelectorError) -> Result<String, SelectorError> {
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return Err(err("empty or malformed key"));
    }
    Ok(k.to_string())
}

fn split_word<'a>(s: &'a str, word: &str) -> Option<(&'a str, &'a str)> {
    s.find(word).map(|i| (&s[..i], &s[i + word.len()..]))
}

fn set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, ch) in s.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_and_sets() {
        let l = labels(&[("run", "my-nginx"), ("tier", "web")]);
        assert!(Selector::parse("run=my-nginx").unwrap().matches(&l));
        assert!(Selector::parse("run==my-nginx,tier").unwrap().matches(&l));
        assert!(!Selector::parse("run!=my-nginx").unwrap().matches(&l));
        assert!(
            Selector::parse("tier in (web,db),!missing")
                .unwrap()
                .matches(&l)
        );
        assert!(!Selector::parse("tier notin (web)").unwrap().matches(&l));
        assert!(Selector::parse("").unwrap().matches(&l));
        assert!(!Selector::parse("app").unwrap().matches(&l));
    }

    #[test]
    fn label_selector_objects() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let sel = |v: serde_json::Value| -> Selector {
            Selector::of(Some(&serde_json::from_value(v).unwrap()))
        };
        assert!(sel(serde_json::json!({})).matches(&l));
        assert!(!Selector::of(None).matches(&l));
        assert!(sel(serde_json::json!({"matchLabels": {"app": "web"}})).matches(&l));
        assert!(!sel(serde_json::json!({"matchLabels": {"app": "db"}})).matches(&l));
        let expr = |op: &str, values: &[&str]| {
            sel(
                serde_json::json!({"matchExpressions": [{"key": "tier", "operator": op, "values": values}]}),
            )
        };
        assert!(expr("In", &["front", "back"]).matches(&l));
        assert!(!expr("NotIn", &["front"]).matches(&l));
        assert!(expr("NotIn", &["back"]).matches(&l));
        assert!(expr("Exists", &[]).matches(&l));
        assert!(!expr("DoesNotExist", &[]).matches(&l));
        // Invalid selectors select nothing, even where their text would match.
        assert!(!expr("NotIn", &[]).matches(&l));
        assert!(!expr("Exists", &["front"]).matches(&l));
        assert!(!expr("Gt", &["1"]).matches(&l));
        // The two spellings of one selector are one value.
        assert_eq!(
            Selector::parse("tier in (front),app=web").unwrap(),
            sel(
                serde_json::json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]})
            )
        );
    }

    #[test]
    fn label_keys_narrow_the_selector() {
        let owner = labels(&[("pod-template-hash", "abc")]);
        let keys = ["pod-template-hash".to_string(), "absent".to_string()];
        let s = Selector::default().with_label_keys(&owner, &keys, false);
        assert!(s.matches(&owner));
        assert!(!s.matches(&labels(&[("pod-template-hash", "xyz")])));
        let m = Selector::default().with_label_keys(&owner, &keys, true);
        assert!(!m.matches(&owner));
        assert!(m.matches(&labels(&[])));
        assert_eq!(
            Selector::Nothing.with_label_keys(&owner, &keys, false),
            Selector::Nothing
        );
    }

    #[test]
    fn rejects_malformed() {
        assert!(Selector::parse("=x").is_err());
        assert!(Selector::parse("a in x").is_err());
    }
}
