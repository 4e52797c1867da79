use serde_json::{Map, Value};

use super::{ApiError, FieldError};
use crate::states::State;

/// Named input fields from a JSON object body or a query string, parsed one by one into domain
/// types while every problem is collected, so one response can name every bad field.
pub struct Fields {
    values: Map<String, Value>,
    from_query: bool,
    /// The names asked for, so a body's unknown field (a client's typo) is an error rather
    /// than silently ignored.
    asked: Vec<String>,
    errors: Vec<FieldError>,
}

/// One field's raw value. Query strings carry only text, so numbers and booleans are read
/// from their text there; a JSON body must carry the real JSON type.
pub struct Input<'a> {
    value: &'a Value,
    from_query: bool,
}

impl<'a> Input<'a> {
    /// A string without NUL or other control characters (line breaks and tabs aside): PostgreSQL
    /// cannot store a NUL, and no field of ours has a use for the rest.
    pub fn text(&self) -> Result<&'a str, String> {
        let text = self.value.as_str().ok_or("must be a string")?;
        if text.chars().any(is_forbidden_control) {
            return Err("must not contain control characters".into());
        }
        Ok(text)
    }

    /// A whole number. JSON has one number type, so `199.0` is the whole number 199, as JSON
    /// Schema's `integer` says; beyond 2^53 a float no longer holds an exact whole number.
    pub fn integer(&self) -> Result<i64, String> {
        const MESSAGE: &str = "must be a whole number";
        const EXACT: f64 = 9_007_199_254_740_992.0;
        match self.value {
            Value::String(s) if self.from_query => s.trim().parse().map_err(|_| MESSAGE.into()),
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| MESSAGE.into()),
            _ => Err(MESSAGE.into()),
        }
    }

    pub fn boolean(&self) -> Result<bool, String> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if self.from_query => match s.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err("must be true or false".into()),
            },
            _ => Err("must be true or false".into()),
        }
    }

    /// One of a fixed set of upper-case words (a status, a type), exactly as documented.
    pub fn one_of(&self, allowed: &[&str]) -> Result<String, String> {
        let word = self.text()?.to_owned();
        if allowed.contains(&word.as_str()) {
            Ok(word)
        } else {
            Err(format!("must be one of {}", allowed.join(", ")))
        }
    }

    /// A state of one of our state machines (a status filter), exactly as documented.
    pub fn state<S: State>(&self) -> Result<S, String> {
        S::from_text(self.text()?).ok_or_else(|| {
            let all: Vec<&str> = S::ALL.iter().map(|s| s.as_str()).collect();
            format!("must be one of {}", all.join(", "))
        })
    }

    pub fn json(&self) -> &'a Value {
        self.value
    }
}

fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

/// The path of the first string in a JSON document (a key or a value) that holds a NUL, which no
/// text or jsonb column can store: `template.env.NAME`, `features[2]`.
pub fn nul_in(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &str) -> Option<String> {
        let join = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        match value {
            Value::String(s) if s.contains('\0') => Some(path.to_owned()),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            Value::Object(map) => map.iter().find_map(|(key, item)| {
                if key.contains('\0') {
                    Some(join(&key.replace('\0', "\\u0000")))
                } else {
                    walk(item, &join(key))
                }
            }),
            _ => None,
        }
    }
    walk(value, "")
}

impl Fields {
    pub fn from_json_object(values: Map<String, Value>) -> Self {
        Self {
            values,
            from_query: false,
            asked: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Query parameters; the last of repeated names wins. An empty value is a value (`?to=` is
    /// no date), and names the route does not read are left alone: a cache-buster is harmless.
    pub fn from_query(query: &str) -> Self {
        let values = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Self {
            values,
            from_query: true,
            asked: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(Input<'_>) -> Result<T, String>,
    ) -> Option<T> {
        if self.is_absent(name) {
            self.reject(name, "is required");
            return None;
        }
        self.optional(name, parse)
    }

    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(Input<'_>) -> Result<T, String>,
    ) -> Option<T> {
        self.asked.push(name.to_owned());
        if self.is_absent(name) {
            return None;
        }
        let input = Input {
            value: &self.values[name],
            from_query: self.from_query,
        };
        match parse(input) {
            Ok(value) => Some(value),
            Err(message) => {
                self.reject(name, message);
                None
            }
        }
    }

    /// A field a client may clear: absent is `None` (unchanged), `null` is `Some(None)`.
    pub fn nullable<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(Input<'_>) -> Result<T, String>,
    ) -> Option<Option<T>> {
        if self.values.get(name) == Some(&Value::Null) {
            self.asked.push(name.to_owned());
            return Some(None);
        }
        self.optional(name, parse).map(Some)
    }

    /// Records a problem found after parsing, e.g. a rule that involves two fields.
    pub fn reject(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: name.to_owned(),
            message: message.into(),
        });
    }

    /// The parsed input, or a `VALIDATION_ERROR` naming every bad field, a body's unknown ones
    /// too. `build` runs only when no field was rejected, so every required field it unwraps
    /// with `?` is present.
    pub fn finish<T>(mut self, build: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.from_query {
            let unknown: Vec<String> = self
                .values
                .keys()
                .filter(|name| !self.asked.contains(name))
                .cloned()
                .collect();
            for name in unknown {
                self.reject(&name, "is not a field of this request");
            }
        }
        if !self.errors.is_empty() {
            return Err(ApiError::validation(self.errors));
        }
        build().ok_or_else(|| ApiError::internal("validated input incomplete"))
    }

    fn is_absent(&self, name: &str) -> bool {
        matches!(self.values.get(name), None | Some(Value::Null))
    }
}
