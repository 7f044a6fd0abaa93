//! Login throttling: failed attempts per user name and per address within a sliding window.
//! Per node and in memory: a node restart forgets them, and an attacker spread over N nodes
//! gets N times the attempts, both far below what guessing a password needs.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; past it, the ones whose failures have all expired are dropped, and if
/// none have, the new key is not tracked (the per-user key of a flood still is).
const MAX_KEYS: usize = 100_000;

pub struct LoginThrottle {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(limit: u32, window: Duration) -> Self {
        LoginThrottle {
            limit: usize::try_from(limit).unwrap_or(usize::MAX).max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when any of `keys` has used up its attempts.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = map.get_mut(key) {
                expire(times, now, self.window);
                if times.len() >= self.limit {
                    if let Some(oldest) = times.front() {
                        wait = wait.max(self.window.saturating_sub(now - *oldest));
                    }
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.max(Duration::from_secs(1)))
        }
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_KEYS {
            let window = self.window;
            map.retain(|_, times| {
                expire(times, now, window);
                !times.is_empty()
            });
        }
        for key in keys {
            if map.len() >= MAX_KEYS && !map.contains_key(key) {
                continue;
            }
            let times = map.entry(key.clone()).or_default();
            expire(times, now, self.window);
            times.push_back(now);
            // More than the limit tells nothing more.
            while times.len() > self.limit {
                times.pop_front();
            }
        }
    }

    /// A successful login clears its user's failures (not its address's).
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

fn expire(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times.front().is_some_and(|t| now - *t >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_blocks_until_the_oldest_failure_leaves_the_window() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let keys = ["user:a".to_owned(), "addr:1.2.3.4".to_owned()];
        for i in 0..3 {
            assert!(throttle.check(&keys, t0).is_ok());
            throttle.failed(&keys, t0 + Duration::from_secs(i));
        }
        let wait = throttle
            .check(&keys, t0 + Duration::from_secs(10))
            .expect_err("blocked");
        assert_eq!(wait, Duration::from_secs(50));
        // Another user from the same address is blocked too; the same user elsewhere as well.
        assert!(throttle
            .check(&["user:b".into(), "addr:1.2.3.4".into()], t0)
            .is_err());
        assert!(throttle
            .check(&["user:a".into(), "addr:5.6.7.8".into()], t0)
            .is_err());
        assert!(throttle.check(&keys, t0 + Duration::from_secs(61)).is_ok());
        throttle.succeeded("user:a");
        assert!(throttle
            .check(&["user:a".into(), "addr:9.9.9.9".into()], t0)
            .is_ok());
    }
}
