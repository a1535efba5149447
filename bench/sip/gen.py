#!/usr/bin/env python3
"""Table generator for bench/sip.sh (standard library only).

The same N networks (deterministic for a seed) go to sipmap's SQLite database and to Kamailio's
permissions address file, so both servers hold the same table.

Subcommands:
  sipmap-db DB N SEED META.json  bulk-insert N IP records + N mappings (plus 127.0.0.1/32) into a
                                 database that sipmap already created and migrated (its account row
                                 is reused); writes what it made to META.json
  kam-file OUT N SEED            the same N networks (+ 127.0.0.1/32) as a Kamailio address file
  kam-peers OUT                  the 101,003-row table of shared/research/peers.md §2.8
  kam-small OUT                  the 3-row table of peers.md §2.8

Networks: 40 % /32, 30 % /24, 30 % spread over /16../31 (uniformly), every (network, length)
distinct, first octet in 1..223 and never 127, so no generated network covers a loopback address.
127.0.0.1/32 is mapped to the first domain (SIPp's source for the 200 path); 127.0.0.2 and
everything else in 127.0.0.0/8 stays unmapped (the 404/403 path and the propagation trials).
The first domain also maps, for calls, an IP access control list holding 127.0.0.0/8, so that the
SIP edge lets loopback requests to it in (a domain with nothing mapped for calls gets 403).
"""
import json
import random
import sqlite3
import sys
import time

DOMAINS = 8
LOOPBACK_MAPPED = ((127 << 24) | 1, 32)  # 127.0.0.1/32


def mask(plen):
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF


def dotted(n):
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def networks(n, seed):
    """N distinct (network, prefix_length) pairs, shuffled, deterministic for SEED."""
    rng = random.Random(seed)
    n32 = n * 4 // 10
    n24 = n * 3 // 10
    nother = n - n32 - n24
    seen = set()
    out = []
    tries = 0
    limit = 50 * n + 1000  # bounded: the spaces are far larger than the counts asked for

    def add(plen):
        nonlocal tries
        while tries < limit:
            tries += 1
            a = rng.getrandbits(32)
            first = a >> 24
            if first == 0 or first == 127 or first >= 224:
                continue
            key = ((a & mask(plen)) << 6) | plen
            if key in seen:
                continue
            seen.add(key)
            out.append(key)
            return
        raise SystemExit("gen: could not draw enough distinct networks")

    for _ in range(n32):
        add(32)
    for _ in range(n24):
        add(24)
    for _ in range(nother):
        add(rng.randint(16, 31))
    rng.shuffle(out)
    return [(k >> 6, k & 63) for k in out], rng


def sid(prefix, rng):
    return prefix + "%032x" % rng.getrandbits(128)


def domain_sids(seed):
    rng = random.Random("domains-%s" % seed)
    return [sid("SD", rng) for _ in range(DOMAINS)]


