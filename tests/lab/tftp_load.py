#!/usr/bin/env python3
"""TFTP traffic for the lab's load tests, run inside the client namespace.

Each mode prints one JSON object on standard output:

  load SERVER FILE SIZE RATE SECONDS [BIND]
      starts RATE reads a second of FILE (SIZE bytes, octet, no options)
      for SECONDS, each from its own socket (bound to BIND if given), and
      counts reads that got the whole file, failures, and retransmissions
      (a phone's timeout: 2 s, 4 tries).
  get SERVER FILE [BIND]
      one read; reports "ok" or the ERROR message the client got, and
      where that ERROR came from.
  rrq-wrq SERVER MISSING NAME LOCAL
      from ONE socket: an RRQ for MISSING, then the WRQ for NAME twice
      before anything answers; then uploads LOCAL to whichever transfer ID
      acknowledges block 0 first, and counts the transfer IDs that did.
  junk SERVER COUNT SECONDS BIND[,BIND...]
      sends COUNT junk datagrams (random bytes, DATA, truncated RRQs)
      spread over SECONDS, round-robin from the BIND addresses.
  spoof SERVER COUNT FIRST N
      sends COUNT junk datagrams at once through a raw socket, their
      source addresses spoofed round-robin from FIRST and the N-1 IPv4
      addresses after it (needs root).
  first-data SERVER FILE COUNT
      COUNT reads one after another; reports how many got the whole file
      and the longest wait for a first DATA.
  first-try SERVER FILE COUNT WAIT
      COUNT reads at once, each sending its RRQ once and waiting WAIT
      seconds for DATA block 1: counts those answered at the first try.
  options SERVER COUNT
      one RRQ carrying COUNT options (as many as fit in 64 KB); reports
      its size.
  respond-late ADDR DELAY
      a TFTP server on ADDR:69 (run in the server namespace) that answers
      each RRQ after DELAY seconds, from a new port, with a one-block
      file; runs until stopped.
"""

import json
import os
import random
import socket
import sys
import threading
import time

TIMEOUT = 2.0
TRIES = 4


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def new_socket(server, bind=None):
    s = socket.socket(family_of(server), socket.SOCK_DGRAM)
    s.bind((bind or "", 0))
    s.settimeout(TIMEOUT)
    return s


def read_file(server, name, bind=None, timing=None):
    """Returns (data or None, retransmissions, error text); sets
    timing["first"] to the seconds until the first DATA, if given."""
    started = time.monotonic()
    s = new_socket(server, bind)
    retransmissions = 0
    try:
        last = b"\x00\x01" + name.encode() + b"\x00octet\x00"
        last_to = (server, 69)
        s.sendto(last, last_to)
        tid = None
        expected = 1
        data = bytearray()
        misses = 0
        while True:
            try:
                pkt, addr = s.recvfrom(70000)
            except socket.timeout:
                misses += 1
                if misses >= TRIES:
                    return None, retransmissions, "timeout after %d tries" % TRIES
                s.sendto(last, last_to)
                retransmissions += 1
                continue
            if tid is None:
                tid = addr
            elif addr != tid:
                continue
            op = int.from_bytes(pkt[:2], "big")
            if op == 5:
                if timing is not None:
                    timing["error_from"] = "%s:%d" % addr[:2]
                return None, retransmissions, "ERROR %d: %s" % (
                    int.from_bytes(pkt[2:4], "big"),
                    pkt[4:].rstrip(b"\x00").decode(errors="replace"),
                )
            if op != 3:
                continue
            block = int.from_bytes(pkt[2:4], "big")
            if timing is not None and "first" not in timing:
                timing["first"] = time.monotonic() - started
            if block == expected:
                data += pkt[4:]
                last = b"\x00\x04" + pkt[2:4]
                last_to = tid
                s.sendto(last, last_to)
                misses = 0
                expected += 1
                if len(pkt) - 4 < 512:
                    return bytes(data), retransmissions, ""
            elif block == expected - 1:
                s.sendto(last, last_to)
    finally:
        s.close()


