//! A longest-prefix-match table with immutable, cheaply published snapshots.
//!
//! # Structure
//! A key (an IPv4 address as `u32`, or an IPv6 address as `u128`) is split into its top 16 bits,
//! the *slot*, and the remaining bits, the *rest*. The snapshot, [`Lpm`], is a two-level array of
//! 65,536 slots (256 chunks of 256). A slot is either a leaf, holding the answer for every address in
//! it, or a `Sub`: the slot's address range flattened into sorted, non-overlapping intervals,
//! each with the value of the most specific prefix covering it. A lookup is two array indexings
//! and, for a slot with longer prefixes, one search of its interval starts: for IPv4 the starts
//! are packed `u16`s, counted in one branch-free pass (usually one or two cache lines), then one
//! read of the value; for IPv6 a binary search over (start, value) pairs.
//!
//! # Updates
//! [`LpmBuilder`] keeps the prefixes themselves (the master copy) and the current snapshot. A
//! change marks the slots it touches; [`LpmBuilder::publish`] rebuilds only those slots, copies
//! only their chunks (sharing everything else with the previous snapshot through `Arc`) and
//! returns the new snapshot. Readers keep using whatever snapshot they hold: they never block and
//! never see half of a change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// The value a lookup returns when nothing matches.
pub const NONE: u32 = u32::MAX;
/// Inside a slot's intervals: "whatever covers the whole slot", kept in the slot itself so that a
/// change of a short prefix only rewrites that one number per slot. Values must stay below it.
const INHERIT: u32 = u32::MAX - 1;

/// The low bits of a key, below its slot.
pub trait Rest: Copy + Ord + Debug + Send + Sync + 'static {
    /// The smallest value.
    const ZERO: Self;
    /// A slot's sorted intervals as the snapshot holds them (shared between snapshots).
    type Intervals: Clone + Debug + Send + Sync;
    /// `self + 1`, unless `self` is the largest value.
    fn succ(self) -> Option<Self>;
    /// The intervals starting at `starts` (sorted, the first `ZERO`) with `values`.
    fn intervals(starts: &[Self], values: &[u32]) -> Self::Intervals;
    /// The value of the interval holding `rest`.
    fn find(intervals: &Self::Intervals, rest: Self) -> u32;
    /// Bytes `intervals` owns on the heap.
    fn heap_bytes(intervals: &Self::Intervals) -> usize;
}

/// Up to this many interval starts a slot is searched by counting the starts at or below the
/// rest, a branch-free loop the compiler turns into vector compares; beyond it, by bisection.
const SCAN: usize = 64;

/// IPv4 rests: one allocation per slot, its `n` starts as `u16` side by side (a slot of up to 32
/// starts is one cache line to scan), then each value as two `u16` halves (high, low).
impl Rest for u16 {
    const ZERO: Self = 0;
    type Intervals = Arc<[u16]>;
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn intervals(starts: &[u16], values: &[u32]) -> Arc<[u16]> {
        let halves = values.iter().flat_map(|&v| [(v >> 16) as u16, v as u16]);
        starts.iter().copied().chain(halves).collect()
    }
    #[inline]
    fn find(intervals: &Arc<[u16]>, rest: u16) -> u32 {
        let n = intervals.len() / 3;
        let (starts, values) = intervals.split_at(n);
        // The first start is always ZERO, so at least one start is at or below `rest`.
        let i = if n <= SCAN {
            starts
                .iter()
                .map(|&s| usize::from(s <= rest))
                .sum::<usize>()
        } else {
            starts.partition_point(|&s| s <= rest)
        };
        let at = 2 * i.saturating_sub(1);
        (u32::from(values[at]) << 16) | u32::from(values[at + 1])
    }
    fn heap_bytes(intervals: &Arc<[u16]>) -> usize {
        2 * size_of::<usize>() + std::mem::size_of_val(&intervals[..])
    }
}

