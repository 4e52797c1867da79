//! Validation of an object against a CustomResourceDefinition's `openAPIV3Schema`, with the API
//! server's structural-schema rules: a field the schema does not list is an error (what
//! `kubectl apply`'s strict field validation answers) unless the schema preserves unknown
//! fields, and `x-kubernetes-int-or-string` takes either.

use serde_json::Value;

/// The schema of `version` in the CRD document `crd`.
pub fn schema<'a>(crd: &'a Value, version: &str) -> &'a Value {
    crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == version)
        .map(|v| &v["schema"]["openAPIV3Schema"])
        .unwrap_or_else(|| panic!("the CRD has no version {version}"))
}

/// Every way `value` breaks `schema`, each with its path (`.spec.components[0]`).
pub fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(schema, value, "", &mut found);
    found
}

fn check(schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    // The API server checks every object's metadata itself, against ObjectMeta.
    if path == ".metadata" {
        return;
    }
    let mut fail = |why: String| {
        found.push(format!(
            "{}: {why}",
            if path.is_empty() { "." } else { path }
        ))
    };
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            fail(format!("must be an integer or a string, not {value}"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            fail(format!("{value} is not one of {allowed:?}"));
        }
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(fields) = value.as_object() else {
                return fail(format!("must be an object, not {value}"));
            };
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                if !fields.contains_key(name) {
                    found.push(format!("{path}.{name}: is required"));
                }
            }
            let properties = schema["properties"].as_object();
            for (name, field) in fields {
                let field_path = format!("{path}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(field_schema) => check(field_schema, field, &field_path, found),
                    None if schema["additionalProperties"].is_object() => {
                        check(&schema["additionalProperties"], field, &field_path, found)
                    }
                    None if schema["x-kubernetes-preserve-unknown-fields"] == true => {}
                    None => found.push(format!("{field_path}: unknown field")),
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                return fail(format!("must be an array, not {value}"));
            };
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{path}[{i}]"), found);
            }
        }
        Some("string") if !value.is_string() => fail(format!("must be a string, not {value}")),
        Some("integer") if !(value.is_i64() || value.is_u64()) => {
            fail(format!("must be an integer, not {value}"))
        }
        Some("number") if !value.is_number() => fail(format!("must be a number, not {value}")),
        Some("boolean") if !value.is_boolean() => fail(format!("must be a boolean, not {value}")),
        _ => {}
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64()) {
        if number < minimum {
            found.push(format!("{path}: {number} is below the minimum {minimum}"));
        }
    }
}
