//! Longest-prefix-match benchmark: sipmap's table against the `prefix-trie` crate on the same
//! 1,000,000-network table with mixed prefix lengths, on one core.
//!
//! Run: `cargo bench --bench lpm` (options: `LPM_NETWORKS`, `LPM_QUERIES`, `LPM_RUNS`).
//! Prints lookups per second (median of the runs) for both, the build time, and the bytes per
//! network the table holds, counted by a counting allocator.
#![allow(unsafe_code)] // only for the counting allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ipnet::Ipv4Net;
use sipmap::recognition::lpm::LpmBuilder;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A small deterministic generator (xorshift64*), so every run uses the same table.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Prefix lengths: 40 % /32 hosts, 30 % /24, 15 % /25–/31, 15 % /16–/23.
fn prefix_len(rng: &mut Rng) -> u8 {
    match rng.next() % 100 {
        0..40 => 32,
        40..70 => 24,
        70..85 => 25 + (rng.next() % 7) as u8,
        _ => 16 + (rng.next() % 8) as u8,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let n = env("LPM_NETWORKS", 1_000_000);
    let q = env("LPM_QUERIES", 10_000_000);
    let runs = env("LPM_RUNS", 5);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    let mut networks: Vec<(u32, u8)> = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::with_capacity(n);
    while networks.len() < n {
        let len = prefix_len(&mut rng);
        let addr = (rng.next() as u32) & (u32::MAX << (32 - u32::from(len)));
        if seen.insert((addr, len)) {
            networks.push((addr, len));
        }
    }
    drop(seen);
    // Half the queries fall inside a table network, half anywhere.
    let queries: Vec<u32> = (0..q)
        .map(|i| {
            if i % 2 == 0 {
                let (addr, len) = networks[(rng.next() % n as u64) as usize];
                let host = if len == 32 {
                    0
                } else {
                    (rng.next() as u32) >> len
                };
                addr | host
            } else {
                rng.next() as u32
            }
        })
        .collect();

    // sipmap's table.
    let before = LIVE.load(Ordering::Relaxed);
    let start = Instant::now();
    let mut builder = LpmBuilder::<u32>::default();
    for (i, &(addr, len)) in networks.iter().enumerate() {
        builder.insert(addr, len, (i % 50_000) as u32);
    }
    let table = builder.publish();
    let build = start.elapsed();
    let ours_bytes = LIVE.load(Ordering::Relaxed) - before;

    // prefix-trie's map.
    let before = LIVE.load(Ordering::Relaxed);
    let mut trie = prefix_trie::PrefixMap::<Ipv4Net, u32>::new();
    for (i, &(addr, len)) in networks.iter().enumerate() {
        let net = Ipv4Net::new(Ipv4Addr::from(addr), len).expect("valid prefix");
        trie.insert(net, (i % 50_000) as u32);
    }
    let trie_bytes = LIVE.load(Ordering::Relaxed) - before;

    // Both must agree on every answer before any timing counts.
    let mut mismatches = 0usize;
    for &a in queries.iter().take(1_000_000) {
        let host = Ipv4Net::new(Ipv4Addr::from(a), 32).expect("host");
        let theirs = trie.get_lpm(&host).map(|(_, v)| *v);
        if table.lookup(a) != theirs {
            mismatches += 1;
        }
    }
    assert_eq!(mismatches, 0, "sipmap and prefix-trie disagree");

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut hits = 0u64;
        for &a in &queries {
            if black_box(table.lookup(black_box(a))).is_some() {
                hits += 1;
            }
        }
        black_box(hits);
        ours.push(q as f64 / t.elapsed().as_secs_f64());

        let t = Instant::now();
        let mut hits = 0u64;
        for &a in &queries {
            let host = Ipv4Net::new(Ipv4Addr::from(a), 32).expect("host");
            if black_box(trie.get_lpm(black_box(&host))).is_some() {
                hits += 1;
            }
        }
        black_box(hits);
        theirs.push(q as f64 / t.elapsed().as_secs_f64());
    }
    let (ours_m, theirs_m) = (median(ours) / 1e6, median(theirs) / 1e6);
    println!("| table | networks | lookups/s (median of {runs}) | bytes per network | build |");
    println!("|---|---|---|---|---|");
    println!(
        "| sipmap `LpmBuilder`/`Lpm` | {n} | {ours_m:.1} M | {:.1} | {:.2} s |",
        ours_bytes as f64 / n as f64,
        build.as_secs_f64()
    );
    println!(
        "| prefix-trie 0.10 `PrefixMap` | {n} | {theirs_m:.1} M | {:.1} | — |",
        trie_bytes as f64 / n as f64
    );
    println!("ratio sipmap / prefix-trie: {:.2}x", ours_m / theirs_m);

    // Publishing one change of a very wide network (it touches half of all slots) on the full table.
    let mut wide = Vec::new();
    for i in 0..6 {
        let t = Instant::now();
        if i % 2 == 0 {
            builder.insert(0x8000_0000, 1, 7);
        } else {
            builder.remove(0x8000_0000, 1);
        }
        black_box(builder.publish());
        wide.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "publish after adding or removing 128.0.0.0/1 on the full table: median {:.2} ms, max {:.2} ms",
        median(wide.clone()),
        wide.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "snapshot alone: {:.1} bytes per network",
        table.heap_bytes() as f64 / n as f64
    );
}
