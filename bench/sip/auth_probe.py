#!/usr/bin/env python3
"""API set-up and memory probe for bench/sip_auth.sh (standard library only; loopback only; every
loop bounded).

Subcommands:
  subaccounts BASE AUTH COUNT OUT.json
      create COUNT subaccounts of the caller (POST /2010-04-01/Accounts.json); their SIDs to OUT
  digest-domain BASE AUTH DOMAIN_NAME USERNAME PASSWORD OUT.json
      through the API, as a user would: a SIP domain DOMAIN_NAME; an IP access control list
      holding 10.20.0.0/16 and 192.0.2.0/24 (not the SIPp source), mapped for calls; a credential
      list with USERNAME/PASSWORD, mapped for calls; 127.0.0.1/32 mapped to the domain (source-IP
      mapping: SIPp's digest uri is the server's address, so the Request-URI is too). Checks that the domain's auth_type is then
      IP_ACL,CREDENTIAL_LIST; writes the SIDs to OUT
  memory RUNS HOST:PORT SRC SETTLE_S OUT.json -- CMD...
      RUNS times: spawn CMD, send OPTIONS from SRC every ~2 ms until one is answered 200 (at most
      300 s); then wait SETTLE_S s and read VmHWM and VmRSS from /proc/PID/status; then stop it
      (SIGTERM to its process group, SIGKILL after 10 s). Writes every run and the medians to OUT
"""
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe import Http, Prober, hostport, stop  # noqa: E402


def api(http, method, path, form=None, want=(200, 201)):
    status, body = http.call(method, path, form)
    if status not in want:
        raise SystemExit("auth_probe: %s %s -> %d %s" % (method, path, status, body[:300]))
    return json.loads(body) if body else {}


def account_of(auth):
    return auth.split(":", 1)[0]


def cmd_subaccounts(base, auth, count, out):
    http = Http(base, auth)
    sids = []
    for i in range(int(count)):
        sids.append(api(http, "POST", "/2010-04-01/Accounts.json", {"FriendlyName": "acl-bench-%d" % i})["sid"])
    with open(out, "w") as f:
        json.dump(sids, f)
    print(json.dumps({"subaccounts": len(sids)}))


def cmd_digest_domain(base, auth, domain_name, username, password, out):
    http = Http(base, auth)
    sip = "/2010-04-01/Accounts/%s/SIP" % account_of(auth)
    domain = api(http, "POST", sip + "/Domains.json", {"DomainName": domain_name, "FriendlyName": "digest bench"})
    acl = api(http, "POST", sip + "/IpAccessControlLists.json", {"FriendlyName": "elsewhere"})
    for name, ip, plen in (("net-a", "10.20.0.0", 16), ("net-b", "192.0.2.0", 24)):
        api(http, "POST", sip + "/IpAccessControlLists/%s/IpAddresses.json" % acl["sid"],
            {"FriendlyName": name, "IpAddress": ip, "CidrPrefixLength": str(plen)})
    cl = api(http, "POST", sip + "/CredentialLists.json", {"FriendlyName": "phones"})
    api(http, "POST", sip + "/CredentialLists/%s/Credentials.json" % cl["sid"],
        {"Username": username, "Password": password})
    calls = sip + "/Domains/%s/Auth/Calls" % domain["sid"]
    api(http, "POST", calls + "/IpAccessControlListMappings.json", {"IpAccessControlListSid": acl["sid"]})
    api(http, "POST", calls + "/CredentialListMappings.json", {"CredentialListSid": cl["sid"]})
    # SIPp's digest uri is sip:<server address> (see uac-digest.xml.in): the domain is recognised
    # by the source address, so 127.0.0.1/32 is mapped to it (it is in no access control list)
    rec = api(http, "POST", "/v1/IpRecords", {"IpAddress": "127.0.0.1", "CidrPrefixLength": "32"})
    api(http, "POST", "/v1/SourceIpMappings", {"IpRecordSid": rec["sid"], "SipDomainSid": domain["sid"]})
    got = api(http, "GET", sip + "/Domains/%s.json" % domain["sid"])
    if got.get("auth_type") != "IP_ACL,CREDENTIAL_LIST":
        raise SystemExit("auth_probe: the domain's auth_type is %r" % got.get("auth_type"))
    res = {"domain": domain["sid"], "domain_name": domain_name, "acl": acl["sid"], "credential_list": cl["sid"],
           "auth_type": got["auth_type"]}
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


def status_kb(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "VmData"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def cmd_memory(runs, target, src, settle, out, *cmd):
    assert cmd and cmd[0] == "--"
    cmd = list(cmd[1:])
    target = hostport(target)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the finally stops the server
    results = []
    for run in range(int(runs)):
        log = open(out + ".run%d.log" % (run + 1), "w")
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        ms = None
        try:
            p = Prober(src, target)
            deadline = t0 + 300
            seq = p.send()
            while time.monotonic() < deadline and proc.poll() is None:
                r, _, _ = select.select([p.sock], [], [], 0.002)
                if r:
                    got = p.read()
                    if got and got[1] == seq and got[0] == 200:
                        ms = (time.monotonic() - t0) * 1000
                        break
                if time.monotonic() - p.sent_at >= 0.002:
                    seq = p.send()
            p.close()
            time.sleep(float(settle))
            st = status_kb(proc.pid)
            results.append({"run": run + 1, "ms_to_200": None if ms is None else round(ms, 1),
                            "vmhwm_kb": st.get("VmHWM"), "vmrss_kb": st.get("VmRSS"),
                            "rssanon_kb": st.get("RssAnon"), "vmdata_kb": st.get("VmData")})
            print("[memory] run %d: first 200 after %s ms; VmHWM %s kB, VmRSS %s kB" % (
                run + 1, results[-1]["ms_to_200"], st.get("VmHWM"), st.get("VmRSS")), file=sys.stderr)
        finally:
            stop(proc)
            log.close()

    def med(k):
        v = [r[k] for r in results if r[k] is not None]
        return statistics.median(v) if v else None

    summary = {"runs": results, "median_ms_to_200": med("ms_to_200"), "median_vmhwm_kb": med("vmhwm_kb"),
               "median_vmrss_kb": med("vmrss_kb"), "median_rssanon_kb": med("rssanon_kb")}
    with open(out, "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    if any(r["ms_to_200"] is None for r in results):
        sys.exit(1)


def main():
    cmds = {"subaccounts": cmd_subaccounts, "digest-domain": cmd_digest_domain, "memory": cmd_memory}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        raise SystemExit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