/// IPv6 rests: start and value side by side, so the bisection ends on the cache line that holds
/// the answer.
impl Rest for u128 {
    const ZERO: Self = 0;
    type Intervals = Arc<[(u128, u32)]>;
    fn succ(self) -> Option<Self> {
        // IPv6 rests have 112 bits.
        (self < (1u128 << 112) - 1).then(|| self + 1)
    }
    fn intervals(starts: &[u128], values: &[u32]) -> Self::Intervals {
        starts.iter().copied().zip(values.iter().copied()).collect()
    }
    #[inline]
    fn find(intervals: &Self::Intervals, rest: u128) -> u32 {
        // The first start is always ZERO, so the partition point is at least 1.
        let i = intervals.partition_point(|&(s, _)| s <= rest);
        intervals[i.saturating_sub(1)].1
    }
    fn heap_bytes(intervals: &Self::Intervals) -> usize {
        2 * size_of::<usize>() + std::mem::size_of_val(&intervals[..])
    }
}

/// An address type the table can hold.
pub trait Key: Copy + Ord + Eq + Hash + Debug + Send + Sync + 'static {
    /// Bits in the address.
    const BITS: u8;
    /// The low bits below the slot.
    type Rest: Rest;
    /// The top 16 bits.
    fn slot(self) -> u16;
    /// The bits below the slot.
    fn rest(self) -> Self::Rest;
    /// The first address of slot `slot`.
    fn slot_start(slot: u16) -> Self;
    /// `self` with every bit after the first `len` cleared.
    fn network(self, len: u8) -> Self;
    /// The last address of the prefix `self/len`.
    fn broadcast(self, len: u8) -> Self;
}

impl Key for u32 {
    const BITS: u8 = 32;
    type Rest = u16;
    fn slot(self) -> u16 {
        (self >> 16) as u16
    }
    fn rest(self) -> u16 {
        self as u16
    }
    fn slot_start(slot: u16) -> Self {
        u32::from(slot) << 16
    }
    fn network(self, len: u8) -> Self {
        if len == 0 {
            0
        } else {
            self & (u32::MAX << (32 - u32::from(len.min(32))))
        }
    }
    fn broadcast(self, len: u8) -> Self {
        self.network(len)
            | !(if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            })
    }
}

impl Key for u128 {
    const BITS: u8 = 128;
    type Rest = u128;
    fn slot(self) -> u16 {
        (self >> 112) as u16
    }
    fn rest(self) -> u128 {
        self & ((1u128 << 112) - 1)
    }
    fn slot_start(slot: u16) -> Self {
        u128::from(slot) << 112
    }
    fn network(self, len: u8) -> Self {
        if len == 0 {
            0
        } else {
            self & (u128::MAX << (128 - u32::from(len.min(128))))
        }
    }
    fn broadcast(self, len: u8) -> Self {
        self.network(len)
            | !(if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            })
    }
}

/// Prefixes at most this long decide whole slots; longer ones live inside one slot.
const SLOT_BITS: u8 = 16;

/// A slot's address range as sorted, non-overlapping intervals, each with its value.
type Sub<K> = <<K as Key>::Rest as Rest>::Intervals;

#[derive(Debug)]
enum Slot<K: Key> {
    /// The slot's default for the whole slot (no longer prefix inside).
    Leaf(u32),
    /// The slot's default (what short prefixes give it) and its intervals.
    Sub(u32, Sub<K>),
}

impl<K: Key> Clone for Slot<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Leaf(v) => Self::Leaf(*v),
            Self::Sub(d, s) => Self::Sub(*d, s.clone()),
        }
    }
}

/// 256 slots, held inline so that a lookup goes from the chunk straight to its slot.
#[derive(Debug)]
struct Chunk<K: Key> {
    slots: [Slot<K>; 256],
}

impl<K: Key> Clone for Chunk<K> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots.clone(),
        }
    }
}

/// An immutable snapshot of the table.
#[derive(Debug)]
pub struct Lpm<K: Key> {
    chunks: Box<[Arc<Chunk<K>>]>,
    len: usize,
}

impl<K: Key> Lpm<K> {
    /// An empty table.
    pub fn empty() -> Self {
        let chunk = Arc::new(Chunk {
            slots: std::array::from_fn(|_| Slot::Leaf(NONE)),
        });
        Self {
            chunks: vec![chunk; 256].into_boxed_slice(),
            len: 0,
        }
    }