def cmd_sipmap_db(db, n, seed, meta_path):
    n = int(n)
    t0 = time.monotonic()
    nets, rng = networks(n, seed)
    sds = domain_sids(seed)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    accounts = conn.execute("SELECT sid FROM accounts").fetchall()
    if len(accounts) != 1:
        raise SystemExit("gen: expected exactly one account (the one sipmap made), found %d" % len(accounts))
    account = accounts[0][0]
    if conn.execute("SELECT count(*) FROM source_ip_mappings").fetchone()[0]:
        raise SystemExit("gen: %s already has mappings" % db)
    now = int(time.time())
    conn.execute("BEGIN")
    for i, sd in enumerate(sds):
        name = "bench-%d.sip.twilio.com" % i
        conn.execute(
            "INSERT INTO sip_domains (sid, account_sid, domain_name, domain_key, domain_rkey, friendly_name, voice_url, "
            "voice_method, voice_fallback_url, voice_fallback_method, voice_status_callback_url, "
            "voice_status_callback_method, sip_registration, emergency_calling_enabled, secure, "
            "byoc_trunk_sid, emergency_caller_sid, date_created, date_updated) "
            "VALUES (?, ?, ?, ?, ?, NULL, NULL, 'POST', NULL, 'POST', NULL, 'POST', 0, 0, 0, NULL, NULL, ?, ?)",
            (sd, account, name, name, name[::-1], now, now),
        )
    acl_rng = random.Random("acl-%s" % seed)
    acl, address = sid("AL", acl_rng), sid("IP", acl_rng)
    conn.execute(
        "INSERT INTO sip_ip_access_control_lists (sid, account_sid, friendly_name, date_created, "
        "date_updated) VALUES (?, ?, 'loopback', ?, ?)",
        (acl, account, now, now),
    )
    conn.execute(
        "INSERT INTO sip_ip_addresses (sid, account_sid, ip_access_control_list_sid, friendly_name, "
        "ip_address, cidr_prefix_length, network, date_created, date_updated) "
        "VALUES (?, ?, ?, 'loopback', '127.0.0.0', 8, ?, ?, ?)",
        (address, account, acl, 127 << 24, now, now),
    )
    conn.execute(
        "INSERT INTO sip_domain_acl_mappings (sip_domain_sid, ip_access_control_list_sid, account_sid, "
        "date_created, date_updated) VALUES (?, ?, ?, ?, ?)",
        (sds[0], acl, account, now, now),
    )
    rows = nets + [LOOPBACK_MAPPED]
    recs = []
    maps = []
    for i, (net, plen) in enumerate(rows):
        il = sid("IL", rng)
        ib = sid("IB", rng)
        domain = sds[0] if (net, plen) == LOOPBACK_MAPPED else sds[i % DOMAINS]
        recs.append((il, account, dotted(net), plen, now, now))
        maps.append((ib, account, il, domain, net, plen, now, now))
    recs.sort()
    maps.sort()
    conn.executemany(
        "INSERT INTO ip_records (sid, account_sid, friendly_name, ip_address, cidr_prefix_length, "
        "date_created, date_updated) VALUES (?, ?, NULL, ?, ?, ?, ?)",
        recs,
    )
    conn.executemany(
        "INSERT INTO source_ip_mappings (sid, account_sid, ip_record_sid, sip_domain_sid, network, "
        "prefix_length, date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        maps,
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {}
    for _, plen in rows:
        counts[plen] = counts.get(plen, 0) + 1
    stored = conn.execute("SELECT count(*) FROM source_ip_mappings").fetchone()[0]
    conn.close()
    meta = {
        "account": account,
        "domains": sds,
        "loopback_domain": sds[0],
        "networks_generated": n,
        "mappings_stored": stored,
        "by_prefix_length": {str(k): counts[k] for k in sorted(counts)},
        "seed": seed,
        "load_s": round(time.monotonic() - t0, 1),
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: meta[k] for k in ("mappings_stored", "load_s")}))


def cmd_kam_file(out, n, seed):
    nets, _ = networks(int(n), seed)
    sds = domain_sids(seed)
    with open(out, "w") as f:
        f.write("# (groupid) (address) (netmask) (port) (tag)\n")
        for i, (net, plen) in enumerate(nets):
            f.write("1 %s %d 0 %s\n" % (dotted(net), plen, sds[i % DOMAINS]))
        # Last in the file: Kamailio inserts at the head of its hash chains, so the row SIPp's 200
        # path hits is the first one its chain walk compares (Kamailio's best case).
        f.write("1 127.0.0.1 32 0 %s\n" % sds[0])


def cmd_kam_peers(out):
    # Verbatim from peers.md §2.8 (100,000 /32 + 1,000 /24 in group 1, plus the two loopback rows).
    lines = ["1 127.0.0.1 32 0 SDaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "2 127.0.0.2 32 0 SDcccccccccccccccccccccccccccccccc"]
    n = 0
    for a in range(256):
        for b in range(256):
            for c in range(1, 255):
                if n >= 100000:
                    break
                lines.append(f"1 10.{a}.{b}.{c} 32 0 SD{n:032x}")
                n += 1
            if n >= 100000:
                break
        if n >= 100000:
            break
    for i in range(1000):
        lines.append(f"1 172.{16 + i // 256}.{i % 256}.0 24 0 SDs{i:031x}")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def cmd_kam_small(out):
    with open(out, "w") as f:
        f.write(
            "# (groupid) (address) (netmask) (port) (tag)\n"
            "1 127.0.0.1 32 0 SDaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
            "1 10.20.0.0 16 0 SDbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
            "2 127.0.0.2 32 0 SDcccccccccccccccccccccccccccccccc\n"
        )


def main():
    cmds = {"sipmap-db": cmd_sipmap_db, "kam-file": cmd_kam_file, "kam-peers": cmd_kam_peers, "kam-small": cmd_kam_small}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        raise SystemExit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
