//! Label selectors as `kubectl -l` takes them: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`,
//! joined by commas. Pure.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(Vec<Req>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid label selector {input:?}: {why}")]
pub struct SelectorError {
    pub input: String,
    pub why: String,
}

impl Selector {
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
            let req = if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(key(k, &err)?)
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::Ne(key(k, &err)?, v.trim().to_string())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Req::Eq(key(k, &err)?, v.trim().to_string())
            } else if let Some((k, rest)) = split_word(part, " notin ") {
                Req::NotIn(
                    key(k, &err)?,
                    set(rest).ok_or_else(|| err("expected (values) after notin"))?,
                )
            } else if let Some((k, rest)) = split_word(part, " in ") {
                Req::In(
                    key(k, &err)?,
                    set(rest).ok_or_else(|| err("expected (values) after in"))?,
                )
            } else {
                Req::Exists(key(part, &err)?)
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => labels.get(k) == Some(v),
            Req::Ne(k, v) => labels.get(k) != Some(v),
            Req::Exists(k) => labels.contains_key(k),
            Req::NotExists(k) => !labels.contains_key(k),
            Req::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Req::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        })
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
    fn rejects_malformed() {
        assert!(Selector::parse("=x").is_err());
        assert!(Selector::parse("a in x").is_err());
    }
}
