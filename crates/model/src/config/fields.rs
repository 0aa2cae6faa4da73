//! Key-by-key reading of one JSON object of a `config.json`, with the defaults of the
//! `transformers` configuration class and error messages that name the file and the field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Activation;
use crate::error::{ModelError, Result};

/// The top level of a config file or one of its sub-configs (`text_config`, `vision_config`).
/// An absent sub-config reads as an empty object, so every field takes its default.
pub(crate) struct Fields<'a> {
    obj: Option<&'a Map<String, Value>>,
    path: &'a Path,
    section: Option<&'static str>,
}

impl<'a> Fields<'a> {
    /// The top-level object of the file at `path`.
    pub(crate) fn top(value: &'a Value, path: &'a Path) -> Result<Self> {
        let obj = value
            .as_object()
            .ok_or_else(|| ModelError::json(path, "top-level value is not an object"))?;
        Ok(Fields {
            obj: Some(obj),
            path,
            section: None,
        })
    }

    /// The sub-config under `key` (empty when absent).
    pub(crate) fn section(&self, key: &'static str) -> Result<Fields<'a>> {
        let obj = match self.raw(key) {
            None => None,
            Some(Value::Object(o)) => Some(o),
            Some(other) => {
                return Err(ModelError::json(
                    self.path,
                    format!("`{}`: expected an object, found {other}", self.name(key)),
                ))
            }
        };
        Ok(Fields {
            obj,
            path: self.path,
            section: Some(key),
        })
    }

    fn raw(&self, key: &str) -> Option<&'a Value> {
        self.obj.and_then(|o| o.get(key))
    }

    /// The field as messages name it: `hidden_size`, `vision_config.hidden_size`.
    pub(crate) fn name(&self, key: &str) -> String {
        match self.section {
            Some(s) => format!("{s}.{key}"),
            None => key.to_string(),
        }
    }

    /// The value of `key`, or `default` when the key is absent.
    pub(crate) fn get<T: DeserializeOwned>(&self, key: &str, default: T) -> Result<T> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => T::deserialize(v)
                .map_err(|e| ModelError::json(self.path, format!("`{}`: {e}", self.name(key)))),
        }
    }

    /// An activation name; an unknown one (or a non-string) is [`ModelError::Unsupported`].
    pub(crate) fn activation(&self, key: &str, default: Activation) -> Result<Activation> {
        match self.raw(key) {
            None => Ok(default),
            Some(Value::String(s)) => Activation::parse(s),
            Some(other) => Err(ModelError::Unsupported {
                what: "hidden_act",
                value: other.to_string(),
            }),
        }
    }

    /// `architectures` (empty when absent).
    pub(crate) fn architectures(&self) -> Result<Vec<String>> {
        self.get("architectures", Vec::new())
    }

    /// `id2label`, or `LABEL_0` … `LABEL_{n-1}` for `num_labels` (default `default_count`)
    /// when it is absent or empty, as `PretrainedConfig` fills it.
    pub(crate) fn labels(&self, default_count: usize) -> Result<BTreeMap<usize, String>> {
        let labels: BTreeMap<usize, String> = self.get("id2label", BTreeMap::new())?;
        let given: Option<usize> = self.get("num_labels", None)?;
        if labels.is_empty() {
            let n = given.unwrap_or(default_count);
            crate::limits::check(|| format!("`{}` in {}", self.name("num_labels"), self.path.display()), n as u64, 1 << 20)?;
            return Ok((0..n).map(|i| (i, format!("LABEL_{i}"))).collect());
        }
        // The classes are 0 … n−1, each named once, and agree with `num_labels` when it is given.
        if let Some((i, (&k, _))) = labels.iter().enumerate().find(|(i, (k, _))| *i != **k) {
            return Err(self.invalid(
                "id2label",
                format!("must name the classes 0 to {} with no gap, but class {i} is missing (next key: {k})", labels.len() - 1),
            ));
        }
        if let Some(n) = given.filter(|&n| n != labels.len()) {
            return Err(self.invalid("num_labels", format!("is {n} but id2label names {} classes", labels.len())));
        }
        Ok(labels)
    }

    /// [`ModelError::InvalidConfig`] for `key` of this object.
    pub(crate) fn invalid(&self, key: &str, reason: String) -> ModelError {
        ModelError::InvalidConfig {
            path: self.path.to_path_buf(),
            field: self.name(key),
            reason,
        }
    }
}
