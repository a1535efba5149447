#!/usr/bin/env python3
"""Table generator for bench/sip_auth.sh (standard library only).

Subcommands (every DB must already have been created and migrated by the sipmap binary that will
serve it, which also made the account ACCOUNT):
  mappings DB ACCOUNT N SEED META.json
      bulk-insert the same N networks as bench/sip/gen.py (same seed -> same networks, same 8
      domain SIDs and names), as IP records and source IP mappings of ACCOUNT, plus 127.0.0.1/32
      mapped to the first domain (SIPp's source). Works on the schema from before the security
      family (a77d006) as on today's; writes what it made to META.json
  loopback-acl DB ACCOUNT DOMAIN_SID
      an IP access control list holding 127.0.0.1/32, mapped for calls to DOMAIN_SID
  acls DB ACCOUNTS LISTS ADDRESSES DOMAINS SEED META.json
      for each account SID in ACCOUNTS (comma-separated): DOMAINS new SIP domains and LISTS IP
      access control lists of ADDRESSES networks each, every list mapped for calls to one of the
      account's new domains (round robin). Networks are drawn like gen.py's (40 % /32, 30 % /24,
      30 % /16../31, first octet 1..223 and never 127, so none covers a loopback address),
      distinct within a list; lists of different accounts may overlap (they may on Twilio)
  kam-dbtext DIR USER PASSWORD REALM
      a Kamailio db_text directory with the `version` and `subscriber` tables: one subscriber
      USER with PASSWORD, HA1 = MD5(USER:REALM:PASSWORD) (auth_db's default: it reads `ha1`)
  kam-address OUT
      a small Kamailio permissions address file that does NOT hold 127.0.0.1 (so
      allow_source_address misses and the digest path runs, as in sipmap's digest domain)
"""
import hashlib
import json
import os
import random
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402  (bench/sip/gen.py: the same networks and domain SIDs as bench/sip.sh)


def connect(db):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    return conn


def insert_domain(conn, sd, account, name, now):
    conn.execute(
        "INSERT INTO sip_domains (sid, account_sid, domain_name, domain_key, domain_rkey, friendly_name, voice_url, "
        "voice_method, voice_fallback_url, voice_fallback_method, voice_status_callback_url, "
        "voice_status_callback_method, sip_registration, emergency_calling_enabled, secure, "
        "byoc_trunk_sid, emergency_caller_sid, date_created, date_updated) "
        "VALUES (?, ?, ?, ?, ?, NULL, NULL, 'POST', NULL, 'POST', NULL, 'POST', 0, 0, 0, NULL, NULL, ?, ?)",
        (sd, account, name, name, name[::-1], now, now),
    )


def cmd_mappings(db, account, n, seed, meta_path):
    n = int(n)
    t0 = time.monotonic()
    nets, rng = gen.networks(n, seed)
    sds = gen.domain_sids(seed)
    conn = connect(db)
    if not conn.execute("SELECT 1 FROM accounts WHERE sid = ?", (account,)).fetchone():
        raise SystemExit("gen_auth: account %s is not in %s" % (account, db))
    if conn.execute("SELECT count(*) FROM source_ip_mappings").fetchone()[0]:
        raise SystemExit("gen_auth: %s already has mappings" % db)
    now = int(time.time())
    conn.execute("BEGIN")
    for i, sd in enumerate(sds):
        insert_domain(conn, sd, account, "bench-%d.sip.twilio.com" % i, now)
    rows = nets + [gen.LOOPBACK_MAPPED]
    recs, maps = [], []
    for i, (net, plen) in enumerate(rows):
        il = gen.sid("IL", rng)
        ib = gen.sid("IB", rng)
        domain = sds[0] if (net, plen) == gen.LOOPBACK_MAPPED else sds[i % gen.DOMAINS]
        recs.append((il, account, gen.dotted(net), plen, now, now))
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
    stored = conn.execute("SELECT count(*) FROM source_ip_mappings").fetchone()[0]
    conn.close()
    meta = {"account": account, "domains": sds, "loopback_domain": sds[0], "networks_generated": n,
            "mappings_stored": stored, "seed": seed, "load_s": round(time.monotonic() - t0, 1)}
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({"mappings_stored": stored, "load_s": meta["load_s"]}))


def insert_acl(conn, acl, account, name, now):
    conn.execute(
        "INSERT INTO sip_ip_access_control_lists (sid, account_sid, friendly_name, date_created, "
        "date_updated) VALUES (?, ?, ?, ?, ?)",
        (acl, account, name, now, now),
    )


def map_acl(conn, domain, acl, account, now):
    conn.execute(
        "INSERT INTO sip_domain_acl_mappings (sip_domain_sid, ip_access_control_list_sid, account_sid, "
        "date_created, date_updated) VALUES (?, ?, ?, ?, ?)",
        (domain, acl, account, now, now),
    )


