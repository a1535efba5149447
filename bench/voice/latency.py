#!/usr/bin/env python3
"""Setup latency added by sipmap to voice applications' calls (bench/voice_calls.sh), from a
packet capture of the SIP port on loopback and the webhook's own log (standard library only).

  latency.py --pcap FILE --webhook-log FILE --sip-port P --callee-port U

For each caller's INVITE that reached sipmap (to P, the first copy: a retransmission is not a new
start) and the child INVITE sipmap sent for it (from P to U; the webhook put the caller's Call-ID
in its X-Parent header): total = t(child INVITE) - t(caller's INVITE), both kernel timestamps of
the capture; webhook = the webhook server's own time for that call's VoiceUrl request (accepted
connection to response written, its log, the same wall clock); added = total - webhook. Prints
one JSON object: counts, and p50 / p90 / p99 / max of each (milliseconds).
"""
import argparse
import json
import struct
from urllib.parse import unquote


def packets(path):
    """(timestamp, src ip, src port, dst ip, dst port, UDP payload) of each IPv4 UDP packet."""
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        else:
            endian = ">"
            magic = struct.unpack(">I", head[:4])[0]
        nano = magic == 0xA1B23C4D
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        skip = {1: 14, 113: 16, 276: 20, 0: 4, 101: 0, 228: 0}.get(linktype)
        if skip is None:
            raise SystemExit("latency: link type %d not handled" % linktype)
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            ts = sec + frac / (1e9 if nano else 1e6)
            ip = data[skip:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
            sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
            yield ts, src, sport, dst, dport, ip[ihl + 8:]


def header(payload, name):
    for line in payload.split(b"\r\n"):
        if not line:
            break
        n, sep, v = line.partition(b":")
        if sep and n.strip().lower() == name:
            return v.strip().decode("latin-1")
    return None


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))], 3)


def summary(values):
    return {"p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
            "max": round(max(values), 3) if values else None, "n": len(values)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--webhook-log", required=True)
    ap.add_argument("--sip-port", type=int, required=True)
    ap.add_argument("--callee-port", type=int, required=True)
    a = ap.parse_args()
    t_in, t_out, retrans = {}, {}, 0
    for ts, _src, sport, _dst, dport, payload in packets(a.pcap):
        if not payload.startswith(b"INVITE "):
            continue
        if dport == a.sip_port and sport != a.callee_port:
            cid = header(payload, b"call-id")
            if cid in t_in:
                retrans += 1
            elif cid:
                t_in[cid] = ts
        elif sport == a.sip_port and dport == a.callee_port:
            parent = header(payload, b"x-parent")
            if parent and unquote(parent) not in t_out:
                t_out[unquote(parent)] = ts
    own = {}
    with open(a.webhook_log) as f:
        for line in f:
            t0, t1, path, cid = (line.split() + [""])[:4]
            if path == "/answer" and cid and cid not in own:
                own[cid] = float(t1) - float(t0)
    total, hook, added = [], [], []
    for cid, t0 in t_in.items():
        if cid in t_out and cid in own:
            total.append(1000 * (t_out[cid] - t0))
            hook.append(1000 * own[cid])
            added.append(1000 * (t_out[cid] - t0 - own[cid]))
    print(json.dumps({"caller_invites": len(t_in), "child_invites": len(t_out), "webhook_requests": len(own),
                      "paired": len(added), "caller_invite_retransmissions": retrans,
                      "total_ms": summary(total), "webhook_own_ms": summary(hook), "added_ms": summary(added)}))


if __name__ == "__main__":
    main()