    /// The value of the longest prefix containing `key`, if any.
    #[inline]
    pub fn lookup(&self, key: K) -> Option<u32> {
        let slot = key.slot();
        let chunk = &self.chunks[usize::from(slot >> 8)];
        let v = match &chunk.slots[usize::from(slot & 0xff)] {
            Slot::Leaf(v) => *v,
            Slot::Sub(default, sub) => match K::Rest::find(sub, key.rest()) {
                INHERIT => *default,
                v => v,
            },
        };
        (v != NONE).then_some(v)
    }

    /// How many prefixes the table holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes this snapshot owns on the heap (shared parts counted fully).
    pub fn heap_bytes(&self) -> usize {
        let mut total = self.chunks.len() * size_of::<Arc<Chunk<K>>>();
        let mut seen = std::collections::HashSet::new();
        for chunk in self.chunks.iter() {
            if !seen.insert(Arc::as_ptr(chunk) as usize) {
                continue;
            }
            total += size_of::<Chunk<K>>() + 2 * size_of::<usize>();
            for slot in chunk.slots.iter() {
                if let Slot::Sub(_, sub) = slot {
                    total += K::Rest::heap_bytes(sub);
                }
            }
        }
        total
    }
}

/// The writer's side: the prefixes themselves and the latest snapshot.
#[derive(Debug)]
pub struct LpmBuilder<K: Key> {
    /// Prefixes longer than the slot width, ordered by (network, length).
    long: BTreeMap<(K, u8), u32>,
    /// Prefixes of at most the slot width.
    short: HashMap<(K, u8), u32>,
    /// Per slot, the value of the most specific short prefix covering it.
    defaults: Vec<u32>,
    /// Slots whose long prefixes changed (rebuilt on publish).
    dirty_long: BTreeSet<u16>,
    /// Slots whose default may have changed (only that number is rewritten on publish).
    dirty_default: BTreeSet<u16>,
    current: Arc<Lpm<K>>,
}

impl<K: Key> Default for LpmBuilder<K> {
    fn default() -> Self {
        Self {
            long: BTreeMap::new(),
            short: HashMap::new(),
            defaults: vec![NONE; 1 << SLOT_BITS],
            dirty_long: BTreeSet::new(),
            dirty_default: BTreeSet::new(),
            current: Arc::new(Lpm::empty()),
        }
    }
}

impl<K: Key> LpmBuilder<K> {
    /// Sets the value of prefix `net/len` (host bits of `net` are ignored). Values must be below
    /// `u32::MAX - 1`.
    pub fn insert(&mut self, net: K, len: u8, value: u32) {
        debug_assert!(value < INHERIT, "value {value} is reserved");
        let len = len.min(K::BITS);
        let net = net.network(len);
        if len > SLOT_BITS {
            self.long.insert((net, len), value);
        } else {
            self.short.insert((net, len), value);
        }
        self.mark(net, len);
    }

    /// Removes prefix `net/len`; returns whether it was there.
    pub fn remove(&mut self, net: K, len: u8) -> bool {
        let len = len.min(K::BITS);
        let net = net.network(len);
        let removed = if len > SLOT_BITS {
            self.long.remove(&(net, len)).is_some()
        } else {
            self.short.remove(&(net, len)).is_some()
        };
        if removed {
            self.mark(net, len);
        }
        removed
    }

    /// How many prefixes are held.
    pub fn len(&self) -> usize {
        self.long.len() + self.short.len()
    }

