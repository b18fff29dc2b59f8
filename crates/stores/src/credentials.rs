//! A client for a `[datastores.NAME]` of kind `azure_blob` or `s3`, from its keys and the
//! cloud's usual environment variables. Credentials never come from the pipeline file.
//!
//! Azure Blob (the names Azure's own tools read; `az storage` and the SDKs):
//! `AZURE_STORAGE_CONNECTION_STRING` (its `AccountKey`, `SharedAccessSignature` and
//! `BlobEndpoint`; the file's `endpoint` wins over `BlobEndpoint`), else
//! `AZURE_STORAGE_ACCOUNT_KEY`, else a SAS in `AZURE_STORAGE_SAS_TOKEN`.
//!
//! S3 (the AWS CLI's names): `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
//! `AWS_SESSION_TOKEN`), else the profile `AWS_PROFILE` (default `default`) of the shared
//! credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`). The region:
//! the file's `region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`.
//!
//! Neither kind falls back to a cloud's metadata service: a build on a laptop without
//! credentials says which variables to set instead of waiting for a service that is not
//! there. An `http://` endpoint allows plain HTTP (emulators); any other is HTTPS only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

/// How a request that failed for a reason worth retrying (a 5xx, a timeout, a reset
/// connection) is retried: three more times with exponential backoff, giving up after 20 s,
/// so that a store that is down fails the build with its name within half a minute.
pub fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
    }
}

/// How long one request may take, in seconds: `RUNNER_DATASTORE_TIMEOUT` (a positive
/// integer), else 120 (a slow link moving a large part of an upload).
fn request_timeout(env: &dyn Fn(&str) -> Option<String>) -> Duration {
    let secs = env("RUNNER_DATASTORE_TIMEOUT").and_then(|v| v.parse::<u64>().ok());
    Duration::from_secs(secs.filter(|s| *s > 0).unwrap_or(120))
}

fn client_options(endpoint: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")))
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(request_timeout(env))
}

/// The `object_store` client for a datastore of `kind` with the checked `options`
/// (`account`, `container`, `endpoint`; `bucket`, `region`, `endpoint`), with credentials
/// from `env` (a variable's value by name: `std::env::var` in a build, a map in tests).
///
/// Errors: an unknown kind, no credentials (the message names the variables to set), a
/// value the client refuses. Never a secret in the message.
pub fn client(
    kind: &str,
    options: &BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn ObjectStore>, String> {
    let opt = |k: &str| options.get(k).map(String::as_str);
    match kind {
        "azure_blob" => azure(opt("account"), opt("container"), opt("endpoint"), env),
        "s3" => s3(opt("bucket"), opt("region"), opt("endpoint"), env),
        other => Err(format!("datastore kind `{other}` has no client")),
    }
}

fn azure(
    account: Option<&str>,
    container: Option<&str>,
    endpoint: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn ObjectStore>, String> {
    let account = account.ok_or("`account` is not set")?;
    let container = container.ok_or("`container` is not set")?;
    let parts = env("AZURE_STORAGE_CONNECTION_STRING").map(|s| connection_string(&s));
    let part = |k: &str| parts.as_ref().and_then(|p| p.get(k).cloned());
    let endpoint = endpoint.map(str::to_owned).or_else(|| part("BlobEndpoint"));
    let mut b = MicrosoftAzureBuilder::new()
        .with_account(account)
        .with_container_name(container)
        .with_retry(retry_config())
        .with_client_options(client_options(endpoint.as_deref(), env));
    if let Some(e) = &endpoint {
        b = b.with_endpoint(e.trim_end_matches('/').to_owned());
    }
    b = if let Some(key) = part("AccountKey") {
        b.with_access_key(key)
    } else if let Some(sas) = part("SharedAccessSignature") {
        b.with_sas_authorization(sas_pairs(&sas))
    } else if let Some(key) = env("AZURE_STORAGE_ACCOUNT_KEY") {
        b.with_access_key(key)
    } else if let Some(sas) = env("AZURE_STORAGE_SAS_TOKEN") {
        b.with_sas_authorization(sas_pairs(&sas))
    } else {
        return Err("no credentials: set AZURE_STORAGE_CONNECTION_STRING, \
                    AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN"
            .to_owned());
    };
    // The builder's errors name a key's problem, never its value.
    b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>).map_err(|e| redacted(&e.to_string()))
}

fn s3(
    bucket: Option<&str>,
    region: Option<&str>,
    endpoint: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn ObjectStore>, String> {
    let bucket = bucket.ok_or("`bucket` is not set")?;
    let region = region
        .map(str::to_owned)
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let (key, secret, token) = aws_keys(env)?;
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_access_key_id(key)
        .with_secret_access_key(secret)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .with_retry(retry_config())
        .with_client_options(client_options(endpoint, env));
    if let Some(t) = token {
        b = b.with_token(t);
    }
    if let Some(e) = endpoint {
        b = b.with_endpoint(e.trim_end_matches('/')).with_virtual_hosted_style_request(false);
    }
    b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>).map_err(|e| redacted(&e.to_string()))
}

/// The access key, secret and session token: from the variables, else from the shared
/// credentials file's profile.
fn aws_keys(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String, Option<String>), String> {
    if let (Some(k), Some(s)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok((k, s, env("AWS_SESSION_TOKEN")));
    }
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    let file = env("AWS_SHARED_CREDENTIALS_FILE")
        .or_else(|| env("HOME").map(|h| format!("{h}/.aws/credentials")));
    let text = file.and_then(|f| std::fs::read_to_string(f).ok()).unwrap_or_default();
    let section = ini_section(&text, &profile);
    match (section.get("aws_access_key_id"), section.get("aws_secret_access_key")) {
        (Some(k), Some(s)) => Ok((k.clone(), s.clone(), section.get("aws_session_token").cloned())),
        _ => Err(format!(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE \
             to a profile of ~/.aws/credentials (profile `{profile}` has no keys there)"
        )),
    }
}

/// The `key = value` lines of `[name]` in an INI text (the AWS credentials file's form).
fn ini_section(text: &str, name: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = header.trim() == name;
        } else if inside && let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    out
}

