#!/usr/bin/env python3
"""Table generator for bench/sip_route.sh (standard library only).

  routes DB ACCOUNT N UAS_PORT META.json
      N SIP domains of ACCOUNT, each naming its own BYOC trunk, each trunk its own connection
      policy, each policy 4 targets of priority 10 and weight 10 (4N targets in all). Domain 0 is
      the loaded one: 127.0.0.1/32 is mapped to it (SIPp's source) and an IP access control list
      holding 127.0.0.1/32 is mapped to it for calls; its 4 targets are 4 different URIs of the one
      SIPp UAS at 127.0.0.1:UAS_PORT (sip:127.0.0.1:P, sip:a@127.0.0.1:P, ...), so the edge weighs
      4 targets for every call and every call reaches a UAS that answers. The other domains'
      targets are distinct loopback addresses from 127.2.0.0 on (port 5060) where nothing listens:
      the probes the edge sends there go unanswered, so those destinations are down, as some are
      on any real edge. The DB must have been created and migrated by sipmap (which also made
      ACCOUNT); the policy limit per account is an API rule, not a storage one.
"""
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402
from gen_auth import cmd_loopback_acl, connect, insert_domain  # noqa: E402


def far_target(k):
    """The k-th loopback address from 127.2.0.0 on."""
    a = (127 << 24) + (2 << 16) + k
    return gen.dotted(a)


def cmd_routes(db, account, n, uas_port, meta_path):
    n, t0 = int(n), time.monotonic()
    rng = random.Random("routes-%d" % n)
    now = int(time.time())
    conn = connect(db)
    if not conn.execute("SELECT 1 FROM accounts WHERE sid = ?", (account,)).fetchone():
        raise SystemExit("gen_route: account %s is not in %s" % (account, db))
    conn.execute("BEGIN")
    policies, targets, trunks, domains = [], [], [], []
    for i in range(n):
        ny, by, sd = gen.sid("NY", rng), gen.sid("BY", rng), gen.sid("SD", rng)
        policies.append((ny, account, "route-%d" % i, now, now))
        for j in range(4):
            if i == 0:
                uri = "sip:%s127.0.0.1:%s" % (("", "a@", "b@", "c@")[j], uas_port)
            else:
                uri = "sip:%s:5060" % far_target(4 * i + j)
            targets.append((gen.sid("NE", rng), account, ny, None, uri, 10, 10, 1, now, now))
        trunks.append((by, account, ny, now, now))
        domains.append((sd, by))
    policies.sort()
    targets.sort()
    conn.executemany(
        "INSERT INTO connection_policies (sid, account_sid, friendly_name, date_created, date_updated) "
        "VALUES (?, ?, ?, ?, ?)", policies)
    conn.executemany(
        "INSERT INTO connection_policy_targets (sid, account_sid, connection_policy_sid, friendly_name, "
        "target, priority, weight, enabled, date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        targets)
    conn.executemany(
        "INSERT INTO byoc_trunks (sid, account_sid, friendly_name, voice_url, voice_method, "
        "voice_fallback_url, voice_fallback_method, status_callback_url, status_callback_method, "
        "cnam_lookup_enabled, connection_policy_sid, from_domain_sid, date_created, date_updated) "
        "VALUES (?, ?, NULL, NULL, 'POST', NULL, 'POST', NULL, 'POST', 0, ?, NULL, ?, ?)", sorted(trunks))
    for i, (sd, by) in enumerate(domains):
        insert_domain(conn, sd, account, "route-%d.sip.twilio.com" % i, now)
        conn.execute("UPDATE sip_domains SET byoc_trunk_sid = ? WHERE sid = ?", (by, sd))
    loaded = domains[0][0]
    il, ib = gen.sid("IL", rng), gen.sid("IB", rng)
    conn.execute(
        "INSERT INTO ip_records (sid, account_sid, friendly_name, ip_address, cidr_prefix_length, "
        "date_created, date_updated) VALUES (?, ?, NULL, '127.0.0.1', 32, ?, ?)", (il, account, now, now))
    conn.execute(
        "INSERT INTO source_ip_mappings (sid, account_sid, ip_record_sid, sip_domain_sid, network, "
        "prefix_length, date_created, date_updated) VALUES (?, ?, ?, ?, ?, 32, ?, ?)",
        (ib, account, il, loaded, (127 << 24) | 1, now, now))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {t: conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
              for t in ("sip_domains", "byoc_trunks", "connection_policies", "connection_policy_targets")}
    conn.close()
    cmd_loopback_acl(db, account, loaded)
    meta = {"domains": n, "targets_per_policy": 4, "loaded_domain": loaded, "stored": counts,
            "load_s": round(time.monotonic() - t0, 1)}
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


def main():
    if len(sys.argv) < 2 or sys.argv[1] != "routes":
        raise SystemExit(__doc__)
    cmd_routes(*sys.argv[2:])


if __name__ == "__main__":
    main()
