#!/usr/bin/env python3
"""faceapp-web with a large gallery, against the same server with an empty one, in the same run.

For each N (0 is the baseline): import N synthetic encodings with `faceapp-web import` (time, rows/s), from CSV and
from a numpy .npy (float32, written here without numpy) with its names file into another directory, start the
server (time from exec to the first answered request), then 30 adds of a small photo and 30 recognizes of it,
one at a time after a warm-up (p50, p99 latency), the server's resident memory (VmRSS) after them and the size of the main page.
Prints a Markdown table. Python standard library only.

    python3 bench/web_gallery_scale.py --server build/examples/web/faceapp-web \\
        --photo tests/data/faces/obama_1.jpg --sizes 10000,100000,1000000

`--api-search` adds 200 POST /api/search queries of one encoding each (k = 1; p50, p99) and checks each answer
against a brute force over the synthetic rows: the nearest row's name and its distance (within 1e-5). `--npy-source`
serves the gallery of the .npy import and skips the CSV (whose writing and import dominate at 10 M rows).
`--server-arg ARG` (repeatable) passes ARG to the measured server, e.g. `--server-arg=--gallery-codes=none`.

`--imports-only` measures the two imports and stops there. `--npy-only` measures the .npy import alone, of this
server and, with `--baseline-server`, of another build (e.g. the previous release) in the same run, each N imported
by both in turn; `--search` adds, for each server's imported gallery, the median time of GET /api/people searches of
2, 3 and 12 characters and of the last page of 50 people by offset and (when the server has it) by keyset (?after=).

Synthetic encodings are drawn from a pool of 10 007 random vectors (normal, sigma 0.09, like real encodings)
under distinct names: the 1:N scan, the database and the memory cost the same whatever the values are.
"""

import argparse
import array
import http.client
import math
import os
import random
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid


def percentile(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def multipart(fields, files):
    boundary = "----faceapp" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, filename, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def request(port, method, path, body=None, ctype=None, timeout=600):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Connection": "close"}
    if ctype:
        headers["Content-Type"] = ctype
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def encoding_pool():
    rng = random.Random(7)
    return [[round(rng.gauss(0, 0.09), 6) for _ in range(128)] for _ in range(10007)]


def write_csv(path, n):
    pool = [",".join(f"{v:.6f}" for v in e) for e in encoding_pool()]
    with open(path, "w") as f:
        f.write("name," + ",".join(f"e{i}" for i in range(128)) + "\n")
        for i in range(n):
            f.write(f"person {i},{pool[i % len(pool)]}\n")


def write_npy(path, names_path, n):
    """The same rows as write_csv, as a version 1.0 .npy of '<f4' (N, 128), and their names one a line."""
    pool = [array.array("f", e) for e in encoding_pool()]
    if sys.byteorder != "little":
        for a in pool:
            a.byteswap()
    pool = [a.tobytes() for a in pool]
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, 128), }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"  # the data starts 64-byte aligned
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1"))
        for i in range(0, n, len(pool)):
            f.write(b"".join(pool[: min(len(pool), n - i)]))
    with open(names_path, "w") as f:
        f.write("".join(f"person {i}\n" for i in range(n)))


