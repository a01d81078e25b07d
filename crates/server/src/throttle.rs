//! Failed authentications, counted per client address: after `LIMIT` in
//! `WINDOW`, that address is answered 429 (with `Retry-After`) for `BLOCK`,
//! before its token is even looked at, so guessing tokens costs time.
//! Other addresses are not affected. Monotonic time, kept in memory.
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const LIMIT: usize = 30;
pub const WINDOW: Duration = Duration::from_secs(60);
pub const BLOCK: Duration = Duration::from_secs(60);
/// Addresses remembered at most; the quietest are forgotten first.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Default)]
struct Entry {
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

pub struct AuthThrottle {
    by_address: Mutex<HashMap<IpAddr, Entry>>,
    limit: usize,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        AuthThrottle::with_limit(LIMIT)
    }
}

impl AuthThrottle {
    /// Blocks an address after `limit` failures in a minute.
    pub fn with_limit(limit: usize) -> AuthThrottle {
        AuthThrottle { by_address: Mutex::default(), limit: limit.max(1) }
    }

    /// `Err(seconds)` while `ip` is blocked.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&ip).and_then(|e| e.blocked_until) {
            Some(until) if until > now => Err((until - now).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication from `ip`; `Some(seconds)` when it
    /// has just been blocked.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&ip) {
            map.retain(|_, e| {
                e.blocked_until.is_some_and(|u| u > now) || e.failures.back().is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
            if map.len() >= MAX_ADDRESSES {
                return None;
            }
        }
        let e = map.entry(ip).or_default();
        while e.failures.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            e.failures.pop_front();
        }
        e.failures.push_back(now);
        if e.failures.len() >= self.limit {
            e.failures.clear();
            e.blocked_until = Some(now + BLOCK);
            tracing::warn!(%ip, "too many failed authentications; this address is refused for a minute");
            return Some(BLOCK.as_secs());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_the_limit_and_freed_after_the_block() {
        let t = AuthThrottle::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..LIMIT - 1 {
            assert_eq!(t.failed(a, t0 + Duration::from_millis(i as u64)), None);
        }
        assert!(t.check(a, t0).is_ok());
        assert_eq!(t.failed(a, t0 + Duration::from_millis(100)), Some(60));
        assert!(t.check(a, t0 + Duration::from_secs(1)).is_err());
        assert!(t.check(b, t0 + Duration::from_secs(1)).is_ok(), "another address is not affected");
        assert!(t.check(a, t0 + BLOCK + Duration::from_secs(1)).is_ok(), "free again after the block");
        // Failures spread wider than the window never block.
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        for i in 0..(LIMIT as u64 * 3) {
            assert_eq!(t.failed(c, t0 + Duration::from_secs(3 * i)), None);
        }
    }
}
