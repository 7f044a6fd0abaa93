//! `layercast detect`: the anomaly detector over one series read from CSV, the layout of the
//! Numenta Anomaly Benchmark's data files (`timestamp,value`), and the NAB corpus loader that
//! the benchmark and the tests score it with.
//!
//! Input: a header with `timestamp` and `value` columns (any order, other columns ignored);
//! timestamps as `2014-04-10 07:15:00` (UTC, fractions of a second allowed), RFC 3339, or
//! integer epoch milliseconds. Output: `timestamp,value,anomaly_score,state,alert`, one row per
//! input row in the same order, timestamp and value copied as they came.
//!
//! A row whose value is empty is kept (so the output lines up with the input) with an empty
//! score, the state so far and no alert; the detector skips it and the summary counts it, so the
//! command can warn. Anything else that does not parse is an error naming the line.

pub mod corpus;

use std::io::{Read, Write};

use chrono::{DateTime, NaiveDateTime};

use crate::analysis::anomaly::{AnomalyConfig, AnomalyDetector, AnomalyError};

/// Naive timestamp layouts accepted, read as UTC.
const NAIVE_LAYOUTS: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"];

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("invalid detector settings")]
    Config(#[from] AnomalyError),
    #[error("the header has no `{0}` column")]
    MissingColumn(&'static str),
    #[error("line {line}: malformed CSV")]
    Csv { line: u64, source: csv::Error },
    #[error("line {line}: cannot read timestamp `{value}` (expected `2014-04-10 07:15:00`, RFC 3339 or epoch ms)")]
    Timestamp { line: u64, value: String },
    #[error("line {line}: cannot read value `{value}` as a number")]
    Value { line: u64, value: String },
    #[error("line {line}: no `{column}` field")]
    ShortRow { line: u64, column: &'static str },
    #[error("cannot write the output")]
    Write(#[source] csv::Error),
}

/// What a run went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectSummary {
    /// Data rows read (and written).
    pub rows: u64,
    /// Rows with an empty value, written with an empty score.
    pub empty_values: u64,
    /// Rows whose score reached the alert level.
    pub alerts: u64,
}

/// Milliseconds since the Unix epoch of a timestamp in one of the accepted layouts.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty()
        && s.trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return s.parse().ok();
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    NAIVE_LAYOUTS
        .iter()
        .find_map(|layout| NaiveDateTime::parse_from_str(s, layout).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// One data row: its line, timestamp and value (`None` when empty), raw fields kept for echo.
pub struct Row<'r> {
    pub line: u64,
    pub ts_ms: i64,
    pub value: Option<f64>,
    pub raw_ts: &'r str,
    pub raw_value: &'r str,
}

/// Reads `timestamp,value` rows and hands each to `each`, streaming.
pub fn for_each_row<R: Read>(
    input: R,
    mut each: impl FnMut(Row<'_>) -> Result<(), DetectError>,
) -> Result<(), DetectError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|source| DetectError::Csv { line: 1, source })?;
    let find = |name: &'static str| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or(DetectError::MissingColumn(name))
    };
    let (ts_col, value_col) = (find("timestamp")?, find("value")?);
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(source) => return Err(DetectError::Csv { line, source }),
        }
        let line = record.position().map_or(line, |p| p.line());
        let raw_ts = record.get(ts_col).ok_or(DetectError::ShortRow {
            line,
            column: "timestamp",
        })?;
        let raw_value = record.get(value_col).ok_or(DetectError::ShortRow {
            line,
            column: "value",
        })?;
        let ts_ms = parse_timestamp(raw_ts).ok_or_else(|| DetectError::Timestamp {
            line,
            value: raw_ts.to_owned(),
        })?;
        let value = if raw_value.is_empty() {
            None
        } else {
            let v: f64 = raw_value.parse().map_err(|_| DetectError::Value {
                line,
                value: raw_value.to_owned(),
            })?;
            Some(v)
        };
        each(Row {
            line,
            ts_ms,
            value,
            raw_ts,
            raw_value,
        })?;
    }
}

/// Runs the detector over the CSV series in `input` and writes the scored rows to `output`.
pub fn detect<R: Read, W: Write>(
    input: R,
    output: W,
    config: AnomalyConfig,
) -> Result<DetectSummary, DetectError> {
    let mut detector = AnomalyDetector::new(config)?;
    let mut writer = csv::Writer::from_writer(output);
    writer
        .write_record(["timestamp", "value", "anomaly_score", "state", "alert"])
        .map_err(DetectError::Write)?;
    let mut summary = DetectSummary::default();
    for_each_row(input, |row| {
        summary.rows += 1;
        let (score, state, alert) = match row.value {
            Some(v) => {
                let p = detector.push(row.ts_ms, v);
                summary.alerts += u64::from(p.alert);
                (p.score.to_string(), p.state, p.alert)
            }
            None => {
                summary.empty_values += 1;
                (String::new(), detector.state(), false)
            }
        };
        let alert = if alert { "1" } else { "0" };
        writer
            .write_record([
                row.raw_ts,
                row.raw_value,
                score.as_str(),
                state.name(),
                alert,
            ])
            .map_err(DetectError::Write)
    })?;
    writer.flush().map_err(|e| DetectError::Write(e.into()))?;
    Ok(summary)
}

#[cfg(test)]
mod tests;
