//! The API contract, `api/openapi.json`, held against every answer a test receives: its route
//! and status are documented, its body validates against the documented schema, and an error
//! carries one of the codes its response lists (`x-error-codes`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Draft, Validator};
use serde_json::{json, Value};

pub const DOCUMENT: &str = include_str!("../../api/openapi.json");

pub struct Contract {
    document: Value,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// One documented method and path: `/api/user/services/instances/{id}/start`.
pub struct Operation {
    pub method: String,
    pub path: String,
    segments: Vec<Option<String>>,
}

impl Operation {
    fn literals(&self) -> usize {
        self.segments.iter().flatten().count()
    }

    fn matches(&self, method: &str, segments: &[&str]) -> bool {
        self.method.eq_ignore_ascii_case(method)
            && self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(documented, actual)| documented.as_deref().is_none_or(|s| s == *actual))
    }
}

pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let document: Value = serde_json::from_str(DOCUMENT).expect("api/openapi.json is JSON");
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                let segments = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                operations.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    segments,
                });
            }
        }
        Contract {
            document,
            operations,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// A JSON pointer segment as a URI fragment: `/` and `~` escaped, braces percent-encoded.
fn escape(segment: &str) -> String {
    segment
        .replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// The JSON pointer of a URI fragment.
fn unescape(fragment: &str) -> String {
    fragment.replace("%7B", "{").replace("%7D", "}")
}

impl Contract {
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The documented operation a request reaches; literal segments win over parameters, as in
    /// the routers (`/pods/{namespace}/{name}/logs` before `/{kind}`).
    pub fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.operations
            .iter()
            .filter(|o| o.matches(method, &segments))
            .max_by_key(|o| o.literals())
    }

    /// Why an answer breaks the contract, if it does.
    pub fn violation(&self, method: &str, path: &str, status: u16, body: &Value) -> Option<String> {
        // CORS preflights are the pipeline's, not a route's.
        if method.eq_ignore_ascii_case("OPTIONS") {
            return None;
        }
        let Some(operation) = self.operation(method, path) else {
            // No such route: the answer must still be an error in the envelope.
            return self.invalid(body, "#/components/schemas/Error");
        };
        let mut pointer = format!(
            "#/paths/{}/{}/responses/{status}",
            escape(&operation.path),
            operation.method.to_lowercase()
        );
        let Some(mut response) = self.document.pointer(&unescape(&pointer[1..])) else {
            return Some(format!(
                "{method} {} does not document status {status}: {body}",
                operation.path
            ));
        };
        if let Some(reference) = response["$ref"].as_str() {
            pointer = reference.to_owned();
            response = self
                .document
                .pointer(&unescape(&reference[1..]))
                .expect("a response");
        }
        if let Some(codes) = response["x-error-codes"].as_array() {
            let code = &body["error"]["code"];
            if !codes.contains(code) {
                return Some(format!(
                    "{method} {} {status} documents {codes:?}, not {code}",
                    operation.path
                ));
            }
        }
        if response["content"]["application/json"].is_object() {
            let schema = format!("{pointer}/content/application~1json/schema");
            return self
                .invalid(body, &schema)
                .map(|problem| format!("{method} {} {status}: {problem}", operation.path));
        }
        None
    }

    fn invalid(&self, body: &Value, schema_pointer: &str) -> Option<String> {
        let validator = self.validator(schema_pointer);
        let problems: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        (!problems.is_empty()).then(|| format!("{} in {body}", problems.join("; ")))
    }

    /// A validator for one schema of the document, its `$ref`s resolved within the document.
    fn validator(&self, schema_pointer: &str) -> Arc<Validator> {
        let mut validators = self.validators.lock().unwrap();
        validators
            .entry(schema_pointer.to_owned())
            .or_insert_with(|| {
                let mut root = json!({ "$ref": schema_pointer });
                root["components"] = self.document["components"].clone();
                root["paths"] = self.document["paths"].clone();
                let validator = jsonschema::options()
                    .with_draft(Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&root)
                    .unwrap_or_else(|e| panic!("{schema_pointer} is not a valid schema: {e}"));
                Arc::new(validator)
            })
            .clone()
    }
}
