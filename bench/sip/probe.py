#!/usr/bin/env python3
"""SIP probes for bench/sip.sh (standard library only; loopback only; every loop bounded).

Subcommands:
  options SRC_IP HOST:PORT
      send one OPTIONS from SRC_IP; print the status line and the X-* headers of the answer
  startup RUNS HOST:PORT SRC_IP OUT.json -- CMD...
      RUNS times: spawn CMD, send OPTIONS from SRC_IP every ~2 ms until one is answered 200; record
      spawn -> 200 (ms) and the process's VmHWM; then SIGTERM it (SIGKILL after 10 s)
  propagate BASE AUTH HOST:PORT DOMAIN_SID TRIALS OUT.json [WIDE]
      TRIALS times: create an IP record for a fresh 127.1.x.y/32 (not timed), then time
      POST /v1/SourceIpMappings while polling OPTIONS from 127.1.x.y, until the edge answers 200;
      then the same for DELETE (200 -> 404). Then WIDE [5] times each the same for 127.0.0.0/8 and
      0.0.0.0/1 (polled from 127.2.0.1): wide prefixes make the table rebuild many of its 65,536
      /16 slots (a /1 covers half of them). Writes every trial and p50/p99 to OUT.json
  widecost BASE AUTH DOMAIN_SID TRIALS OUT.json NETWORK...
      API latency of creating and deleting a mapping for each NETWORK (a.b.c.d/len), TRIALS times
      (the edge changes before the API answers, so this bounds propagation for wide prefixes over
      populated address space, which the edge probe cannot reach from 127.0.0.0/8)
"""
import base64
import json
import os
import random
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse


def loopback(host):
    assert host.startswith("127."), "loopback only"
    return host


def hostport(s):
    h, p = s.rsplit(":", 1)
    return loopback(h), int(p)