/// The `Key=Value;` parts of an Azure Storage connection string (a value may hold `=`, as
/// a base64 key does).
pub fn connection_string(s: &str) -> BTreeMap<String, String> {
    s.split(';')
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// A SAS token (`sv=…&sig=…`, with or without a leading `?`) as query pairs.
fn sas_pairs(sas: &str) -> Vec<(String, String)> {
    sas.trim_start_matches('?')
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `message` without anything that looks like a SAS signature or a key given in a URL
/// (`sig=`, `X-Amz-Signature=`, `X-Amz-Credential=`, `AccountKey=`): the clients already
/// keep them out, this is the second lock.
pub fn redacted(message: &str) -> String {
    let mut out = message.to_owned();
    for marker in ["sig=", "X-Amz-Signature=", "X-Amz-Credential=", "AccountKey=", "se="] {
        let mut from = 0;
        while let Some(at) = out[from..].find(marker).map(|i| i + from) {
            let start = at + marker.len();
            let end =
                out[start..].find(['&', ';', ' ', '"', '\'']).map_or(out.len(), |i| i + start);
            out.replace_range(start..end, "REDACTED");
            from = start + "REDACTED".len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_connection_string_keeps_the_equals_signs_of_its_key() {
        let parts = connection_string(
            "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=ab+c==;\
             BlobEndpoint=http://127.0.0.1:10000/dev;",
        );
        assert_eq!(parts["AccountKey"], "ab+c==");
        assert_eq!(parts["BlobEndpoint"], "http://127.0.0.1:10000/dev");
        assert_eq!(parts.len(), 4);
    }

    #[test]
    fn no_credentials_names_the_variables_and_never_a_value() {
        let options: BTreeMap<String, String> =
            [("account", "dev"), ("container", "data")].map(|(k, v)| (k.into(), v.into())).into();
        let err = client("azure_blob", &options, &env_of(&[])).err().unwrap();
        assert!(err.contains("AZURE_STORAGE_CONNECTION_STRING"), "{err}");
        let options: BTreeMap<String, String> = [("bucket".into(), "b".into())].into();
        let env = env_of(&[("AWS_ACCESS_KEY_ID", "AKIDSECRETISH"), ("HOME", "/nonexistent")]);
        let err = client("s3", &options, &env).err().unwrap();
        assert!(err.contains("AWS_SECRET_ACCESS_KEY") && !err.contains("AKIDSECRETISH"), "{err}");
    }

    #[test]
    fn a_profile_of_the_shared_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\
             [ci]\naws_access_key_id=C\naws_secret_access_key=D\naws_session_token=E\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let keys = aws_keys(&env_of(&[("AWS_SHARED_CREDENTIALS_FILE", f), ("AWS_PROFILE", "ci")]));
        assert_eq!(keys.unwrap(), ("C".into(), "D".into(), Some("E".into())));
        let keys = aws_keys(&env_of(&[("AWS_SHARED_CREDENTIALS_FILE", f)]));
        assert_eq!(keys.unwrap(), ("A".into(), "B".into(), None));
    }

    #[test]
    fn signatures_are_redacted() {
        let m = redacted("GET http://h/c/b?sv=2021&se=2030&sig=abc%2Bdef&sp=r failed");
        assert!(!m.contains("abc") && !m.contains("2030") && m.contains("sig=REDACTED"), "{m}");
        assert_eq!(
            sas_pairs("?sv=1&sig=a%2Bb"),
            [("sv".into(), "1".into()), ("sig".into(), "a+b".into())]
        );
    }
}
