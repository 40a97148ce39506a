//! `${env:VAR}`, `${env:VAR:-default}` and `${file:path}` substitution in configuration
//! string values, before the YAML is mapped onto typed structs.
//!
//! A value that is exactly one reference takes the type of what it expands to (`port:
//! ${env:PORT}` becomes a number), so references work for every field, not only strings.
//! `$${` writes a literal `${`. File paths are relative to the configuration file's folder and
//! the file's trailing newline is dropped (PEM keys and tokens are usually stored that way).

use std::path::Path;

use yaml_serde::Value;

use super::ConfigError;

/// Where substitutions look things up; tests pass their own environment.
pub(crate) struct Sources<'a> {
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) base_dir: &'a Path,
}

/// Replaces every reference inside `value`, naming the key of any that cannot be resolved.
pub(crate) fn substitute(
    value: &mut Value,
    path: &str,
    sources: &Sources<'_>,
) -> Result<(), ConfigError> {
    match value {
        Value::String(text) if text.contains("${") => {
            let (expanded, whole) =
                expand(text, sources).map_err(|problem| ConfigError::Invalid {
                    key: path.to_owned(),
                    problem,
                })?;
            *value = if whole {
                typed(expanded)
            } else {
                Value::String(expanded)
            };
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{index}]"), sources)?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = match key {
                    Value::String(k) => k.clone(),
                    other => format!("{other:?}"),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                substitute(item, &child, sources)?;
            }
        }
        Value::Tagged(tagged) => substitute(&mut tagged.value, path, sources)?,
        _ => {}
    }
    Ok(())
}

/// A whole-value expansion keeps its YAML type when it is a scalar (number, bool).
fn typed(text: String) -> Value {
    match yaml_serde::from_str::<Value>(&text) {
        Ok(scalar @ (Value::Bool(_) | Value::Number(_))) => scalar,
        _ => Value::String(text),
    }
}

/// Expands references in `text`. Returns the result and whether `text` was exactly one
/// reference.
fn expand(text: &str, sources: &Sources<'_>) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut references = 0;
    let mut literal = false;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            literal = true;
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let end = body_start
            .find('}')
            .ok_or_else(|| format!("unterminated reference in {text:?}"))?;
        out.push_str(&resolve(&body_start[..end], sources)?);
        references += 1;
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    let whole = references == 1 && !literal && text.starts_with("${") && text.ends_with('}');
    Ok((out, whole))
}

fn resolve(reference: &str, sources: &Sources<'_>) -> Result<String, String> {
    if let Some(spec) = reference.strip_prefix("env:") {
        let (name, default) = match spec.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (spec, None),
        };
        return match ((sources.env)(name), default) {
            (Some(value), _) => Ok(value),
            (None, Some(default)) => Ok(default.to_owned()),
            (None, None) => Err(format!("environment variable {name} is not set")),
        };
    }
    if let Some(file) = reference.strip_prefix("file:") {
        let path = sources.base_dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return Ok(text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text)
            .to_owned());
    }
    Err(format!(
        "unknown reference ${{{reference}}} (use ${{env:NAME}} or ${{file:PATH}})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(yaml: &str, env: &[(&str, &str)]) -> Result<Value, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let dir = std::env::temp_dir();
        let sources = Sources {
            env: &lookup,
            base_dir: &dir,
        };
        let mut value: Value = yaml_serde::from_str(yaml).unwrap();
        substitute(&mut value, "", &sources)?;
        Ok(value)
    }

    #[test]
    fn env_references_expand_inside_and_as_whole_values() {
        let value = run(
            "a: http://${env:HOST}:${env:PORT}\nb: ${env:PORT}\nc: ${env:FLAG}\nd: [x, '${env:HOST}']",
            &[("HOST", "example"), ("PORT", "8080"), ("FLAG", "true")],
        )
        .unwrap();
        assert_eq!(value["a"], Value::String("http://example:8080".into()));
        assert_eq!(value["b"], Value::Number(8080.into()));
        assert_eq!(value["c"], Value::Bool(true));
        assert_eq!(value["d"][1], Value::String("example".into()));
    }

    #[test]
    fn defaults_and_literals() {
        let value = run("a: ${env:MISSING:-fallback}\nb: cost $5 $${env:X}", &[]).unwrap();
        assert_eq!(value["a"], Value::String("fallback".into()));
        assert_eq!(value["b"], Value::String("cost $5 ${env:X}".into()));
    }

    #[test]
    fn missing_variables_name_the_key() {
        let error = run("outer:\n  list:\n    - key: ${env:NOPE}", &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "outer.list[0].key: environment variable NOPE is not set"
        );
    }

    #[test]
    fn file_references_read_relative_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s3cret\n").unwrap();
        let lookup = |_: &str| None;
        let sources = Sources {
            env: &lookup,
            base_dir: dir.path(),
        };
        let mut value: Value = yaml_serde::from_str("k: ${file:secret.txt}").unwrap();
        substitute(&mut value, "", &sources).unwrap();
        assert_eq!(value["k"], Value::String("s3cret".into()));
        let mut bad: Value = yaml_serde::from_str("k: ${file:absent.txt}").unwrap();
        assert!(substitute(&mut bad, "", &sources).is_err());
        let mut unknown: Value = yaml_serde::from_str("k: ${vault:x}").unwrap();
        assert!(substitute(&mut unknown, "", &sources).is_err());
    }
}
