//! Metrics logged by steps: storing them (`metrics` table) and parsing the file a step writes.

use std::fmt;

use rusqlite::params;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;

use crate::schema::write_tx;
use crate::{Context, Error, History, Metric, Result};

/// Appends `metrics` of step `step` of run `run_id` inside an open transaction.
pub(crate) fn insert_metrics(
    tx: &rusqlite::Transaction<'_>,
    run_id: i64,
    step: &str,
    metrics: &[Metric],
) -> Result<()> {
    const CTX: &str = "add metrics";
    if metrics.is_empty() {
        return Ok(());
    }
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO metrics (run_id, step, name, value, idx) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .context(CTX)?;
    for m in metrics {
        let value = (!m.value.is_nan()).then_some(m.value);
        stmt.execute(params![run_id, step, m.name, value, m.index]).context(CTX)?;
    }
    Ok(())
}

impl History {
    /// Appends `metrics` logged by step `step` of run `run_id`, in order, in one transaction.
    ///
    /// A NaN value is stored as SQL `NULL` and read back as NaN.
    /// Errors: [`Error::NoSuchRun`] if the run does not exist; [`Error::Sqlite`] otherwise.
    pub fn add_metrics(&self, run_id: i64, step: &str, metrics: &[Metric]) -> Result<()> {
        const CTX: &str = "add metrics";
        let tx = write_tx(&self.conn).context(CTX)?;
        if !History::run_exists(&tx, run_id).context(CTX)? {
            return Err(Error::NoSuchRun(run_id));
        }
        insert_metrics(&tx, run_id, step, metrics)?;
        tx.commit().context(CTX)
    }

    /// Metrics of run `run_id` as `(step, metric)`, in the order added; only step `step`'s when
    /// given. Empty for an unknown run.
    ///
    /// Errors: [`Error::Sqlite`].
    pub fn metrics(&self, run_id: i64, step: Option<&str>) -> Result<Vec<(String, Metric)>> {
        const CTX: &str = "list metrics";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT step, name, value, idx FROM metrics
                 WHERE run_id = ?1 AND (?2 IS NULL OR step = ?2) ORDER BY id",
            )
            .context(CTX)?;
        stmt.query_map(params![run_id, step], |r| {
            let value: Option<f64> = r.get(2)?;
            Ok((
                r.get(0)?,
                Metric { name: r.get(1)?, value: value.unwrap_or(f64::NAN), index: r.get(3)? },
            ))
        })
        .context(CTX)?
        .collect::<rusqlite::Result<_>>()
        .context(CTX)
    }
}

/// Parses what a step wrote to the file named by the env var `RUNNER_METRICS`.
///
/// One metric per line, in one of three forms:
/// - `name value`: whitespace separated, `value` a float (`0.97`, `1e-3`, `nan`, `inf`);
/// - `{"name": "acc", "value": 0.9}`: a JSON object with a string `name` and a numeric `value`
///   (other fields are ignored);
/// - `{"accuracy": 0.97, "f1": 0.95}`: a flat JSON object; each numeric field is a metric, in the
///   order written, and non-numeric fields are ignored.
///
/// Blank lines and lines starting with `#` are ignored. Returns the metrics, each with `index` its
/// 0-based position among the metrics returned, and the malformed lines as
/// `(1-based line number, message)`; a malformed line does not stop parsing.
pub fn parse_metrics(text: &str) -> (Vec<Metric>, Vec<(usize, String)>) {
    let mut metrics = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed =
            if line.starts_with('{') { parse_json_line(line) } else { parse_plain_line(line) };
        match parsed {
            Ok(found) => {
                for (name, value) in found {
                    let index = Some(i64::try_from(metrics.len()).unwrap_or(i64::MAX));
                    metrics.push(Metric { name, value, index });
                }
            }
            Err(message) => errors.push((i + 1, message)),
        }
    }
    (metrics, errors)
}

/// `name value`.
fn parse_plain_line(line: &str) -> Result<Vec<(String, f64)>, String> {
    let mut words = line.split_whitespace();
    let (Some(name), Some(value), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "expected `name value` or a JSON object, found {} words",
            line.split_whitespace().count()
        ));
    };
    let value: f64 =
        value.parse().map_err(|_| format!("value `{value}` of metric `{name}` is not a number"))?;
    Ok(vec![(name.to_owned(), value)])
}

/// `{"name": …, "value": …}` or a flat object of numeric fields.
fn parse_json_line(line: &str) -> Result<Vec<(String, f64)>, String> {
    let OrderedObject(fields) =
        serde_json::from_str(line).map_err(|e| format!("invalid JSON object: {e}"))?;
    let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    if let (Some(name), Some(value)) = (field("name"), field("value")) {
        let Value::String(name) = name else {
            return Err("`name` must be a string".to_owned());
        };
        if name.is_empty() {
            return Err("metric name is empty".to_owned());
        }
        let value =
            value.as_f64().ok_or_else(|| format!("value of metric `{name}` is not a number"))?;
        return Ok(vec![(name.clone(), value)]);
    }
    let found: Vec<(String, f64)> =
        fields.iter().filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v))).collect();
    if found.is_empty() {
        return Err("JSON object has no numeric field".to_owned());
    }
    if found.iter().any(|(k, _)| k.is_empty()) {
        return Err("metric name is empty".to_owned());
    }
    Ok(found)
}

/// A JSON object's fields in the order written (`serde_json::Map` may sort them).
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(OrderedObject(fields))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: f64, index: i64) -> Metric {
        Metric { name: name.to_owned(), value, index: Some(index) }
    }

    #[test]
    fn parses_all_forms_and_reports_bad_lines() {
        let text = "# header\n\
                    loss 0.25\n\
                    \n\
                    {\"name\": \"acc\", \"value\": 0.9}\n\
                    {\"accuracy\": 0.97, \"f1\": 0.95, \"note\": \"x\"}\n\
                    bad line here\n\
                    lr abc\n\
                    {\"name\": \"acc\", \"value\": \"high\"}\n\
                    {not json\n\
                    {\"only\": \"text\"}\n\
                    epoch\t3\r\n";
        let (metrics, errors) = parse_metrics(text);
        assert_eq!(
            metrics,
            vec![
                m("loss", 0.25, 0),
                m("acc", 0.9, 1),
                m("accuracy", 0.97, 2),
                m("f1", 0.95, 3),
                m("epoch", 3.0, 4),
            ]
        );
        let lines: Vec<usize> = errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![6, 7, 8, 9, 10], "{errors:?}");
        assert!(errors[1].1.contains("`abc`"), "{}", errors[1].1);
    }

    #[test]
    fn flat_object_keeps_written_order() {
        let (metrics, errors) = parse_metrics(r#"{"z": 1, "a": 2, "m": 3}"#);
        assert!(errors.is_empty());
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["z", "a", "m"]);
    }

    #[test]
    fn special_floats() {
        let (metrics, errors) = parse_metrics("a nan\nb -inf\nc 1e-3\n");
        assert!(errors.is_empty());
        assert!(metrics[0].value.is_nan());
        assert_eq!(metrics[1].value, f64::NEG_INFINITY);
        assert_eq!(metrics[2].value, 1e-3);
    }
}