ADDRESS_INSERT = (
    "INSERT INTO sip_ip_addresses (sid, account_sid, ip_access_control_list_sid, friendly_name, "
    "ip_address, cidr_prefix_length, network, date_created, date_updated) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def cmd_loopback_acl(db, account, domain):
    rng = random.Random("loopback-acl")
    now = int(time.time())
    acl, address = gen.sid("AL", rng), gen.sid("IP", rng)
    conn = connect(db)
    conn.execute("BEGIN")
    insert_acl(conn, acl, account, "sipp-source", now)
    conn.execute(ADDRESS_INSERT, (address, account, acl, "sipp", "127.0.0.1", 32, (127 << 24) | 1, now, now))
    map_acl(conn, domain, acl, account, now)
    conn.execute("COMMIT")
    conn.close()
    print(json.dumps({"acl": acl, "domain": domain}))


def cmd_acls(db, accounts, lists, addresses, domains, seed, meta_path):
    accounts = [a for a in accounts.split(",") if a]
    lists, addresses, domains = int(lists), int(addresses), int(domains)
    t0 = time.monotonic()
    rng = random.Random("acls-%s" % seed)
    now = int(time.time())
    conn = connect(db)
    conn.execute("BEGIN")
    total = 0
    by_plen = {}
    for ai, account in enumerate(accounts):
        if not conn.execute("SELECT 1 FROM accounts WHERE sid = ?", (account,)).fetchone():
            raise SystemExit("gen_auth: account %s is not in %s" % (account, db))
        sds = [gen.sid("SD", rng) for _ in range(domains)]
        for di, sd in enumerate(sds):
            insert_domain(conn, sd, account, "acl-%d-%d.sip.twilio.com" % (ai, di), now)
        acl_rows, addr_rows, map_rows = [], [], []
        for li in range(lists):
            acl = gen.sid("AL", rng)
            acl_rows.append((acl, account, "bench-%d-%d" % (ai, li), now, now))
            seen = set()
            while len(seen) < addresses:
                r = rng.random()
                plen = 32 if r < 0.4 else 24 if r < 0.7 else rng.randint(16, 31)
                a = rng.getrandbits(32)
                first = a >> 24
                if first == 0 or first == 127 or first >= 224:
                    continue
                net = a & gen.mask(plen)
                if (net, plen) in seen:
                    continue
                seen.add((net, plen))
                by_plen[plen] = by_plen.get(plen, 0) + 1
                addr_rows.append((gen.sid("IP", rng), account, acl, "n%d" % len(seen), gen.dotted(net), plen,
                                  net, now, now))
            map_rows.append((sds[li % domains], acl, account, now, now))
        acl_rows.sort()
        addr_rows.sort()
        conn.executemany(
            "INSERT INTO sip_ip_access_control_lists (sid, account_sid, friendly_name, date_created, "
            "date_updated) VALUES (?, ?, ?, ?, ?)", acl_rows)
        conn.executemany(ADDRESS_INSERT, addr_rows)
        conn.executemany(
            "INSERT INTO sip_domain_acl_mappings (sip_domain_sid, ip_access_control_list_sid, account_sid, "
            "date_created, date_updated) VALUES (?, ?, ?, ?, ?)", map_rows)
        total += len(addr_rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = conn.execute("SELECT count(*) FROM sip_ip_addresses").fetchone()[0]
    nlists = conn.execute("SELECT count(*) FROM sip_ip_access_control_lists").fetchone()[0]
    nmaps = conn.execute("SELECT count(*) FROM sip_domain_acl_mappings").fetchone()[0]
    conn.close()
    meta = {"accounts": len(accounts), "lists_per_account": lists, "addresses_per_list": addresses,
            "domains_per_account": domains, "acl_networks_generated": total,
            "sip_ip_addresses_stored": stored, "acls_stored": nlists, "acl_mappings_stored": nmaps,
            "by_prefix_length": {str(k): by_plen[k] for k in sorted(by_plen)},
            "load_s": round(time.monotonic() - t0, 1)}
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: meta[k] for k in ("sip_ip_addresses_stored", "acls_stored", "load_s")}))


def cmd_kam_dbtext(d, user, password, realm):
    os.makedirs(d, exist_ok=True)
    ha1 = hashlib.md5(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()
    ha1b = hashlib.md5(("%s@%s:%s:%s" % (user, realm, realm, password)).encode()).hexdigest()
    with open(os.path.join(d, "version"), "w") as f:
        f.write("id(int,auto) table_name(string) table_version(int) \n0:version:1\n0:subscriber:7\n")
    with open(os.path.join(d, "subscriber"), "w") as f:
        f.write("id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) \n")
        f.write("1:%s:%s:%s:%s:%s\n" % (user, realm, password, ha1, ha1b))


def cmd_kam_address(out):
    with open(out, "w") as f:
        f.write(
            "# (groupid) (address) (netmask) (port) (tag)\n"
            "1 10.20.0.0 16 0 SDbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
            "1 192.0.2.0 24 0 SDbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
        )


def main():
    cmds = {"mappings": cmd_mappings, "loopback-acl": cmd_loopback_acl, "acls": cmd_acls,
            "kam-dbtext": cmd_kam_dbtext, "kam-address": cmd_kam_address}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        raise SystemExit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
