//! Being a good API citizen: client-side rate windows and a circuit breaker.
//!
//! Both are plain state machines that take the current [`Instant`] as an argument, so their
//! behaviour is tested without waiting; the HTTP clients ask them before every attempt and
//! sleep for whatever they answer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A rolling window: at most `capacity` requests in any `interval`.
#[derive(Debug, Clone)]
pub struct RateWindow {
    capacity: usize,
    interval: Duration,
    sent: VecDeque<Instant>,
    /// The server said the budget is spent (`X-HubSpot-RateLimit-Remaining: 0`) until then.
    blocked_until: Option<Instant>,
}

impl RateWindow {
    /// `capacity` requests per `interval` (a capacity of 0 is treated as 1).
    pub fn new(capacity: u32, interval: Duration) -> RateWindow {
        RateWindow {
            capacity: capacity.max(1) as usize,
            interval,
            sent: VecDeque::new(),
            blocked_until: None,
        }
    }

    /// Takes a slot at `now` if one is free (`None`), or says how long to wait before asking
    /// again (the slot is not taken then).
    pub fn reserve(&mut self, now: Instant) -> Option<Duration> {
        let wait = self.wait(now);
        if wait.is_none() {
            self.take(now);
        }
        wait
    }

    /// Records a request sent at `now` (after [`RateWindow::wait`] said there was room).
    pub fn take(&mut self, now: Instant) {
        self.sent.push_back(now);
    }

    /// How long until a slot is free (`None`: one is free now). Takes nothing.
    pub fn wait(&mut self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Some(until - now);
            }
            self.blocked_until = None;
        }
        while self
            .sent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.interval)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.capacity {
            return None;
        }
        let oldest = self.sent.front().copied().unwrap_or(now);
        Some(
            (oldest + self.interval)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)),
        )
    }

    /// The server reports its own budget is spent: hold everything for `for_`.
    pub fn block(&mut self, now: Instant, for_: Duration) {
        let until = now + for_;
        self.blocked_until = Some(self.blocked_until.map_or(until, |u| u.max(until)));
    }
}

/// A rolling budget of weighted units: at most `capacity` units in any `interval`. Gmail
/// charges each method a different number of quota units (messages.get 5, history.list 2...)
/// against 15,000 per user per minute.
#[derive(Debug, Clone)]
pub struct UnitWindow {
    capacity: u64,
    interval: Duration,
    spent: VecDeque<(Instant, u64)>,
    in_window: u64,
    blocked_until: Option<Instant>,
}

impl UnitWindow {
    /// `capacity` units per `interval` (a capacity of 0 is treated as 1).
    pub fn new(capacity: u64, interval: Duration) -> UnitWindow {
        UnitWindow {
            capacity: capacity.max(1),
            interval,
            spent: VecDeque::new(),
            in_window: 0,
            blocked_until: None,
        }
    }

    /// Spends `units` at `now` if the window has room (`None`), or says how long to wait
    /// before asking again (nothing is spent then). A request costing more than the whole
    /// capacity is let through once the window is empty, so it cannot wait forever.
    pub fn reserve(&mut self, now: Instant, units: u64) -> Option<Duration> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Some(until - now);
            }
            self.blocked_until = None;
        }
        while let Some(&(t, u)) = self.spent.front() {
            if now.saturating_duration_since(t) < self.interval {
                break;
            }
            self.spent.pop_front();
            self.in_window -= u;
        }
        if self.in_window + units <= self.capacity || self.spent.is_empty() {
            self.spent.push_back((now, units));
            self.in_window += units;
            return None;
        }
        // Wait until enough of the oldest spending has left the window.
        let mut freed = 0;
        for &(t, u) in &self.spent {
            freed += u;
            if self.in_window - freed + units <= self.capacity {
                return Some(
                    (t + self.interval)
                        .saturating_duration_since(now)
                        .max(Duration::from_millis(1)),
                );
            }
        }
        Some(self.interval)
    }

    /// Units spent within the window as of the last reservation.
    pub fn in_window(&self) -> u64 {
        self.in_window
    }

    /// The server said the budget is spent: hold everything for `for_`.
    pub fn block(&mut self, now: Instant, for_: Duration) {
        let until = now + for_;
        self.blocked_until = Some(self.blocked_until.map_or(until, |u| u.max(until)));
    }
}

/// Breaker state as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Too many failures in a row: requests fail at once for the given time.
    Open {
        /// Time until one trial request is let through.
        retry_in: Duration,
    },
    /// The cool-down is over: one trial request decides.
    HalfOpen,
}

/// How long a request waits before asking again while another is the half-open trial.
pub const TRIAL_WAIT: Duration = Duration::from_millis(50);