def mode_load(server, name, size, rate, seconds, bind=None):
    size, rate, seconds = int(size), float(rate), float(seconds)
    lock = threading.Lock()
    stats = {"started": 0, "ok": 0, "failed": 0, "retransmissions": 0, "errors": []}

    def one():
        data, retrans, error = read_file(server, name, bind)
        with lock:
            stats["retransmissions"] += retrans
            if data is not None and len(data) == size:
                stats["ok"] += 1
            else:
                stats["failed"] += 1
                if len(stats["errors"]) < 10:
                    stats["errors"].append(error or "short read: %d bytes" % len(data or b""))

    threads = []
    start = time.monotonic()
    n = int(rate * seconds)
    for i in range(n):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t = threading.Thread(target=one)
        t.start()
        threads.append(t)
        stats["started"] += 1
    for t in threads:
        t.join()
    stats["seconds"] = round(time.monotonic() - start, 2)
    print(json.dumps(stats))


def mode_get(server, name, bind=None):
    timing = {}
    data, retrans, error = read_file(server, name, bind, timing)
    print(json.dumps({"ok": data is not None, "error": error, "retransmissions": retrans,
                      "bytes": len(data or b""), "error_from": timing.get("error_from", "")}))


def mode_rrq_wrq(server, missing, name, local):
    payload = open(local, "rb").read()
    s = new_socket(server)
    s.sendto(b"\x00\x01" + missing.encode() + b"\x00octet\x00", (server, 69))
    wrq = b"\x00\x02" + name.encode() + b"\x00octet\x00"
    s.sendto(wrq, (server, 69))
    s.sendto(wrq, (server, 69))
    acked0 = set()
    tid = None
    misses = 0
    # Wait for the first acknowledgement of block 0.
    while tid is None:
        try:
            pkt, addr = s.recvfrom(70000)
        except socket.timeout:
            misses += 1
            if misses >= TRIES:
                print(json.dumps({"ok": False, "error": "no ACK 0", "acked0": 0}))
                return
            s.sendto(wrq, (server, 69))
            continue
        if pkt[:4] == b"\x00\x04\x00\x00":
            acked0.add(addr)
            tid = addr
    # A payload that is a multiple of 512 bytes ends with an empty block.
    blocks = [payload[i:i + 512] for i in range(0, len(payload) + 1, 512)]
    block = 1
    misses = 0
    while block <= len(blocks):
        data = b"\x00\x03" + (block % 65536).to_bytes(2, "big") + blocks[block - 1]
        s.sendto(data, tid)
        try:
            pkt, addr = s.recvfrom(70000)
        except socket.timeout:
            misses += 1
            if misses >= TRIES:
                print(json.dumps({"ok": False, "error": "timeout at block %d" % block,
                                  "acked0": len(acked0)}))
                return
            continue
        if pkt[:4] == b"\x00\x04\x00\x00":
            acked0.add(addr)
        if addr != tid:
            continue
        if pkt[:2] == b"\x00\x05":
            print(json.dumps({"ok": False, "error": pkt[4:].decode(errors="replace"),
                              "acked0": len(acked0)}))
            return
        if pkt[:2] == b"\x00\x04" and int.from_bytes(pkt[2:4], "big") == block % 65536:
            block += 1
            misses = 0
    # Anything a second transfer would still say (its ACK 0, retried).
    s.settimeout(1.0)
    try:
        while True:
            pkt, addr = s.recvfrom(70000)
            if pkt[:4] == b"\x00\x04\x00\x00":
                acked0.add(addr)
    except socket.timeout:
        pass
    print(json.dumps({"ok": True, "error": "", "acked0": len(acked0),
                      "tids": sorted("%s:%d" % a[:2] for a in acked0)}))


def mode_junk(server, count, seconds, binds):
    count, seconds = int(count), float(seconds)
    socks = [new_socket(server, b) for b in binds.split(",")]
    rng = random.Random(6)
    kinds = [
        lambda: os.urandom(rng.randrange(1, 200)),
        lambda: b"\x00\x03\x00\x01" + os.urandom(rng.randrange(0, 512)),
        lambda: b"\x00\x01" + os.urandom(rng.randrange(0, 20)),
        lambda: b"\x00\x04\x00\x07",
    ]
    sent = 0
    start = time.monotonic()
    batch = 50
    for i in range(0, count, batch):
        due = start + seconds * i / count
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for j in range(i, min(i + batch, count)):
            s = socks[j % len(socks)]
            try:
                s.sendto(kinds[j % len(kinds)](), (server, 69))
                sent += 1
            except OSError:
                pass
    print(json.dumps({"sent": sent, "seconds": round(time.monotonic() - start, 2)}))


