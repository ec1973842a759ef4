//! The inbound rate limit of a connection: token buckets for data messages and their bytes.

use std::time::Duration;

use tokio::time::Instant;

/// Reason of the 1008 close sent when a connection exceeds its [`RateLimit`] (with
/// [`RateLimitAction::Close`]).
pub const RATE_LIMIT_REASON: &str = "rate limit exceeded";

/// What happens to a data message past a connection's [`RateLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RateLimitAction {
    /// Close the connection with 1008 "rate limit exceeded" (the default).
    #[default]
    Close,
    /// Discard the message and keep the connection open.
    Drop,
}

/// The inbound rate limit of each connection: data messages per second and payload bytes
/// per second, each a token bucket that holds `burst` worth of its rate and refills
/// continuously. Control frames are not counted (pings are answered at most once per
/// batch of replies, whatever their number).
///
/// A message passes when both buckets hold its cost (1 message, its length in bytes); a
/// message larger than the byte bucket passes when that bucket is full, and leaves it in
/// debt. Past the limit, [`RateLimit::action`] applies.
///
/// ```
/// use std::time::Duration;
/// use ws_controller::{RateLimit, RateLimitAction, Settings};
///
/// let settings = Settings::default().rate_limit(Some(
///     RateLimit::messages(100)
///         .bytes_per_second(Some(1 << 20))
///         .burst(Duration::from_secs(2))
///         .action(RateLimitAction::Drop),
/// ));
/// # let _ = settings;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Data messages per second; `None`: not limited.
    pub messages_per_second: Option<u32>,
    /// Payload bytes of data messages per second; `None`: not limited.
    pub bytes_per_second: Option<u64>,
    /// How much of the rate a bucket holds: the burst a quiet connection may send at once.
    /// Default 1 s.
    pub burst: Duration,
    /// What happens past the limit. Default [`RateLimitAction::Close`].
    pub action: RateLimitAction,
}

impl RateLimit {
    /// A limit of `per_second` data messages per second (bytes not limited).
    pub fn messages(per_second: u32) -> Self {
        Self {
            messages_per_second: Some(per_second),
            bytes_per_second: None,
            burst: Duration::from_secs(1),
            action: RateLimitAction::Close,
        }
    }

    /// A limit of `per_second` payload bytes per second (messages not limited).
    pub fn bytes(per_second: u64) -> Self {
        Self {
            messages_per_second: None,
            bytes_per_second: Some(per_second),
            burst: Duration::from_secs(1),
            action: RateLimitAction::Close,
        }
    }

    /// Sets [`RateLimit::messages_per_second`].
    pub fn messages_per_second(mut self, per_second: Option<u32>) -> Self {
        self.messages_per_second = per_second;
        self
    }

    /// Sets [`RateLimit::bytes_per_second`].
    pub fn bytes_per_second(mut self, per_second: Option<u64>) -> Self {
        self.bytes_per_second = per_second;
        self
    }

    /// Sets [`RateLimit::burst`].
    pub fn burst(mut self, burst: Duration) -> Self {
        self.burst = burst;
        self
    }

    /// Sets [`RateLimit::action`].
    pub fn action(mut self, action: RateLimitAction) -> Self {
        self.action = action;
        self
    }
}

/// One token bucket.
#[derive(Debug)]
struct Bucket {
    /// Tokens per second.
    rate: f64,
    capacity: f64,
    tokens: f64,
}

impl Bucket {
    fn new(per_second: f64, burst: Duration) -> Self {
        // A bucket always holds at least one message's worth, or nothing could pass.
        let capacity = (per_second * burst.as_secs_f64()).max(1.0);
        Self {
            rate: per_second,
            capacity,
            tokens: capacity,
        }
    }

    fn refill(&mut self, elapsed: Duration) {
        self.tokens = (self.tokens + self.rate * elapsed.as_secs_f64()).min(self.capacity);
    }

    fn holds(&self, cost: f64) -> bool {
        self.tokens >= cost.min(self.capacity)
    }
}

/// A connection's buckets.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    messages: Option<Bucket>,
    bytes: Option<Bucket>,
    last: Instant,
    pub(crate) action: RateLimitAction,
}

impl RateLimiter {
    /// The limiter for `limit`; `None` when it limits nothing.
    pub(crate) fn new(limit: &RateLimit) -> Option<Self> {
        let messages = limit
            .messages_per_second
            .map(|n| Bucket::new(f64::from(n), limit.burst));
        // Precision below 2^53 bytes per second does not matter.
        #[allow(clippy::cast_precision_loss)]
        let bytes = limit
            .bytes_per_second
            .map(|n| Bucket::new(n as f64, limit.burst));
        if messages.is_none() && bytes.is_none() {
            return None;
        }
        Some(Self {
            messages,
            bytes,
            last: Instant::now(),
            action: limit.action,
        })
    }

    /// Takes a message of `len` bytes from the buckets; false (nothing taken) when it is
    /// over the limit.
    pub(crate) fn admit(&mut self, len: usize) -> bool {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        #[allow(clippy::cast_precision_loss)]
        let len = len as f64;
        for bucket in [&mut self.messages, &mut self.bytes].into_iter().flatten() {
            bucket.refill(elapsed);
        }
        let fits = self.messages.as_ref().is_none_or(|b| b.holds(1.0))
            && self.bytes.as_ref().is_none_or(|b| b.holds(len));
        if fits {
            if let Some(b) = &mut self.messages {
                b.tokens -= 1.0;
            }
            if let Some(b) = &mut self.bytes {
                b.tokens -= len;
            }
        }
        fits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn messages_refill_at_the_rate() {
        let mut limiter = RateLimiter::new(&RateLimit::messages(10)).unwrap();
        assert_eq!((0..15).filter(|_| limiter.admit(1)).count(), 10);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!((0..15).filter(|_| limiter.admit(1)).count(), 5);
        tokio::time::advance(Duration::from_secs(10)).await;
        // Refilled to the burst, not beyond.
        assert_eq!((0..15).filter(|_| limiter.admit(1)).count(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_message_passes_a_full_bucket_and_leaves_a_debt() {
        let mut limiter = RateLimiter::new(&RateLimit::bytes(100)).unwrap();
        assert!(limiter.admit(250));
        assert!(!limiter.admit(1));
        // 150 of debt, then 100 tokens to get back to a full bucket: 2.5 s in all.
        tokio::time::advance(Duration::from_millis(2_400)).await;
        assert!(!limiter.admit(100));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(limiter.admit(100));
    }

    #[test]
    fn a_limit_of_nothing_is_no_limiter() {
        let limit = RateLimit::messages(1).messages_per_second(None);
        assert!(RateLimiter::new(&limit).is_none());
    }
}