/// What [`CircuitBreaker::gate`] says about the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It may go (call [`CircuitBreaker::admit`] when it does).
    Go,
    /// Another request is the half-open trial: wait for its answer.
    Wait,
    /// The breaker is open.
    Refuse {
        /// Failures in a row that opened it.
        failures: u32,
        /// Whole seconds until the next trial.
        retry_in_secs: u64,
    },
}

/// Stops hammering a failing service: after `threshold` failures in a row every request fails
/// at once for `cooldown`; then one trial request is let through, and its outcome closes the
/// breaker or opens it again.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> CircuitBreaker {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            open_until: None,
            trial_in_flight: false,
        }
    }

    /// The state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            Some(until) if now < until => BreakerState::Open {
                retry_in: until - now,
            },
            Some(_) => BreakerState::HalfOpen,
            None => BreakerState::Closed,
        }
    }

    /// May a request go out at `now`? `Err` holds how long until the next trial.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        match self.state(now) {
            BreakerState::Closed => Ok(()),
            BreakerState::Open { retry_in } => Err(retry_in),
            BreakerState::HalfOpen if self.trial_in_flight => Err(Duration::ZERO),
            BreakerState::HalfOpen => {
                self.trial_in_flight = true;
                Ok(())
            }
        }
    }

    /// The service answered (any answer that is not its own failure: 2xx, 4xx).
    pub fn success(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.trial_in_flight = false;
    }

    /// The service failed (5xx, timeout, connection refused).
    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let trial_failed = self.trial_in_flight;
        self.trial_in_flight = false;
        if trial_failed || self.failures >= self.threshold {
            self.open_until = Some(now + self.cooldown);
        }
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether a request could go out at `now`, without taking the half-open trial:
    /// [`Admission::Go`], [`Admission::Wait`] while another request is the trial, or [`Admission::Refuse`] with
    /// failures in a row and whole seconds until the next trial.
    pub fn gate(&self, now: Instant) -> Admission {
        match self.state(now) {
            BreakerState::Closed => Admission::Go,
            BreakerState::HalfOpen if self.trial_in_flight => Admission::Wait,
            BreakerState::HalfOpen => Admission::Go,
            BreakerState::Open { retry_in } => Admission::Refuse {
                failures: self.failures,
                retry_in_secs: retry_in.as_secs_f64().ceil() as u64,
            },
        }
    }

    /// Lets a request through when the breaker and a budget both allow it: `take` reserves a
    /// slot in the budget (rate window, quota) and says how long to wait when there is none.
    /// `Ok(None)`: go (the half-open trial is taken, if this is it); `Ok(Some(wait))`: ask
    /// again after `wait` (also while another request is the trial); `Err((failures,
    /// retry_in_secs))`: the breaker is open.
    pub fn admit_with(
        &mut self,
        now: Instant,
        take: impl FnOnce() -> Option<Duration>,
    ) -> Result<Option<Duration>, (u32, u64)> {
        match self.gate(now) {
            Admission::Refuse {
                failures,
                retry_in_secs,
            } => Err((failures, retry_in_secs)),
            Admission::Wait => Ok(Some(TRIAL_WAIT)),
            Admission::Go => match take() {
                Some(wait) => Ok(Some(wait)),
                None => {
                    let _ = self.admit(now);
                    Ok(None)
                }
            },
        }
    }

    /// Records how a request went: `failed` for the service's own failures (5xx, timeouts).
    pub fn record(&mut self, failed: bool, now: Instant) {
        if failed {
            self.failure(now);
        } else {
            self.success();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_window_admits_its_capacity_then_says_when_the_oldest_expires() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(3, Duration::from_secs(10));
        assert_eq!(w.reserve(t0), None);
        assert_eq!(w.reserve(t0 + ms(100)), None);
        assert_eq!(w.reserve(t0 + ms(200)), None);
        assert_eq!(w.reserve(t0 + ms(300)), Some(ms(9_700)));
        // Still full a moment before the first one expires, free right at it.
        assert_eq!(w.reserve(t0 + ms(9_999)), Some(ms(1)));
        assert_eq!(w.reserve(t0 + ms(10_000)), None);
        assert_eq!(w.reserve(t0 + ms(10_001)), Some(ms(99)));
    }

    #[test]
    fn a_window_never_admits_more_than_its_capacity_in_any_interval() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(5, Duration::from_secs(1));
        let mut admitted = Vec::new();
        let mut now = t0;
        while admitted.len() < 40 {
            match w.reserve(now) {
                None => admitted.push(now),
                Some(wait) => now += wait,
            }
        }
        for (i, &t) in admitted.iter().enumerate() {
            let in_window = admitted[i..]
                .iter()
                .take_while(|&&u| u - t < Duration::from_secs(1))
                .count();
            assert!(in_window <= 5, "{in_window} requests within one second");
        }
        // And it does not wait longer than it must: 40 requests at 5/s take 7 s, not more.
        assert_eq!(now - t0, Duration::from_secs(7));
    }

    #[test]
    fn a_server_block_holds_every_request_until_it_ends() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(100, Duration::from_secs(10));
        w.block(t0, ms(2_000));
        assert_eq!(w.reserve(t0 + ms(500)), Some(ms(1_500)));
        assert_eq!(w.reserve(t0 + ms(2_000)), None);
    }

    #[test]
    fn a_unit_window_never_spends_more_than_its_capacity_in_any_interval() {
        let t0 = Instant::now();
        let mut w = UnitWindow::new(15_000, Duration::from_secs(60));
        // A mix of Gmail methods: messages.get 5, threads.get 10, history.list 2, list 5.
        let costs = [5u64, 10, 2, 5, 5, 10, 1];
        let mut spent: Vec<(Instant, u64)> = Vec::new();
        let mut now = t0;
        let mut i = 0;
        while spent.len() < 10_000 {
            let units = costs[i % costs.len()];
            match w.reserve(now, units) {
                None => {
                    spent.push((now, units));
                    i += 1;
                }
                Some(wait) => now += wait,
            }
        }
        for (k, &(t, _)) in spent.iter().enumerate() {
            let units: u64 = spent[k..]
                .iter()
                .take_while(|&&(u, _)| u - t < Duration::from_secs(60))
                .map(|&(_, n)| n)
                .sum();
            assert!(units <= 15_000, "{units} units within a minute");
        }
        // 10,000 requests averaging 38/7 units are ~54k units: just over three full minutes.
        let total: u64 = spent.iter().map(|&(_, n)| n).sum();
        let minutes = (now - t0).as_secs_f64() / 60.0;
        assert!(
            minutes >= (total / 15_000) as f64 && minutes < (total / 15_000 + 1) as f64,
            "{minutes}"
        );
    }

    #[test]
    fn a_unit_window_lets_an_oversized_request_through_when_empty_and_honours_blocks() {
        let t0 = Instant::now();
        let mut w = UnitWindow::new(10, Duration::from_secs(1));
        assert_eq!(w.reserve(t0, 25), None);
        assert_eq!(w.reserve(t0, 1), Some(Duration::from_secs(1)));
        assert_eq!(w.reserve(t0 + Duration::from_secs(1), 1), None);
        w.block(t0 + Duration::from_secs(1), ms(300));
        assert_eq!(w.reserve(t0 + Duration::from_secs(1), 1), Some(ms(300)));
        assert_eq!(w.in_window(), 1);
    }

    #[test]
    fn the_breaker_opens_after_the_threshold_and_lets_one_trial_through() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(3, Duration::from_secs(60));
        assert_eq!(b.admit(t0), Ok(()));
        b.failure(t0);
        b.failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        b.failure(t0);
        assert_eq!(
            b.state(t0 + ms(1_000)),
            BreakerState::Open {
                retry_in: Duration::from_secs(59)
            }
        );
        assert_eq!(b.admit(t0 + ms(1_000)), Err(Duration::from_secs(59)));
        // After the cool-down: one trial, and only one.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert_eq!(b.admit(later), Ok(()));
        assert_eq!(b.admit(later), Err(Duration::ZERO));
        // The trial fails: open again for a whole cool-down.
        b.failure(later);
        assert_eq!(b.admit(later), Err(Duration::from_secs(60)));
        // The next trial succeeds: closed, counters reset.
        let again = later + Duration::from_secs(60);
        assert_eq!(b.admit(again), Ok(()));
        b.success();
        assert_eq!(b.state(again), BreakerState::Closed);
        assert_eq!(b.failures(), 0);
    }

    #[test]
    fn the_gate_lets_one_trial_through_and_holds_the_others_until_it_answers() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(1, Duration::from_secs(10));
        assert_eq!(b.gate(t0), Admission::Go);
        b.failure(t0);
        assert_eq!(
            b.gate(t0 + ms(500)),
            Admission::Refuse {
                failures: 1,
                retry_in_secs: 10
            }
        );
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.gate(later), Admission::Go, "gate takes nothing");
        assert_eq!(b.gate(later), Admission::Go);
        assert_eq!(b.admit(later), Ok(()));
        assert_eq!(b.gate(later), Admission::Wait, "the others wait for the trial");
        b.success();
        assert_eq!(b.gate(later), Admission::Go);
    }

    #[test]
    fn a_success_between_failures_keeps_the_breaker_closed() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(3, Duration::from_secs(60));
        for _ in 0..10 {
            b.failure(t0);
            b.failure(t0);
            b.success();
        }
        assert_eq!(b.state(t0), BreakerState::Closed);
    }
}