def checksum(data):
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mode_spoof(server, count, first, n):
    count, n = int(count), int(n)
    base = int.from_bytes(socket.inet_aton(first), "big")
    dst = socket.inet_aton(server)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rng = random.Random(15)
    sent = 0
    for i in range(count):
        src = (base + i % n).to_bytes(4, "big")
        payload = b"\x00\x09" + bytes(rng.randrange(256) for _ in range(30))
        sport = 20000 + rng.randrange(20000)
        length = 8 + len(payload)
        udp = sport.to_bytes(2, "big") + (69).to_bytes(2, "big") + length.to_bytes(2, "big")
        pseudo = src + dst + b"\x00\x11" + length.to_bytes(2, "big")
        csum = checksum(pseudo + udp + b"\x00\x00" + payload) or 0xFFFF
        udp += csum.to_bytes(2, "big") + payload
        ip = (b"\x45\x00" + (20 + length).to_bytes(2, "big") + (i & 0xFFFF).to_bytes(2, "big")
              + b"\x00\x00\x40\x11\x00\x00" + src + dst)
        ip = ip[:10] + checksum(ip).to_bytes(2, "big") + ip[12:]
        try:
            s.sendto(ip + udp, (server, 0))
            sent += 1
        except OSError:
            pass
    print(json.dumps({"sent": sent}))


def mode_first_data(server, name, count):
    stats = {"ok": 0, "failed": 0, "max_first_ms": 0, "errors": []}
    for _ in range(int(count)):
        timing = {}
        data, _, error = read_file(server, name, timing=timing)
        first = timing.get("first")
        if data is not None and first is not None:
            stats["ok"] += 1
            stats["max_first_ms"] = max(stats["max_first_ms"], int(first * 1000))
        else:
            stats["failed"] += 1
            stats["errors"].append(error)
    print(json.dumps(stats))


def mode_first_try(server, name, count, wait):
    count, wait = int(count), float(wait)
    lock = threading.Lock()
    stats = {"count": count, "answered": 0}

    def one():
        s = socket.socket(family_of(server), socket.SOCK_DGRAM)
        s.settimeout(wait)
        s.sendto(b"\x00\x01" + name.encode() + b"\x00octet\x00", (server, 69))
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                pkt, addr = s.recvfrom(70000)
                if pkt[:4] == b"\x00\x03\x00\x01":
                    s.sendto(b"\x00\x04\x00\x01", addr)
                    with lock:
                        stats["answered"] += 1
                    return
        except socket.timeout:
            pass
        finally:
            s.close()

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(stats))


def mode_options(server, count):
    request = b"\x00\x01big.cfg\x00octet\x00"
    options = 0
    for i in range(int(count)):
        option = b"o%04d\x00%06d\x00" % (i, i)
        if len(request) + len(option) > 65400:
            break
        request += option
        options += 1
    s = new_socket(server)
    s.sendto(request, (server, 69))
    print(json.dumps({"bytes": len(request), "options": options}))


def mode_respond_late(addr, delay):
    delay = float(delay)
    listener = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    listener.bind((addr, 69))

    def answer(client):
        time.sleep(delay)
        s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
        s.bind((addr, 0))
        s.settimeout(1.0)
        try:
            s.sendto(b"\x00\x03\x00\x01late answer\n", client)
            s.recvfrom(100)
        except OSError:
            pass
        finally:
            s.close()

    while True:
        pkt, client = listener.recvfrom(70000)
        if pkt[:2] == b"\x00\x01":
            threading.Thread(target=answer, args=(client,), daemon=True).start()


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    {
        "load": mode_load,
        "get": mode_get,
        "rrq-wrq": mode_rrq_wrq,
        "junk": mode_junk,
        "spoof": mode_spoof,
        "first-data": mode_first_data,
        "first-try": mode_first_try,
        "options": mode_options,
        "respond-late": mode_respond_late,
    }[mode](*args)


if __name__ == "__main__":
    main()