def timed_import(args, row, key, command, n):
    """Runs one import and notes its wall-clock seconds, CPU seconds and rows/s under `key`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([args.server, "import", *command], check=True, stderr=subprocess.DEVNULL)
    row[f"{key}_s"] = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row[f"{key}_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row[f"{key}_rows_s"] = n / row[f"{key}_s"]


def start_server(server, data, extra=()):
    """Starts faceapp-web on a free port; returns (process, port) once it answers."""
    proc = subprocess.Popen([server, "--port", "0", "--data", data, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    line = b""
    while b"\n" not in line:
        ready, _, _ = select.select([proc.stdout], [], [], 600)
        if not ready:
            raise RuntimeError("faceapp-web did not start in 600 s")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise RuntimeError(f"faceapp-web exited: {line!r}")
        line += chunk
    return proc, int(line.decode().split("listening on http://")[1].split("/")[0].rsplit(":", 1)[1])


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def median_ms(port, path, repeat=11):
    """The median time of GET `path` (after one untimed request), in ms; the answer must be 200."""
    status, _ = request(port, "GET", path)
    assert status == 200, (path, status)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        status, _ = request(port, "GET", path)
        times.append(time.perf_counter() - t)
        assert status == 200, (path, status)
    return 1000 * percentile(times, 50)


def search_timings(server, data, n, row, key):
    """Searches of the names "person I" (write_npy) and the last page of people, timed on `server`."""
    import json
    proc, port = start_server(server, data)
    try:
        for chars, q in ((2, "99"), (3, "999"), (12, "person 99999"[: 12])):
            row[f"{key}_q{chars}_ms"] = median_ms(port, f"/api/people?q={q.replace(' ', '+')}&limit=50")
        row[f"{key}_offset_last_ms"] = median_ms(port, f"/api/people?offset={n - 50}&limit=50")
        _, text = request(port, "GET", f"/api/people?offset={n - 51}&limit=1")
        doc = json.loads(text)
        if "next" in doc:
            row[f"{key}_keyset_last_ms"] = median_ms(port, f"/api/people?after={doc['next']}&limit=50")
    finally:
        stop_server(proc)


def npy_compare(args, n, scratch):
    """The .npy import of N rows by each server (and its searches with --search), in turn, same files."""
    row = {"N": n}
    npy, names = os.path.join(scratch, f"faces-{n}.npy"), os.path.join(scratch, f"names-{n}.txt")
    write_npy(npy, names, n)
    servers = [("new", args.server)] + ([("base", args.baseline_server)] if args.baseline_server else [])
    try:
        for key, server in servers:
            data = os.path.join(scratch, f"npy-{key}-{n}")
            timed_import(argparse.Namespace(server=server), row, key, ["--data", data, npy, "--names", names], n)
            if args.search:
                search_timings(server, data, n, row, key)
            shutil.rmtree(data, ignore_errors=True)
    finally:
        os.remove(npy)
        os.remove(names)
    return row


def api_search_timings(port, n, row, count=200):
    """POST /api/search of `count` encodings near rows of the gallery (one a request, k = 1): p50, p99 ms, and how
    many answers are the brute force's nearest (name and distance within 1e-5). Rows are pool[i % len(pool)]
    named "person i", so the nearest of a pool vector's neighbour is the lowest row holding the nearest pool vector."""
    import json
    pool = encoding_pool()
    rng = random.Random(11)
    times, exact = [], 0
    for i in range(count):
        j = rng.randrange(min(n, len(pool)))
        q = [v + rng.gauss(0, 0.02) for v in pool[j]]
        best, best_d = None, None
        for r, e in enumerate(pool[: min(n, len(pool))]):
            d = sum((a - b) * (a - b) for a, b in zip(q, e))
            if best_d is None or d < best_d:
                best, best_d = r, d
        body = json.dumps({"encodings": [q], "k": 1}).encode()
        t = time.perf_counter()
        status, text = request(port, "POST", "/api/search", body, "application/json")
        times.append(time.perf_counter() - t)
        assert status == 200, (status, text[:200])
        got = json.loads(text)["results"][0][0]
        if got["name"] == f"person {best}" and abs(got["distance"] - math.sqrt(best_d)) <= 1e-5:
            exact += 1
    row["search_p50_ms"] = 1000 * percentile(times, 50)
    row["search_p99_ms"] = 1000 * percentile(times, 99)
    row["search_exact"] = f"{exact}/{count}"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(args, n, photo, scratch):
    data = os.path.join(scratch, f"data-{n}")
    row = {"N": n}
    if n and args.npy_source:
        npy, names = os.path.join(scratch, f"faces-{n}.npy"), os.path.join(scratch, f"names-{n}.txt")
        write_npy(npy, names, n)
        timed_import(args, row, "npy_import", ["--data", data, npy, "--names", names], n)
        os.remove(npy)
        os.remove(names)
    elif n:
        src = os.path.join(scratch, f"faces-{n}.csv")
        write_csv(src, n)
        timed_import(args, row, "import", ["--data", data, src], n)
        os.remove(src)
        npy, names = os.path.join(scratch, f"faces-{n}.npy"), os.path.join(scratch, f"names-{n}.txt")
        write_npy(npy, names, n)
        npy_data = os.path.join(scratch, f"npy-data-{n}")
        timed_import(args, row, "npy_import", ["--data", npy_data, npy, "--names", names], n)
        os.remove(npy)
        os.remove(names)
        shutil.rmtree(npy_data, ignore_errors=True)
    if args.imports_only:
        shutil.rmtree(data, ignore_errors=True)
        return row
    t0 = time.perf_counter()
    proc = subprocess.Popen([args.server, "--port", "0", "--data", data, *args.server_arg], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        line = b""
        while b"\n" not in line:
            ready, _, _ = select.select([proc.stdout], [], [], 600)
            if not ready:
                raise RuntimeError("faceapp-web did not start in 600 s")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"faceapp-web exited: {line!r}")
            line += chunk
        port = int(line.decode().split("listening on http://")[1].split("/")[0].rsplit(":", 1)[1])
        status, _ = request(port, "GET", "/api/faces?limit=1")
        row["start_s"] = time.perf_counter() - t0
        row["start_cpu_s"] = cpu_s(proc.pid)
        assert status == 200, status
        # Warm up: each worker thread makes its own copy of the models on its first image.
        for _ in range(2 * (os.cpu_count() or 1)):
            request(port, "POST", "/api/compare", *multipart([], [("a", "a.jpg", photo), ("b", "b.jpg", photo)]))
        adds, recognizes = [], []
        for i in range(30):
            body, ctype = multipart([("name", f"added {i}")], [("image", "photo.jpg", photo)])
            t = time.perf_counter()
            status, text = request(port, "POST", "/api/faces", body, ctype)
            adds.append(time.perf_counter() - t)
            assert status == 201, (status, text[:200])
        for i in range(30):
            body, ctype = multipart([], [("image", "photo.jpg", photo)])
            t = time.perf_counter()
            status, text = request(port, "POST", "/api/recognize", body, ctype)
            recognizes.append(time.perf_counter() - t)
            assert status == 200 and b'"added ' in text, (status, text[:200])
        row["add_p50_ms"] = 1000 * percentile(adds, 50)
        row["add_p99_ms"] = 1000 * percentile(adds, 99)
        row["rec_p50_ms"] = 1000 * percentile(recognizes, 50)
        row["rec_p99_ms"] = 1000 * percentile(recognizes, 99)
        if args.api_search and n:
            api_search_timings(port, n, row)
        row["rss_mb"] = rss_mb(proc.pid)
        status, page = request(port, "GET", "/")
        row["page_kb"] = len(page) / 1024
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    row["db_mb"] = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)
                       if f.startswith("faceapp.db")) / 2**20
    shutil.rmtree(data, ignore_errors=True)
    return row


