//! Time as the protocol core sees it: [`Millis`], an instant the driver injects (there is no clock
//! here), [`Timers`] (T1, T2, T4 and the values derived from them) and [`Timer`], the name of a
//! timer a state machine arms.

/// An instant: milliseconds since an epoch the driver chooses (when the call engine started,
/// say). Every event carries one; nothing in this module reads a clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// The instant `ms` milliseconds after this one (saturating).
    pub fn after(self, ms: u32) -> Self {
        Self(self.0.saturating_add(u64::from(ms)))
    }
}

/// A timer a state machine arms with [`Output::Arm`](super::Output::Arm): the letters of RFC 3261
/// §17 (Table 4) and RFC 6026, and the few the UA core adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client: retransmit the INVITE (unreliable transports only).
    A,
    /// INVITE client: give up waiting for any response.
    B,
    /// INVITE client: stop absorbing retransmitted non-2xx final responses.
    D,
    /// Non-INVITE client: retransmit the request (unreliable transports only).
    E,
    /// Non-INVITE client: give up waiting for a final response.
    F,
    /// INVITE server: retransmit a non-2xx final response (unreliable transports only).
    G,
    /// INVITE server: give up waiting for the ACK of a non-2xx final response.
    H,
    /// INVITE server: stop absorbing retransmitted ACKs.
    I,
    /// Non-INVITE server: stop answering retransmitted requests.
    J,
    /// Non-INVITE client: stop absorbing retransmitted responses.
    K,
    /// INVITE server (RFC 6026): stop absorbing retransmitted INVITEs after a 2xx.
    L,
    /// INVITE client (RFC 6026): stop passing retransmitted 2xx to the TU.
    M,
    /// INVITE client: 64*T1 after a CANCEL, an INVITE still without a final response is given up
    /// (RFC 3261 §9.1).
    CancelGuard,
    /// UA core: retransmit a 2xx to an INVITE until its ACK (RFC 3261 §13.3.1.4; unreliable
    /// transports only).
    Answer,
    /// UA core: 64*T1 without the ACK of a 2xx: the session should end (RFC 3261 §13.3.1.4).
    AnswerTimeout,
}

/// T1, T2 and T4 (RFC 3261 §17.1.1.1, §17.1.2.2), in milliseconds, and the timer values derived
/// from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    t1: u32,
    t2: u32,
    t4: u32,
}

impl Default for Timers {
    /// T1 500 ms, T2 4 s, T4 5 s: RFC 3261's defaults.
    fn default() -> Self {
        Self::new(500, 4_000, 5_000)
    }
}

impl Timers {
    /// Timers with these values in milliseconds; T1 is at least 1 ms and T2 at least T1, so that
    /// no retransmission schedule degenerates into a busy loop.
    pub fn new(t1: u32, t2: u32, t4: u32) -> Self {
        let t1 = t1.max(1);
        Self {
            t1,
            t2: t2.max(t1),
            t4,
        }
    }

    /// T1: the round-trip estimate, and the first retransmission interval.
    pub fn t1(&self) -> u32 {
        self.t1
    }

    /// T2: the longest retransmission interval of non-INVITE requests and INVITE responses.
    pub fn t2(&self) -> u32 {
        self.t2
    }

    /// T4: how long a message may stay in the network (timers I and K on unreliable transports).
    pub fn t4(&self) -> u32 {
        self.t4
    }

    /// 64*T1: timers B, F, H, J (unreliable transports), L and M, and the 2xx retransmission
    /// limit.
    pub fn long(&self) -> u32 {
        self.t1.saturating_mul(64)
    }

    /// Timer D on unreliable transports: 64*T1, and at least 32 s (RFC 3261 §17.1.1.2).
    pub fn d(&self) -> u32 {
        self.long().max(32_000)
    }

    /// The retransmission interval after `every`: doubled, at most T2 (timers E, G and the 2xx
    /// retransmissions).
    pub(super) fn backoff(&self, every: u32) -> u32 {
        every.saturating_mul(2).min(self.t2)
    }
}

/// A retransmission timer: when it fires next, and the interval after which it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Retry {
    /// When it fires.
    pub(super) at: Millis,
    /// The interval that led to `at`.
    pub(super) every: u32,
}

impl Retry {
    /// A timer firing `every` ms after `now`.
    pub(super) fn start(now: Millis, every: u32) -> Self {
        Self {
            at: now.after(every),
            every,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_derived_values_follow_rfc_3261() {
        let t = Timers::default();
        assert_eq!((t.t1(), t.t2(), t.t4()), (500, 4_000, 5_000));
        assert_eq!(t.long(), 32_000);
        assert_eq!(t.d(), 32_000);
        assert_eq!(t.backoff(500), 1_000);
        assert_eq!(t.backoff(2_000), 4_000);
        assert_eq!(t.backoff(4_000), 4_000);
        // Short timers (tests, LANs) keep Timer D at 32 s.
        assert_eq!(Timers::new(100, 400, 500).d(), 32_000);
    }

    #[test]
    fn degenerate_values_are_raised() {
        let t = Timers::new(0, 0, 0);
        assert_eq!((t.t1(), t.t2()), (1, 1));
        assert_eq!(t.backoff(1), 1);
        assert_eq!(Millis(u64::MAX).after(5), Millis(u64::MAX));
    }
}