class Prober:
    """One UDP socket bound to SRC; one OPTIONS at a time, matched by CSeq."""

    def __init__(self, src, target):
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((loopback(src), 0))
        self.sock.setblocking(False)
        self.local = self.sock.getsockname()
        self.seq = 0
        self.tag = "%x" % random.getrandbits(48)
        self.sent_at = None

    def send(self):
        self.seq += 1
        h, p = self.target
        lh, lp = self.local
        msg = (
            f"OPTIONS sip:{h}:{p} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {lh}:{lp};branch=z9hG4bK-probe-{self.tag}-{self.seq}\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:probe@{lh}:{lp}>;tag={self.tag}\r\n"
            f"To: <sip:{h}:{p}>\r\n"
            f"Call-ID: probe-{self.tag}-{self.seq}@{lh}\r\n"
            f"CSeq: {self.seq} OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n"
        ).encode()
        try:
            self.sock.sendto(msg, self.target)
        except OSError:
            pass  # e.g. ECONNREFUSED from an earlier ICMP: just try again later
        self.sent_at = time.monotonic()
        return self.seq

    def read(self):
        """(status, seq, headers) of one waiting datagram, or None."""
        try:
            data = self.sock.recv(65535)
        except (BlockingIOError, ConnectionRefusedError, OSError):
            return None
        text = data.decode("latin-1")
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        try:
            status = int(head[0].split()[1])
        except (IndexError, ValueError):
            return None
        headers = {}
        for line in head[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        try:
            seq = int(headers.get("cseq", "0").split()[0])
        except ValueError:
            seq = 0
        return status, seq, headers, head[0]

    def close(self):
        self.sock.close()


def ask_once(src, target, timeout=1.0):
    p = Prober(src, target)
    try:
        deadline = time.monotonic() + timeout
        seq = p.send()
        while time.monotonic() < deadline:
            r, _, _ = select.select([p.sock], [], [], 0.05)
            if r:
                got = p.read()
                if got and got[1] == seq:
                    return got
        return None
    finally:
        p.close()


def cmd_options(src, target):
    got = ask_once(src, hostport(target))
    if got is None:
        print("no answer")
        sys.exit(1)
    status, _, headers, line = got
    print(line)
    for k, v in headers.items():
        if k.startswith("x-"):
            print("%s: %s" % (k, v))


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children_of(pid):
    """Every descendant of pid (for Kamailio's forked workers)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def group_alive(pgid):
    """Whether a process of group pgid is still running (zombies left to a non-reaping init count
    as gone)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            fields = s[s.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def stop(proc):
    """SIGTERM the process group we started (Kamailio's creator does not pass SIGTERM on to the
    main process it forked); SIGKILL whatever is left after 10 s."""
    pgid = proc.pid  # start_new_session=True: the group is ours alone
    if group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        proc.poll()
        if not group_alive(pgid):
            break
        time.sleep(0.05)
    if group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def cmd_startup(runs, target, src, out, *cmd):
    assert cmd and cmd[0] == "--"
    cmd = list(cmd[1:])
    target = hostport(target)
    # stopped by bench/sip.sh's trap: unwind, so that the finally below stops the server we spawned
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
            hwm = vm_hwm_kb(proc.pid)
            kids_hwm = [vm_hwm_kb(c) for c in children_of(proc.pid)]
            hwm = max([hwm or 0] + [k or 0 for k in kids_hwm]) or None  # Kamailio: its main process
            results.append({"run": run + 1, "ms": None if ms is None else round(ms, 1),
                            "vmhwm_kb": hwm, "children_vmhwm_kb": [k for k in kids_hwm if k]})
            print("[startup] run %d: %s ms to the first 200, VmHWM %s kB" % (run + 1, results[-1]["ms"], hwm),
                  file=sys.stderr)
        finally:
            stop(proc)
            log.close()
    oks = [r["ms"] for r in results if r["ms"] is not None]
    summary = {"runs": results, "median_ms": statistics.median(oks) if oks else None,
               "vmhwm_kb_max": max((r["vmhwm_kb"] or 0) for r in results)}
    with open(out, "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))
    if len(oks) != len(results):
        sys.exit(1)


class Http:
    """A minimal keep-alive HTTP/1.1 client on a non-blocking socket, for 127.0.0.1 only."""

    def __init__(self, base, auth):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = loopback(u.hostname), u.port
        self.auth = "Basic " + base64.b64encode(auth.encode()).decode()
        self.sock = None
        self.buf = b""

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = b""

    def send(self, method, path, form=None):
        if self.sock is None:
            self.connect()
        body = urllib.parse.urlencode(form).encode() if form else b""
        req = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: {self.auth}\r\n"
            + ("Content-Type: application/x-www-form-urlencoded\r\n" if form else "")
            + f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.sock.setblocking(True)
        self.sock.sendall(req)
        self.sock.setblocking(False)

    def poll(self):
        """(status, body) once a whole response is in, else None."""
        try:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("HTTP connection closed")
            self.buf += chunk
        except BlockingIOError:
            pass
        if b"\r\n\r\n" not in self.buf:
            return None
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        if len(rest) < length:
            return None
        self.buf = rest[length:]
        return status, rest[:length]

    def call(self, method, path, form=None, timeout=10):
        self.send(method, path, form)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            select.select([self.sock], [], [], 0.05)
            got = self.poll()
            if got:
                return got
        raise TimeoutError("%s %s: no answer in %s s" % (method, path, timeout))


def timed_change(http, method, path, form, prober, want_status, expect_api, limit_s=2.0):
    """Send the API request and poll the edge until it answers want_status; return the timings."""
    t_start = time.monotonic()
    http.send(method, path, form)
    api_at = api_status = api_body = None
    first_new = None          # receive time of the first probe answered with the new status
    first_after = None        # (status, receive time) of the first probe *sent* after the API's 2xx
    seq = prober.send()
    sent = prober.sent_at
    probes = 1
    deadline = t_start + limit_s
    while time.monotonic() < deadline:
        r, _, _ = select.select([http.sock, prober.sock], [], [], 0.005)
        now = time.monotonic()
        if api_at is None and http.sock in r:
            got = http.poll()
            if got:
                api_at = time.monotonic()
                api_status, api_body = got
        if prober.sock in r:
            while True:
                got = prober.read()
                if got is None:
                    break
                if got[1] != seq:
                    continue
                now = time.monotonic()
                if got[0] == want_status and first_new is None:
                    first_new = now
                if api_at is not None and sent >= api_at and first_after is None:
                    first_after = (got[0], now)
                seq = prober.send()
                sent = prober.sent_at
                probes += 1
        elif now - sent > 0.02:  # lost? send another (UDP on loopback does not lose, but be safe)
            seq = prober.send()
            sent = prober.sent_at
            probes += 1
        if api_at is not None and first_new is not None and first_after is not None:
            break
    if api_status != expect_api:
        raise SystemExit("API %s %s answered %s: %r" % (method, path, api_status, api_body))
    ms = lambda t: None if t is None else round((t - t_start) * 1000, 3)
    res = {
        "api_ms": ms(api_at),
        "edge_new_ms": ms(first_new),
        "first_after_2xx_status": first_after[0] if first_after else None,
        "after_2xx_ms": None if (first_new is None or api_at is None) else round(max(0.0, first_new - api_at) * 1000, 3),
        "probes": probes,
    }
    return res, api_body


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


def summarize(trials, key):
    vals = [t[key] for t in trials if t.get(key) is not None]
    return {"p50": pct(vals, 50), "p99": pct(vals, 99), "max": max(vals) if vals else None, "n": len(vals)}


def cmd_propagate(base, auth, target, domain, trials, out, wide="5"):
    target = hostport(target)
    http = Http(base, auth)
    http.connect()
    creates, deletes = [], []
    for i in range(int(trials)):
        n = i + 1
        src = "127.1.%d.%d" % (n // 250, n % 250 + 1)
        status, body = http.call("POST", "/v1/IpRecords", {"IpAddress": src, "CidrPrefixLength": "32"})
        if status != 201:
            raise SystemExit("IP record for %s: %s %r" % (src, status, body))
        il = json.loads(body)["sid"]
        prober = Prober(src, target)
        try:
            before = ask_once(src, target)
            if not before or before[0] != 404:
                raise SystemExit("%s should be unmapped (404) before the trial, got %r" % (src, before))
            res, body = timed_change(http, "POST", "/v1/SourceIpMappings",
                                     {"IpRecordSid": il, "SipDomainSid": domain}, prober, 200, 201)
            res["src"] = src
            creates.append(res)
            ib = json.loads(body)["sid"]
            res, _ = timed_change(http, "DELETE", "/v1/SourceIpMappings/" + ib, None, prober, 404, 204)
            res["src"] = src
            deletes.append(res)
        finally:
            prober.close()
    groups = [("create", creates), ("delete", deletes)]
    src = "127.2.0.1"
    for addr, plen in (("127.0.0.0", 8), ("0.0.0.0", 1)):
        status, body = http.call("POST", "/v1/IpRecords", {"IpAddress": addr, "CidrPrefixLength": str(plen)})
        if status != 201:
            raise SystemExit("IP record for %s/%d: %s %r" % (addr, plen, status, body))
        il = json.loads(body)["sid"]
        wc, wd = [], []
        prober = Prober(src, target)
        try:
            for _ in range(int(wide)):
                before = ask_once(src, target)
                if not before or before[0] != 404:
                    raise SystemExit("%s should be unmapped (404) before the trial, got %r" % (src, before))
                res, body = timed_change(http, "POST", "/v1/SourceIpMappings",
                                         {"IpRecordSid": il, "SipDomainSid": domain}, prober, 200, 201)
                res["network"] = "%s/%d" % (addr, plen)
                wc.append(res)
                ib = json.loads(body)["sid"]
                res, _ = timed_change(http, "DELETE", "/v1/SourceIpMappings/" + ib, None, prober, 404, 204)
                res["network"] = "%s/%d" % (addr, plen)
                wd.append(res)
        finally:
            prober.close()
        groups += [("create_/%d" % plen, wc), ("delete_/%d" % plen, wd)]
    summary = {}
    detail = {}
    for name, rows in groups:
        detail[name] = rows
        summary[name] = {
            "trials": len(rows),
            "api_ms": summarize(rows, "api_ms"),
            "edge_from_request_start_ms": summarize(rows, "edge_new_ms"),
            "edge_after_2xx_ms": summarize(rows, "after_2xx_ms"),
            "first_probe_after_2xx_saw_change": sum(
                1 for r in rows if r["first_after_2xx_status"] == (200 if name.startswith("create") else 404)),
            "edge_changed_before_2xx": sum(
                1 for r in rows if r["edge_new_ms"] is not None and r["api_ms"] is not None
                and r["edge_new_ms"] <= r["api_ms"]),
            "never_changed": sum(1 for r in rows if r["edge_new_ms"] is None),
        }
    with open(out, "w") as f:
        json.dump({"summary": summary, "trials": detail}, f, indent=1)
    print(json.dumps(summary))


def cmd_widecost(base, auth, domain, trials, out, *networks):
    """For each NETWORK (a.b.c.d/len): create its IP record, then TRIALS times time the API's
    create-mapping and delete-mapping calls. The storage writer applies a change to the recognition
    table before it answers, so the API latency bounds the edge's propagation time."""
    http = Http(base, auth)
    http.connect()
    res = {}
    for net in networks:
        addr, plen = net.split("/")
        status, body = http.call("POST", "/v1/IpRecords", {"IpAddress": addr, "CidrPrefixLength": plen})
        if status != 201:
            raise SystemExit("IP record for %s: %s %r" % (net, status, body))
        il = json.loads(body)["sid"]
        creates, deletes = [], []
        for _ in range(int(trials)):
            t0 = time.monotonic()
            status, body = http.call("POST", "/v1/SourceIpMappings", {"IpRecordSid": il, "SipDomainSid": domain})
            creates.append(round((time.monotonic() - t0) * 1000, 2))
            if status != 201:
                raise SystemExit("mapping for %s: %s %r" % (net, status, body))
            ib = json.loads(body)["sid"]
            t0 = time.monotonic()
            status, body = http.call("DELETE", "/v1/SourceIpMappings/" + ib)
            deletes.append(round((time.monotonic() - t0) * 1000, 2))
            if status != 204:
                raise SystemExit("delete mapping for %s: %s %r" % (net, status, body))
        res[net] = {"create_ms": creates, "delete_ms": deletes,
                    "create_median_ms": statistics.median(creates), "delete_median_ms": statistics.median(deletes)}
        print("[widecost] %-16s create %s ms, delete %s ms" % (net, creates, deletes), file=sys.stderr)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


def main():
    cmds = {"options": cmd_options, "startup": cmd_startup, "propagate": cmd_propagate, "widecost": cmd_widecost}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        raise SystemExit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
