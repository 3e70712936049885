#!/usr/bin/env python3
"""faceapp-web on several servers sharing one PostgreSQL, behind nginx, all on this machine (the parts of
tests/web/cluster.py: a throwaway cluster, servers started with deploy/systemd's ExecStart=, nginx with deploy/nginx's
site). Measures:

1. add-to-visible-elsewhere: ADDS adds on server A, one at a time; after each is answered, server B is polled
   (GET /api/faces, whose total is the size of B's in-memory gallery) until the face is there. p50, p99.
2. throughput through nginx: CLIENTS x REQUESTS POST /api/compare of small real photos (HTTPS, a new connection
   each), with one server behind nginx (the baseline) and then with two, in the same run. Both servers run on this
   machine's cores, so two servers cannot exceed what the cores give one; on separate machines each brings its own.

    python3 bench/web_nodes.py --server build/examples/web/faceapp-web --faces tests/data/faces

Python standard library only; run as root or as a user (as root, PostgreSQL, nginx and the servers run as nobody).
"""

import argparse
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "web"))

import cluster  # noqa: E402
from cluster import Nginx, Node, Postgres, free_port, request  # noqa: E402


def percentile(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def gallery_size(port):
    r = request(port, "GET", "/api/faces?limit=1")
    if r.status != 200:
        raise RuntimeError(f"GET /api/faces on :{port}: {r.status} {r.body[:200]!r}")
    return r.json()["total"]


def throughput(port, photos, clients, per_client):
    names = sorted(photos)
    failures = []
    lock = threading.Lock()

    def client(k):
        for i in range(per_client):
            a, b = names[(k + i) % len(names)], names[(k + 2 * i + 1) % len(names)]
            r = request(port, "POST", "/api/compare", files=[("a", a, photos[a]), ("b", b, photos[b])], tls=True)
            if r.status != 200:
                with lock:
                    failures.append(r.status)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - start
    if failures:
        raise RuntimeError(f"{len(failures)} compares failed: {failures[:5]}")
    return clients * per_client / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True)
    parser.add_argument("--faces", required=True, help="tests/data/faces")
    parser.add_argument("--adds", type=int, default=100)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=25, help="per client")
    args = parser.parse_args()

    def read(name):
        with open(os.path.join(args.faces, name), "rb") as f:
            return f.read()

    photo = read("obama_1.jpg")
    photos = {n: read(n) for n in ["obama_1.jpg", "amy_1.png", "sheldon_2.png", "penny_3.png"]}
    cluster.setup(args.server)
    pg = None
    parts = []
    try:
        pg = Postgres()
        pg.start()
        pg.psql("CREATE DATABASE faceapp", db="postgres")
        a = Node("a", pg.url, free_port()).start()
        b = Node("b", pg.url, free_port()).start()
        parts += [a, b]

        delays = []
        for i in range(args.adds):
            before = gallery_size(b.port)
            r = request(a.port, "POST", "/api/faces", fields=[("name", f"p{i}")], files=[("image", "o.jpg", photo)])
            if r.status != 201:
                raise RuntimeError(f"add: {r.status} {r.body[:200]!r}")
            answered = time.perf_counter()
            deadline = answered + 5
            while gallery_size(b.port) == before:
                if time.perf_counter() > deadline:
                    raise RuntimeError("an add was not visible on B within 5 s")
            delays.append((time.perf_counter() - answered) * 1000)

        one = Nginx([a.port], name="nginx-one")
        parts.append(one)
        two = Nginx([a.port, b.port], name="nginx-two")
        parts.append(two)
        throughput(one.https_port, photos, 4, 5)  # warm-up
        one_rps = throughput(one.https_port, photos, args.clients, args.requests)
        two_rps = throughput(two.https_port, photos, args.clients, args.requests)

        print(f"| measure | value |\n|---|---|")
        print(f"| add on A -> visible on B, p50 ({args.adds} adds) | {percentile(delays, 50):.1f} ms |")
        print(f"| add on A -> visible on B, p99 | {percentile(delays, 99):.1f} ms |")
        print(f"| 1 server behind nginx ({args.clients} clients x {args.requests} compares) | {one_rps:.1f} compares/s |")
        print(f"| 2 servers behind nginx, same machine | {two_rps:.1f} compares/s ({two_rps / one_rps:.2f}x) |")
        print(f"(machine: {os.cpu_count()} cores)")
    finally:
        for p in reversed(parts):
            p.stop()
        if pg:
            pg.stop()
        cluster.cleanup()


if __name__ == "__main__":
    main()
