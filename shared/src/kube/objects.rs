//! What we read back from the API server: only the fields a decision needs. The server sends
//! whole objects; reading them into `k8s-openapi`'s full types would link a deserializer for
//! every field of every pod spec into each component that talks to the cluster.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub name: Option<String>,
    pub generation: Option<i64>,
}

/// A Deployment or a StatefulSet, as far as its rollout is concerned.
#[derive(Debug, Default, Deserialize)]
pub struct Workload {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: WorkloadSpec,
    pub status: Option<WorkloadStatus>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WorkloadSpec {
    pub replicas: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    pub observed_generation: Option<i64>,
    pub replicas: Option<i32>,
    pub updated_replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    pub available_replicas: Option<i32>,
    pub current_revision: Option<String>,
    pub update_revision: Option<String>,
}

/// A Secret's values, decoded from the base64 the API sends.
#[derive(Debug, Default, Deserialize)]
pub struct SecretData {
    #[serde(default, deserialize_with = "base64_values")]
    pub data: BTreeMap<String, String>,
}

fn base64_values<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let encoded = Option::<BTreeMap<String, String>>::deserialize(deserializer)?;
    encoded
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(serde::de::Error::custom)?;
            Ok((key, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

/// Any object, by name only (to pick a pod to read logs from).
#[derive(Debug, Default, Deserialize)]
pub struct Named {
    #[serde(default)]
    pub metadata: Meta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_decoded_and_a_secret_without_data_is_empty() {
        let secret: SecretData =
            serde_json::from_str(r#"{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}"#)
                .unwrap();
        assert_eq!(secret.data["password"], "hunter2");
        let empty: SecretData = serde_json::from_str(r#"{"kind":"Secret"}"#).unwrap();
        assert!(empty.data.is_empty());
        assert!(serde_json::from_str::<SecretData>(r#"{"data":{"a":"%%"}}"#).is_err());
    }
}
