"""faceapp-web under load: 32 concurrent clients x 50 POST /api/compare with real photos. Every request is answered
with 200, exactly 1600 rows are recorded (one per compare, none torn, each with the hashes of its two photos), and
the server's resident memory afterwards stays under 500 MB. Prints the figures."""

import hashlib
import os
import threading
import time

from webtest import Checks, Server, parse_args, read, records

CLIENTS = 32
REQUESTS = 50
RSS_LIMIT_MB = 500

args = parse_args(__doc__)
check = Checks()

# Small real photos, so that the test measures the server and not the detector on large images.
files = ["obama_1.jpg", "amy_1.png", "sheldon_2.png", "penny_3.png", "leonard_1.png", "howard_1.png"]
photos = {f: read(os.path.join(args.faces, f)) for f in files}
digests = {f: hashlib.sha256(b).hexdigest() for f, b in photos.items()}

server = Server(args.server).start()
try:
    rows_before = len(records(server))
    rss_start, _ = server.rss_mb()
    failures = []
    expected_inputs = {}
    lock = threading.Lock()

    def client(k):
        for i in range(REQUESTS):
            a = files[(k + i) % len(files)]
            b = files[(k + 2 * i + 1) % len(files)]
            try:
                r = server.post("/api/compare", files=[("a", a, photos[a]), ("b", b, photos[b])])
                ok = r.status == 200 and set(r.json()) >= {"distance", "match", "similarity", "faces_a", "faces_b"}
                if not ok:
                    raise RuntimeError(f"{r.status} {r.body[:200]}")
            except Exception as e:  # noqa: BLE001 - any failure counts
                with lock:
                    failures.append(f"client {k} request {i}: {e}")
                continue
            key = f"sha256:{digests[a]} ({a}) vs sha256:{digests[b]} ({b})"
            with lock:
                expected_inputs[key] = expected_inputs.get(key, 0) + 1

    start = time.time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - start

    rows = records(server)
    new = rows[rows_before:]
    recorded_inputs = {}
    for row in new:
        recorded_inputs[row[1]] = recorded_inputs.get(row[1], 0) + 1
    rss, peak = server.rss_mb()
    total = CLIENTS * REQUESTS
    print(f"load: {CLIENTS} clients x {REQUESTS} POST /api/compare = {total} requests in {elapsed:.1f} s "
          f"({total / elapsed:.1f} requests/s), {len(failures)} failures, {len(new)} new records; "
          f"server RSS {rss_start:.0f} MB before, {rss:.0f} MB after, peak {peak:.0f} MB", flush=True)
    for f in failures[:10]:
        print("  ", f)
    check(not failures, f"zero failures ({len(failures)})")
    check(len(new) == total, f"exactly {total} new records ({len(new)})")
    check(recorded_inputs == expected_inputs, "each compare recorded exactly once, naming its two photos")
    check(rss < RSS_LIMIT_MB, f"resident memory after the load {rss:.0f} MB < {RSS_LIMIT_MB} MB")
    check(server.proc.poll() is None, "the server is still running")
finally:
    server.cleanup()

check.done()
