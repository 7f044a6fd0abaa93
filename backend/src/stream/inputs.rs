//! What admins set for the analysis (capacities, rules, groups), read from the database every
//! second by every node: a change made through any node applies everywhere within a second,
//! from the next window that closes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::analysis::{AlertRule, Capacity, EntityGroup, Inputs, RuleSet};
use crate::store::{settings, Db, DbConn};

const EVERY: Duration = Duration::from_secs(1);

/// Reads the inputs once, then follows them on a thread of their own; the receiver sees a new
/// value only when something changed.
pub fn follow(db: Db) -> watch::Receiver<Arc<Inputs>> {
    let (tx, rx) = watch::channel(Arc::new(Inputs::default()));
    let mut last: Option<Raw> = None;
    let mut step = move || {
        let raw = match db
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut c| read(&mut c).map_err(|e| e.to_string()))
        {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read capacities and rules; keeping the last ones");
                return;
            }
        };
        if last.as_ref() == Some(&raw) {
            return;
        }
        let rules = match RuleSet::new(raw.rules.clone()) {
            Ok(rules) => rules,
            Err(e) => {
                // The API validates every rule; a set that fails here was edited by hand.
                tracing::warn!(error = %e, "the stored rules are invalid; keeping the last ones");
                return;
            }
        };
        let inputs = Inputs::new(raw.capacities.clone(), rules, raw.groups.clone());
        last = Some(raw);
        let _ = tx.send(Arc::new(inputs));
    };
    step();
    let _ = std::thread::Builder::new()
        .name("inputs".into())
        .spawn(move || loop {
            std::thread::sleep(EVERY);
            step();
        });
    rx
}

#[derive(Debug, Clone, PartialEq)]
struct Raw {
    capacities: Vec<Capacity>,
    rules: Vec<AlertRule>,
    groups: Vec<EntityGroup>,
}

fn read(conn: &mut DbConn) -> diesel::QueryResult<Raw> {
    Ok(Raw {
        capacities: settings::load(conn, settings::CAPACITY)?,
        rules: settings::load(conn, settings::RULE)?,
        groups: settings::load(conn, settings::GROUP)?,
    })
}
