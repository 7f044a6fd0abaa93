//! Errors of a window counted per class, as the parsers classify them: a fixed array indexed
//! by the class, so adding and merging cost a few integer additions (no map on the hot path).

use std::collections::BTreeMap;

use crate::ErrorClass;

const CLASSES: [ErrorClass; 11] = [
    ErrorClass::PhysicalError,
    ErrorClass::FrameDrop,
    ErrorClass::Rejected,
    ErrorClass::FailedHandshake,
    ErrorClass::ConnectionReset,
    ErrorClass::TlsFailure,
    ErrorClass::ClientError,
    ErrorClass::ServerError,
    ErrorClass::DnsServfail,
    ErrorClass::DnsNxdomain,
    ErrorClass::ProtocolAnomaly,
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorClassCounts([u64; CLASSES.len()]);

fn index(class: ErrorClass) -> usize {
    CLASSES.iter().position(|&c| c == class).unwrap_or(0)
}

impl ErrorClassCounts {
    pub fn add(&mut self, class: ErrorClass, errors: u64) {
        let slot = &mut self.0[index(class)];
        *slot = slot.saturating_add(errors);
    }

    pub fn merge(&mut self, other: &ErrorClassCounts) {
        for (ours, theirs) in self.0.iter_mut().zip(other.0) {
            *ours = ours.saturating_add(theirs);
        }
    }

    /// By class name, classes without an error left out.
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        CLASSES
            .iter()
            .zip(self.0)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| (c.name().to_owned(), n))
            .collect()
    }

    /// From names as [`to_map`](Self::to_map) writes them; an unknown name (a class a newer
    /// version added) is left out rather than miscounted.
    pub fn from_map(map: &BTreeMap<String, u64>) -> Self {
        let mut counts = ErrorClassCounts::default();
        for (name, &n) in map {
            if let Some(&class) = CLASSES.iter().find(|c| c.name() == name) {
                counts.add(class, n);
            }
        }
        counts
    }

    /// As JSON text for a column; `None` when there is no error.
    pub fn to_json(&self) -> Option<String> {
        let map = self.to_map();
        (!map.is_empty()).then(|| serde_json::to_string(&map).unwrap_or_default())
    }

    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text)
            .map(|m| Self::from_map(&m))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_round_trip_through_their_names() {
        let mut a = ErrorClassCounts::default();
        a.add(ErrorClass::ServerError, 3);
        a.add(ErrorClass::TlsFailure, 1);
        let mut b = ErrorClassCounts::default();
        b.add(ErrorClass::ServerError, 2);
        a.merge(&b);
        let map = a.to_map();
        assert_eq!(map.get("server_error"), Some(&5));
        assert_eq!(map.get("tls_failure"), Some(&1));
        assert_eq!(map.len(), 2);
        let text = a.to_json().expect("json");
        assert_eq!(ErrorClassCounts::from_json(&text), a);
        assert_eq!(ErrorClassCounts::default().to_json(), None);
        assert_eq!(
            ErrorClassCounts::from_json(r#"{"a_new_class":4,"rejected":1}"#)
                .to_map()
                .len(),
            1
        );
    }
}
