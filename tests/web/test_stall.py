"""faceapp-web under a stalled transaction: another session holds faceapp's write lock (pg_advisory_xact_lock, as
a node paused mid-add or an operator's open transaction does) for 40 s. Meanwhile recognize keeps answering 200
from the gallery (the change feed never waits for the lock, and no local mutex is held across a database wait),
/readyz stays 200, and every add and delete answers 503 (retryable) within 10 s (lock_timeout) and changes
nothing; once the lock is gone an add answers 201 at once, and is recognized. Then the node itself is stopped
(SIGSTOP) for longer than --max-staleness and resumed: ready again at once. One throwaway PostgreSQL cluster and
one server with the systemd unit's arguments (tests/web/cluster.py)."""

import os
import signal
import subprocess
import time

import cluster
from cluster import Node, Postgres, free_port, pg_bin, recognized_names, request, unprivileged
from webtest import Checks, json_error, parse_args, read

WRITE_LOCK = 7234307576302018672  # store/pg_store.hpp's transaction
HOLD_S = 40

args = parse_args(__doc__)
check = Checks()
cluster.setup(args.server)
obama_1, obama_2 = read(os.path.join(args.faces, "obama_1.jpg")), read(os.path.join(args.faces, "obama_2.jpg"))
biden = read(os.path.join(args.faces, "biden_1.jpg"))

pg = node = holder = None
try:
    pg = Postgres()
    pg.start()
    pg.psql("CREATE DATABASE faceapp", db="postgres")
    node = Node("a", pg.url, free_port()).start()
    r = request(node.port, "POST", "/api/faces", fields=[("name", "obama")], files=[("image", "o.jpg", obama_1)])
    check(r.status == 201, f"an add before the stall: {r.status}")

    # Another session takes the write lock and keeps its transaction open (a running statement, so no idle
    # timeout of the server ends it) for HOLD_S seconds.
    hold = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK}); SELECT pg_sleep({HOLD_S}); COMMIT;"
    holder = subprocess.Popen([pg_bin("psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "faceapp", "-d",
                               "faceapp", "-v", "ON_ERROR_STOP=1", "-c", hold],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=unprivileged,
                              cwd=cluster.WORK)
    deadline = time.time() + 10
    while time.time() < deadline and pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                                             "granted") != "1":
        time.sleep(0.05)
    held_from = time.time()
    check(held_from < deadline, "the other session holds the write lock")

    t0 = time.time()
    r = request(node.port, "DELETE", "/api/faces/1")
    deleted = (r.status, time.time() - t0)
    adds, recognizes, ready = [], [], []
    while time.time() < held_from + HOLD_S - 8:  # an iteration takes up to lock_timeout plus two encodings
        t0 = time.time()
        r = request(node.port, "POST", "/api/faces", fields=[("name", "biden")], files=[("image", "b.jpg", biden)])
        adds.append((r.status, time.time() - t0, json_error(r.body) or ""))
        t0 = time.time()
        names = recognized_names(node.port, obama_2, "obama_2.jpg")
        recognizes.append((names, time.time() - t0, time.time() - held_from))
        ready.append(request(node.port, "GET", "/readyz").status)
    still_held = holder.poll() is None
    check(still_held, "the lock was held throughout")

    slowest_add = max(t for _, t, _ in adds)
    print(f"{len(adds)} adds under the lock: statuses {sorted({s for s, _, _ in adds})}, slowest {slowest_add:.2f} s; "
          f"{len(recognizes)} recognizes, slowest {max(t for _, t, _ in recognizes):.2f} s, the last at "
          f"{recognizes[-1][2]:.1f} s into the stall", flush=True)
    check(adds and all(s == 503 for s, _, _ in adds), f"every add under the lock: 503 ({[s for s, _, _ in adds]})")
    check(slowest_add < 10, f"each within 10 s (slowest {slowest_add:.2f} s)")
    check(all("try again" in m and "127.0.0.1" not in m for _, _, m in adds),
          f"a retryable, generic 503 ({adds[0][2]!r})")
    check(deleted[0] == 503 and deleted[1] < 10, f"a delete under the lock: 503 within 10 s ({deleted})")
    check(all(n == ["obama"] for n, _, _ in recognizes),
          f"every recognize under the lock answers 200 with the known face ({[n for n, _, _ in recognizes]})")
    check(recognizes[-1][2] > 30, f"recognize still answers {recognizes[-1][2]:.0f} s into the stall, far past "
                                  f"--max-staleness")
    check(all(s == 200 for s in ready), f"/readyz stays 200 under the lock ({ready})")

    holder.wait(HOLD_S + 10)
    t0 = time.time()
    r = request(node.port, "POST", "/api/faces", fields=[("name", "biden")], files=[("image", "b.jpg", biden)])
    check(r.status == 201, f"once the lock is gone an add answers 201 ({r.status} {r.body[:200]})")
    check(time.time() - t0 < 5, f"at once ({time.time() - t0:.2f} s)")
    check(pg.psql("SELECT count(*) FROM people WHERE name = 'biden'") == "1",
          "the adds refused under the lock left nothing behind")
    check(recognized_names(node.port, biden, "biden_1.jpg") == ["biden"], "and the new face is recognized")

    # The node itself stopped (SIGSTOP) for longer than --max-staleness, then resumed: it catches up at once.
    node.proc.send_signal(signal.SIGSTOP)
    time.sleep(6)
    node.proc.send_signal(signal.SIGCONT)
    t0 = time.time()
    while time.time() - t0 < 5 and request(node.port, "GET", "/readyz").status != 200:
        time.sleep(0.1)
    caught_up = time.time() - t0
    check(caught_up < 4, f"resumed after 6 s stopped: ready again in {caught_up:.2f} s (at most 4)")
    check(recognized_names(node.port, obama_2, "obama_2.jpg") == ["obama"], "and recognizes")
    r = request(node.port, "POST", "/api/faces", fields=[("name", "obama 2")], files=[("image", "o.jpg", obama_2)])
    check(r.status == 201, f"and adds ({r.status})")
except Exception:
    if node:
        print(f"--- node output:\n{''.join(node.output)[-3000:]}")
    raise
finally:
    if holder and holder.poll() is None:
        holder.kill()
    if node:
        node.stop()
    if pg:
        pg.stop()
    cluster.cleanup()

check.done()