def cpu_s(pid):
    """User + system CPU seconds of a running process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="the faceapp-web executable")
    parser.add_argument("--photo", required=True, help="a small photo with one face")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="gallery sizes, comma-separated")
    parser.add_argument("--imports-only", action="store_true", help="only the CSV and .npy imports of each N")
    parser.add_argument("--npy-only", action="store_true", help="only the .npy import of each N (see --baseline-server)")
    parser.add_argument("--baseline-server", default=None, help="another faceapp-web measured in the same run")
    parser.add_argument("--search", action="store_true", help="with --npy-only: time name searches and last pages")
    parser.add_argument("--api-search", action="store_true", help="time POST /api/search and check its answers")
    parser.add_argument("--npy-source", action="store_true", help="serve the .npy import's gallery; no CSV import")
    parser.add_argument("--server-arg", action="append", default=[], help="an argument for the measured server")
    parser.add_argument("--scratch", default=None, help="where to put the data directories (default: a temp dir)")
    args = parser.parse_args()
    with open(args.photo, "rb") as f:
        photo = f.read()
    scratch = tempfile.mkdtemp(prefix="faceapp-scale-", dir=args.scratch)
    if args.npy_only:
        try:
            rows = []
            for n in [int(s) for s in args.sizes.split(",") if s]:
                print(f"N = {n} (load average {os.getloadavg()[0]:.1f}) ...", file=sys.stderr, flush=True)
                rows.append(npy_compare(args, n, scratch))
                print(rows[-1], file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        keys = ["new"] + (["base"] if args.baseline_server else [])
        print("| N | server | .npy import s (rows/s; CPU s) | import rows/s vs baseline |"
              + (" q 2 / 3 / 12 chars ms | last page offset / keyset ms |" if args.search else ""))
        print("|---|---|---|---|" + ("---|---|" if args.search else ""))
        for r in rows:
            for k in keys:
                ratio = (f"{r[k + '_rows_s'] / r['base_rows_s']:.2f}x" if args.baseline_server else "-")
                line = (f"| {r['N']:,} | {'this' if k == 'new' else 'baseline'} | {r[k + '_s']:.2f} "
                        f"({r[k + '_rows_s']:,.0f}; {r[k + '_cpu_s']:.1f}) | {ratio} |")
                if args.search:
                    keyset = f"{r[k + '_keyset_last_ms']:.1f}" if k + "_keyset_last_ms" in r else "-"
                    line += (f" {r[k + '_q2_ms']:.1f} / {r[k + '_q3_ms']:.1f} / {r[k + '_q12_ms']:.1f} "
                             f"| {r[k + '_offset_last_ms']:.1f} / {keyset} |")
                print(line)
        return
    try:
        rows = []
        for n in [0] + [int(s) for s in args.sizes.split(",") if s]:
            print(f"N = {n} (load average {os.getloadavg()[0]:.1f}) ...", file=sys.stderr, flush=True)
            rows.append(measure(args, n, photo, scratch))
            print(rows[-1], file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.imports_only:
        print("| N | CSV import s (rows/s; CPU s) | .npy import s (rows/s; CPU s) |")
        print("|---|---|---|")
        for r in rows[1:]:
            print(f"| {r['N']:,} | {r['import_s']:.1f} ({r['import_rows_s']:,.0f}; {r['import_cpu_s']:.1f}) "
                  f"| {r['npy_import_s']:.2f} ({r['npy_import_rows_s']:,.0f}; {r['npy_import_cpu_s']:.1f}) |")
        return
    base = rows[0]
    print("| N | import s (rows/s; CPU s) | .npy import s (rows/s; CPU s) | start to first answer s (CPU s) | RSS MB "
          "| DB MB | add p50 / p99 ms (p99 vs empty) | recognize p50 / p99 ms (p99 - empty) | main page KB |"
          + (" /api/search p50 / p99 ms (exact) |" if args.api_search else ""))
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if args.api_search else ""))
    for r in rows:
        imp = (f"{r['import_s']:.1f} ({r['import_rows_s']:,.0f}; {r['import_cpu_s']:.1f})" if "import_s" in r
               else "-")
        npy = (f"{r['npy_import_s']:.2f} ({r['npy_import_rows_s']:,.0f}; {r['npy_import_cpu_s']:.1f})" if r["N"]
               else "-")
        print(f"| {r['N']:,} | {imp} | {npy} | {r['start_s']:.2f} ({r['start_cpu_s']:.2f}) | {r['rss_mb']:.0f} | {r['db_mb']:.0f} "
              f"| {r['add_p50_ms']:.0f} / {r['add_p99_ms']:.0f} ({r['add_p99_ms'] / base['add_p99_ms']:.2f}x) "
              f"| {r['rec_p50_ms']:.0f} / {r['rec_p99_ms']:.0f} ({r['rec_p99_ms'] - base['rec_p99_ms']:+.0f}) "
              f"| {r['page_kb']:.1f} |"
              + ((f" {r['search_p50_ms']:.1f} / {r['search_p99_ms']:.1f} ({r['search_exact']}) |" if r["N"] else " - |")
                 if args.api_search else ""))
    print(f"\nload average at the end: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
