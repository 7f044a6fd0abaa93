//! `layercast ingest --source s3://bucket/prefix --once`: reads what a bucket holds now into a
//! running deployment (a backfill), through the ledger its nodes share: an object already read,
//! or being read by a node, is left alone, and an object read here is never read again by a
//! node. A progress bar of objects and bytes on a terminal.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};

use super::s3::{Bucket, Listed};
use super::stats::{Discovery, SourceKind};
use super::take::{Outcome, Taker};
use crate::config::S3SourceConfig;

/// Objects listed per request.
const LIST_PAGE: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("{0} is not an S3 address: s3://bucket or s3://bucket/prefix")]
    NotS3(String),
    #[error("cannot list s3://{bucket}/{prefix}: {reason}")]
    List {
        bucket: String,
        prefix: String,
        reason: String,
    },
}

/// What a backfill came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Objects read here, and their bytes.
    pub read: u64,
    pub bytes: u64,
    /// Objects the ledger had done already.
    pub already_done: u64,
    /// Objects a node is reading now (it finishes them).
    pub held: u64,
    /// Objects that failed, with why.
    pub failed: Vec<(String, String)>,
}

/// Splits `s3://bucket/prefix` into the bucket and the prefix ("" when none).
pub fn parse_address(address: &str) -> Result<(String, String), BackfillError> {
    let rest = address
        .strip_prefix("s3://")
        .ok_or_else(|| BackfillError::NotS3(address.to_owned()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(BackfillError::NotS3(address.to_owned()));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// The source settings of a backfill of `address`.
pub fn source_config(
    address: &str,
    endpoint: Option<String>,
    region: Option<String>,
    path_style: bool,
    format: String,
) -> Result<S3SourceConfig, BackfillError> {
    let (bucket, prefix) = parse_address(address)?;
    Ok(S3SourceConfig {
        name: format!("ingest {address}"),
        bucket,
        prefix,
        region,
        endpoint,
        path_style,
        format,
        poll_ms: 0,
        queue_url: None,
    })
}

/// Lists the bucket whole, then takes every object in key order.
pub async fn run(bucket: Bucket, taker: Taker) -> Result<Summary, BackfillError> {
    let config = bucket.config.clone();
    let mut listed: Vec<Listed> = Vec::new();
    loop {
        let after = listed.last().map(|l| l.key.clone());
        let page = bucket
            .list(after.as_deref(), LIST_PAGE)
            .await
            .map_err(|reason| BackfillError::List {
                bucket: config.bucket.clone(),
                prefix: config.prefix.clone(),
                reason,
            })?;
        let full = page.len() == LIST_PAGE;
        listed.extend(page);
        if !full {
            break;
        }
    }
    let total_bytes: u64 = listed.iter().map(|l| l.size).sum();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total_bytes)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let reader = Arc::new(Mutex::new(super::object::Reader::new()));
    let stats = taker
        .metrics
        .source(&config.name, SourceKind::S3, Discovery::Listing);
    let mut summary = Summary::default();
    for (n, object) in listed.iter().enumerate() {
        bar.set_message(format!(
            "object {} of {}: {}",
            n + 1,
            listed.len(),
            object.key
        ));
        match bucket.take(&taker, reader.clone(), object, &stats).await {
            Ok(Outcome::Done) => {
                summary.read += 1;
                summary.bytes += object.size;
            }
            Ok(Outcome::AlreadyDone) => summary.already_done += 1,
            Ok(Outcome::Held { .. }) => summary.held += 1,
            Err(e) => summary.failed.push((object.key.clone(), e.to_string())),
        }
        bar.inc(object.size);
    }
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_a_bucket_and_maybe_a_prefix() {
        assert_eq!(
            parse_address("s3://logs/vpc/2026/").expect("address"),
            ("logs".to_owned(), "vpc/2026/".to_owned())
        );
        assert_eq!(
            parse_address("s3://logs").expect("address"),
            ("logs".to_owned(), String::new())
        );
        for wrong in ["logs/vpc", "s3://", "s3:///vpc", "https://logs/vpc"] {
            assert!(parse_address(wrong).is_err(), "{wrong}");
        }
    }
}