    /// Whether no prefix is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn mark(&mut self, net: K, len: u8) {
        if len > SLOT_BITS {
            self.dirty_long.insert(net.slot());
        } else {
            self.refresh_defaults(net, len);
        }
    }

    /// Recomputes the defaults of the slots under the short prefix `net/len`: the most specific
    /// short prefix of at most `len` bits covering them, then every longer short prefix inside,
    /// shortest first.
    fn refresh_defaults(&mut self, net: K, len: u8) {
        let (first, last) = (
            usize::from(net.slot()),
            usize::from(net.broadcast(len).slot()),
        );
        let base = (0..=len)
            .rev()
            .find_map(|l| self.short.get(&(net.network(l), l)).copied())
            .unwrap_or(NONE);
        self.defaults[first..=last].fill(base);
        let mut inner: Vec<(u8, usize, usize, u32)> = self
            .short
            .iter()
            .filter(|((n, l), _)| *l > len && n.network(len) == net)
            .map(|((n, l), v)| {
                let (a, b) = (usize::from(n.slot()), usize::from(n.broadcast(*l).slot()));
                (*l, a, b, *v)
            })
            .collect();
        inner.sort_unstable();
        for (_, a, b, v) in inner {
            self.defaults[a..=b].fill(v);
        }
        self.dirty_default
            .extend(net.slot()..=net.broadcast(len).slot());
    }

    /// Rebuilds the slots changed since the last publish and returns the new snapshot.
    pub fn publish(&mut self) -> Arc<Lpm<K>> {
        if self.dirty_long.is_empty() && self.dirty_default.is_empty() {
            return self.current.clone();
        }
        let mut chunks: Vec<Arc<Chunk<K>>> = self.current.chunks.to_vec();
        let long = std::mem::take(&mut self.dirty_long);
        for &slot in &long {
            let built = self.build_slot(slot);
            let chunk = Arc::make_mut(&mut chunks[usize::from(slot >> 8)]);
            chunk.slots[usize::from(slot & 0xff)] = built;
        }
        for slot in std::mem::take(&mut self.dirty_default) {
            if long.contains(&slot) {
                continue;
            }
            let value = self.defaults[usize::from(slot)];
            let (hi, lo) = (usize::from(slot >> 8), usize::from(slot & 0xff));
            let unchanged = match &chunks[hi].slots[lo] {
                Slot::Leaf(v) | Slot::Sub(v, _) => *v == value,
            };
            if unchanged {
                continue;
            }
            match &mut Arc::make_mut(&mut chunks[hi]).slots[lo] {
                Slot::Leaf(v) | Slot::Sub(v, _) => *v = value,
            }
        }
        self.current = Arc::new(Lpm {
            chunks: chunks.into_boxed_slice(),
            len: self.len(),
        });
        self.current.clone()
    }

    /// The latest published snapshot.
    pub fn current(&self) -> Arc<Lpm<K>> {
        self.current.clone()
    }

    fn build_slot(&self, slot: u16) -> Slot<K> {
        let default = self.defaults[usize::from(slot)];
        let start = K::slot_start(slot);
        let end = start.broadcast(SLOT_BITS);
        let mut prefixes = self.long.range((start, 0)..=(end, u8::MAX)).peekable();
        if prefixes.peek().is_none() {
            return Slot::Leaf(default);
        }
        let mut starts: Vec<K::Rest> = vec![K::Rest::ZERO];
        let mut values: Vec<u32> = vec![INHERIT];
        let emit = |at: K::Rest, value: u32, starts: &mut Vec<K::Rest>, values: &mut Vec<u32>| {
            if starts.last() == Some(&at) {
                let n = values.len();
                values[n - 1] = value;
                // Merge with the interval before if the values now agree.
                if n >= 2 && values[n - 2] == value {
                    starts.pop();
                    values.pop();
                }
            } else if values.last() != Some(&value) {
                starts.push(at);
                values.push(value);
            }
        };
        // Stack of enclosing prefixes: (last address, value).
        let mut stack: Vec<(K::Rest, u32)> = vec![(end.rest(), INHERIT)];
        for (&(net, len), &value) in prefixes {
            let (lo, hi) = (net.rest(), net.broadcast(len).rest());
            while stack.len() > 1 && stack[stack.len() - 1].0 < lo {
                let (closed, _) = stack.pop().unwrap_or((end.rest(), default));
                let parent = stack[stack.len() - 1].1;
                if let Some(next) = closed.succ() {
                    emit(next, parent, &mut starts, &mut values);
                }
            }
            emit(lo, value, &mut starts, &mut values);
            stack.push((hi, value));
        }
        while stack.len() > 1 {
            let (closed, _) = stack.pop().unwrap_or((end.rest(), default));
            let parent = stack[stack.len() - 1].1;
            if let Some(next) = closed.succ()
                && next <= end.rest()
            {
                emit(next, parent, &mut starts, &mut values);
            }
        }
        // A leaf always means "the slot's default", so that a default change can rewrite it; a
        // slot that long prefixes cover entirely stays a one-interval Sub.
        if starts.len() == 1 && values[0] == INHERIT {
            return Slot::Leaf(default);
        }
        Slot::Sub(default, K::Rest::intervals(&starts, &values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious answer: scan every prefix, keep the longest that contains the key.
    fn brute<K: Key>(prefixes: &HashMap<(K, u8), u32>, key: K) -> Option<u32> {
        prefixes
            .iter()
            .filter(|((net, len), _)| key.network(*len) == *net)
            .max_by_key(|((_, len), _)| *len)
            .map(|(_, v)| *v)
    }

    #[test]
    fn nested_prefixes_resolve_to_the_most_specific() {
        let mut b = LpmBuilder::<u32>::default();
        let ip = |s: &str| u32::from(s.parse::<std::net::Ipv4Addr>().unwrap());
        b.insert(ip("10.0.0.0"), 8, 1);
        b.insert(ip("10.1.0.0"), 16, 2);
        b.insert(ip("10.1.2.0"), 24, 3);
        b.insert(ip("10.1.2.3"), 32, 4);
        let t = b.publish();
        assert_eq!(t.lookup(ip("10.9.9.9")), Some(1));
        assert_eq!(t.lookup(ip("10.1.9.9")), Some(2));
        assert_eq!(t.lookup(ip("10.1.2.9")), Some(3));
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(4));
        assert_eq!(t.lookup(ip("11.0.0.0")), None);
        b.remove(ip("10.1.2.0"), 24);
        let t2 = b.publish();
        assert_eq!(t2.lookup(ip("10.1.2.9")), Some(2));
        assert_eq!(t2.lookup(ip("10.1.2.3")), Some(4));
        // The old snapshot is untouched.
        assert_eq!(t.lookup(ip("10.1.2.9")), Some(3));
        b.insert(ip("0.0.0.0"), 0, 9);
        let t3 = b.publish();
        assert_eq!(t3.lookup(ip("192.168.1.1")), Some(9));
        assert_eq!(t3.lookup(ip("10.1.2.3")), Some(4));
        assert_eq!(t3.len(), 4);
    }

    #[test]
    fn a_slot_covered_by_long_prefixes_keeps_them_when_a_short_prefix_changes() {
        // Found by the property test: two /17s cover a whole /16 slot; adding a /0 afterwards
        // must only change the slot's default, not the /17s' answer.
        let mut b = LpmBuilder::<u32>::default();
        b.insert(0xfffe_0000, 17, 3);
        b.insert(0xfffe_8000, 17, 3);
        b.publish();
        b.insert(0, 0, 1);
        let t = b.publish();
        assert_eq!(t.lookup(0xfffe_0000), Some(3));
        assert_eq!(t.lookup(0xffff_0000), Some(1));
        b.remove(0, 0);
        let t = b.publish();
        assert_eq!(t.lookup(0xfffe_9000), Some(3));
        assert_eq!(t.lookup(0xffff_0000), None);
    }

    #[test]
    fn edges_of_the_address_space() {
        let mut b = LpmBuilder::<u32>::default();
        b.insert(u32::MAX, 32, 1);
        b.insert(0, 32, 2);
        b.insert(0xFFFF_FF00, 24, 3);
        let t = b.publish();
        assert_eq!(t.lookup(u32::MAX), Some(1));
        assert_eq!(t.lookup(u32::MAX - 1), Some(3));
        assert_eq!(t.lookup(0), Some(2));
        assert_eq!(t.lookup(1), None);
    }

    #[test]
    fn a_crowded_slot_is_bisected_and_large_values_survive_packing() {
        // More interval starts than SCAN in one slot: the bisection path, with values above
        // 16 bits (each is stored as two halves).
        let mut b = LpmBuilder::<u32>::default();
        let mut model = HashMap::new();
        let base = 0x0A0B_0000u32;
        for i in 0..150u32 {
            let (net, len) = (base + i * 397, 32);
            let v = 0x0003_0000 + i * 7919;
            b.insert(net, len, v);
            model.insert((net, len), v);
        }
        for i in 0..20u32 {
            let (net, len) = (base + (i << 11), 24);
            b.insert(net, len, 70_000 + i);
            model.insert((net, len), 70_000 + i);
        }
        b.insert(base, 16, 1);
        model.insert((base, 16), 1);
        let t = b.publish();
        for key in (base..=base + 0xFFFF)
            .step_by(13)
            .chain(model.keys().map(|k| k.0))
        {
            assert_eq!(t.lookup(key), brute(&model, key), "{key:#x}");
        }
        assert_eq!(t.lookup(base + 0x1_0000), None);
    }

    #[test]
    fn ipv6_keys_work_too() {
        let mut b = LpmBuilder::<u128>::default();
        let ip = |s: &str| u128::from(s.parse::<std::net::Ipv6Addr>().unwrap());
        b.insert(ip("2001:db8::"), 32, 1);
        b.insert(ip("2001:db8:1::"), 48, 2);
        b.insert(ip("2001:db8:1::5"), 128, 3);
        let t = b.publish();
        assert_eq!(t.lookup(ip("2001:db8:ffff::1")), Some(1));
        assert_eq!(t.lookup(ip("2001:db8:1::4")), Some(2));
        assert_eq!(t.lookup(ip("2001:db8:1::5")), Some(3));
        assert_eq!(t.lookup(ip("2001:db9::")), None);
    }

    fn prefix_v4() -> impl Strategy<Value = (u32, u8, u32)> {
        // Few distinct top bits so prefixes nest and collide often.
        (
            prop_oneof![
                Just(0u32),
                Just(0x0A00_0000),
                Just(0x0A01_0000),
                Just(0xFFFF_0000)
            ],
            any::<u32>(),
            // Short prefixes dirty many slots (slow in debug builds), so they are rarer.
            prop_oneof![1 => 0u8..=16, 6 => 17u8..=32],
            0u32..8,
        )
            .prop_map(|(base, noise, len, v)| {
                (base ^ (noise & 0x00FF_FFFF >> (noise % 24)), len, v)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn matches_brute_force_v4(
            ops in proptest::collection::vec((any::<bool>(), prefix_v4()), 1..60),
            keys in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let mut b = LpmBuilder::<u32>::default();
            let mut model: HashMap<(u32, u8), u32> = HashMap::new();
            for (i, (remove, (net, len, v))) in ops.iter().enumerate() {
                let net = net.network(*len);
                if *remove && i % 3 == 0 {
                    b.remove(net, *len);
                    model.remove(&(net, *len));
                } else {
                    b.insert(net, *len, *v);
                    model.insert((net, *len), *v);
                }
                if i % 7 == 0 {
                    let t = b.publish();
                    for &(net, len) in model.keys() {
                        for k in [net, net.broadcast(len), net.broadcast(len).wrapping_add(1), net.wrapping_sub(1)] {
                            prop_assert_eq!(t.lookup(k), brute(&model, k));
                        }
                    }
                }
            }
            let t = b.publish();
            prop_assert_eq!(t.len(), model.len());
            for k in keys.iter().copied().chain(model.keys().map(|(n, _)| *n)) {
                prop_assert_eq!(t.lookup(k), brute(&model, k), "key {:#x}", k);
            }
        }

        #[test]
        fn matches_brute_force_v6(
            prefixes in proptest::collection::vec((any::<u64>(), 0u8..=128, 0u32..5), 1..40),
            keys in proptest::collection::vec(any::<u64>(), 1..40),
        ) {
            let to_key = |x: u64| (0x2001_0db8u128 << 96) | (u128::from(x) << 32) | u128::from(x & 0xff);
            let mut b = LpmBuilder::<u128>::default();
            let mut model = HashMap::new();
            for (x, len, v) in prefixes {
                let net = to_key(x).network(len);
                b.insert(net, len, v);
                model.insert((net, len), v);
            }
            let t = b.publish();
            for k in keys.into_iter().map(to_key).chain(model.keys().map(|(n, _)| *n)) {
                prop_assert_eq!(t.lookup(k), brute(&model, k));
            }
        }
    }
}
