"""faceapp-web on several machines, on one: two servers sharing a throwaway PostgreSQL cluster, behind a throwaway
nginx. The nginx configuration is deploy/nginx/faceapp.conf with only its addresses, ports and certificate paths
replaced (a self-signed certificate made here), and each server runs with the arguments of the ExecStart= line of
deploy/systemd/faceapp-web.service (its paths, address and port replaced), so both deployed files are the ones
tested. Checks:

- a database with a newer schema is refused at start;
- an add on server A is used by a recognize on server B 1 s later; a delete on B stops the matches on A;
- 32 clients x 50 compares through nginx, spread over both servers: 0 failures, exactly 1600 new records, the
  same from either server, each answered compare recorded once;
- kill -9 of one server in the middle of a load: every answered compare is recorded, and requests go on through
  the other server;
- PostgreSQL stopped: 503 with a generic JSON error, /readyz 503 with why, /healthz 200; restarted: the servers
  reconnect and follow changes again, without a restart, and /readyz is 200;
- PostgreSQL restarted under 8 clients: every compare answered 200 has exactly one record, the others are 503.

Everything runs on 127.0.0.1 and is removed at the end. As root (CI), PostgreSQL and nginx run as `nobody`."""

import http.client
import os
import re
import subprocess
import threading
import time

import cluster
from cluster import (Nginx, Node, Postgres, free_port, node_command, own_dir, recognized_names, record_rows, request,
                     unprivileged)
from webtest import Checks, json_error, parse_args, read, require

args = parse_args(__doc__)
check = Checks()
cluster.setup(args.server)

faces = args.faces
obama_1, obama_2 = read(os.path.join(faces, "obama_1.jpg")), read(os.path.join(faces, "obama_2.jpg"))
small = {f: read(os.path.join(faces, f)) for f in ["obama_1.jpg", "amy_1.png", "sheldon_2.png", "penny_3.png"]}
small_names = sorted(small)


def load(port, clients, per_client, tag, on_the_way=None):
    """clients x per_client POST /api/compare through nginx, each with photo names unique to it. Returns
    ({input label of each answered compare}, [failures], [(start time, ok)])."""
    answered, failures, log = set(), [], []
    lock = threading.Lock()

    def client(k):
        for i in range(per_client):
            a, b = small_names[(k + i) % len(small_names)], small_names[(k + 2 * i + 1) % len(small_names)]
            na, nb = f"{tag}-{k}-{i}-a-{a}", f"{tag}-{k}-{i}-b-{b}"
            started = time.time()
            try:
                r = request(port, "POST", "/api/compare", files=[("a", na, small[a]), ("b", nb, small[b])], tls=True)
                ok = r.status == 200 and "distance" in r.json()
                what = f"{r.status} {r.body[:150]!r}"
            except Exception as e:  # noqa: BLE001 - any failure counts
                ok, what = False, repr(e)
            with lock:
                log.append((started, ok))
                if ok:
                    answered.add((na, nb))
                else:
                    failures.append(f"client {k} request {i}: {what}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    if on_the_way:
        on_the_way(log)
    for t in threads:
        t.join()
    return answered, failures, log


def cpu_seconds(node):
    with open(f"/proc/{node.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def recorded_pairs(rows, tag):
    """(name a, name b) of each record row of the load `tag`, with repeats."""
    out = []
    for row in rows:
        m = re.fullmatch(r"sha256:[0-9a-f]{64} \((\S+)\) vs sha256:[0-9a-f]{64} \((\S+)\)", row[1])
        if m and m.group(1).startswith(tag + "-"):
            out.append((m.group(1), m.group(2)))
    return out


pg = nginx = None
nodes = []
started = time.time()
try:
    pg = Postgres()
    pg.start()
    pg.psql("CREATE DATABASE faceapp", db="postgres")

    # A database whose schema is newer than the server knows: refused at start, naming it.
    a = Node("a", pg.url, free_port()).start()
    nodes.append(a)
    pg.psql("INSERT INTO schema_version (version) VALUES (99)")
    refused = subprocess.run(node_command(pg.url, free_port(), own_dir("node-new")), capture_output=True, text=True,
                             timeout=120, preexec_fn=unprivileged, cwd=cluster.WORK)
    check(refused.returncode != 0 and "schema version 99" in refused.stderr and "newer" in refused.stderr,
          f"a newer schema is refused at start: {refused.returncode} {refused.stderr[-300:]!r}")
    pg.psql("DELETE FROM schema_version WHERE version = 99")

    b = Node("b", pg.url, free_port()).start()
    nodes.append(b)
    nginx = Nginx([a.port, b.port])
    print(f"postgres :{pg.port}, nodes :{a.port} :{b.port}, nginx https :{nginx.https_port} "
          f"({time.time() - started:.1f} s)", flush=True)
    conn = http.client.HTTPSConnection("127.0.0.1", nginx.https_port, timeout=30, context=cluster.TLS)
    try:
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        answer.read()
        check(answer.status == 200 and answer.getheader("Strict-Transport-Security", "").startswith("max-age=")
              and answer.getheader("Server") == "nginx",
              f"through nginx: HSTS, and no version in Server ({answer.status} {answer.getheaders()})")
    finally:
        conn.close()

    # An add on A is used on B 1 s later; a delete on B stops the matches on A.
    r = request(a.port, "POST", "/api/faces", fields=[("name", "obama")], files=[("image", "obama_1.jpg", obama_1)])
    require(r.status == 201, f"add on A: {r.status} {r.body[:200]}")
    added_id = r.json()["id"]
    added_at = time.time()
    time.sleep(max(0.0, added_at + 1.0 - time.time()))
    check(recognized_names(b.port, obama_2, "obama_2.jpg") == ["obama"], "an add on A is recognized on B after 1 s")
    check(request(b.port, "GET", f"/api/faces/{added_id}/thumbnail").status in (200, 404), "B answers for the face")
    r = request(b.port, "DELETE", f"/api/faces/{added_id}")
    check(r.status == 200, f"delete on B: {r.status} {r.body[:200]}")
    time.sleep(1.0)
    check(recognized_names(a.port, obama_2, "obama_2.jpg") == [None], "a delete on B stops the matches on A after 1 s")

    # 32 clients x 50 compares through nginx: no failure, exactly 1600 new records, on both servers alike.
    before = len(record_rows(a.port))
    cpu_before = [cpu_seconds(n) for n in (a, b)]
    t0 = time.time()
    answered, failures, _ = load(nginx.https_port, 32, 50, "load")
    elapsed = time.time() - t0
    rows_a, rows_b = record_rows(a.port), record_rows(nginx.https_port, tls=True)
    pairs = recorded_pairs(rows_a, "load")
    print(f"load: 32 x 50 compares through nginx in {elapsed:.1f} s ({1600 / elapsed:.1f}/s), {len(failures)} "
          f"failures, {len(rows_a) - before} new records", flush=True)
    for f in failures[:5]:
        print("  ", f)
    check(not failures, f"0 failures under load ({len(failures)})")
    check(len(rows_a) - before == 1600, f"exactly 1600 new records ({len(rows_a) - before})")
    check(rows_a == rows_b and rows_a == record_rows(b.port), "the same records from either server")
    check(len(pairs) == len(set(pairs)) and set(pairs) == answered, "each answered compare recorded exactly once")
    cpu = [cpu_seconds(n) - c for n, c in zip((a, b), cpu_before)]
    check(min(cpu) > 0.25 * max(cpu), f"nginx spread the load over both servers (CPU seconds {cpu[0]:.1f}, {cpu[1]:.1f})")

    # kill -9 of one server in the middle of a load: nothing answered is lost, the rest goes through the other.
    kill_at = []

    def kill_b(log):
        # A quarter of the way through, whatever the machine's speed (a fixed delay let a fast machine finish first).
        deadline = time.time() + 30.0
        while len(log) < 8 * 16 // 4 and time.time() < deadline:
            time.sleep(0.02)
        kill_at.append(time.time())
        b.kill9()

    answered, failures, log = load(nginx.https_port, 8, 16, "kill", on_the_way=kill_b)
    # Requests started a second after the kill, during the load and after it: all must go through A.
    late = [ok for t, ok in log if t > kill_at[0] + 1.0]
    time.sleep(max(0.0, kill_at[0] + 1.0 - time.time()))
    for i in range(6):
        try:
            r = request(nginx.https_port, "POST", "/api/compare", tls=True,
                        files=[("a", f"kill-after-{i}-a", small[small_names[0]]),
                               ("b", f"kill-after-{i}-b", small[small_names[1]])])
            late.append(r.status == 200 and "distance" in r.json())
        except Exception:  # noqa: BLE001 - any failure counts
            late.append(False)
    pairs = set(recorded_pairs(record_rows(a.port), "kill"))
    print(f"kill -9 under load: {len(answered)} answered, {len(failures)} failed "
          f"(in flight at the kill), {len(late)} requests after it", flush=True)
    for f in failures[:5]:
        print("  ", f)
    check(answered <= pairs, f"every answered compare is recorded ({len(answered - pairs)} missing)")
    check(len(failures) <= 8, f"at most the requests in flight at the kill failed ({len(failures)})")
    check(late and all(late), f"requests after the kill go through the other server ({late.count(False)} failed)")

    # PostgreSQL away: 503 with a JSON error; back: the servers resynchronise without a restart.
    pg.stop()
    r = request(a.port, "POST", "/api/faces", fields=[("name", "biden")], files=[("image", "obama_1.jpg", obama_1)])
    check(r.status == 503 and json_error(r.body), f"an add while the database is away: 503 JSON ({r.status} {r.body[:200]})")
    check(f":{pg.port}".encode() not in r.body and b"127.0.0.1" not in r.body,
          f"the 503 names neither the database's host nor its port (they are in the log): {r.body[:200]}")
    r = request(a.port, "GET", "/readyz")
    check(r.status == 503 and b"database" in r.body,
          f"/readyz while the database is away: 503 with why ({r.status} {r.body!r})")
    check(request(a.port, "GET", "/healthz").status == 200, "/healthz while the database is away: 200 (it runs)")
    r = request(a.port, "POST", "/api/compare", files=[("a", "x.jpg", obama_1), ("b", "y.jpg", obama_2)])
    check(r.status == 503 and json_error(r.body), f"a compare (its record) while away: 503 JSON ({r.status})")
    r = request(nginx.https_port, "POST", "/api/recognize", files=[("image", "o.jpg", obama_2)], tls=True)
    check(r.status == 503 and json_error(r.body), f"a recognize through nginx while away: 503 ({r.status})")
    check(request(a.port, "GET", "/api/records").status == 503, "the records while away: 503")
    r = request(a.port, "POST", "/faces", fields=[("name", "biden")], files=[("image", "obama_1.jpg", obama_1)])
    check(r.status == 503 and b"<form" in r.body, f"the main page's add while away: 503 page ({r.status})")
    r = request(a.port, "GET", "/")
    check(r.status == 503 and b"<form" in r.body, f"the main page while away: 503 page ({r.status})")
    r = request(a.port, "POST", "/faceapp", fields=[("tolerance", "0.6")],
                files=[("a", "x.jpg", obama_1), ("b", "y.jpg", obama_2)])
    check(r.status == 503 and b"<form" in r.body, f"the faceapp page's compare while away: 503 page ({r.status})")
    pg.start()
    b = Node("b2", pg.url, b.port).start()  # the killed server comes back (systemd's Restart=always)
    nodes.append(b)
    deadline = time.time() + 15
    while True:
        r = request(a.port, "POST", "/api/faces", fields=[("name", "obama")], files=[("image", "obama_1.jpg", obama_1)])
        if r.status == 201 or time.time() > deadline:
            break
        time.sleep(0.2)
    check(r.status == 201, f"A works again once the database is back, without a restart ({r.status} {r.body[:200]})")
    ready = request(a.port, "GET", "/readyz")
    check(ready.status == 200 and ready.body == b"ready\n",
          f"/readyz once it is back: 200 ({ready.status} {ready.body!r})")
    time.sleep(1.0)
    check(recognized_names(b.port, obama_2, "obama_2.jpg") == ["obama"], "B sees A's add after the restart")
    # A's follower reconnected too: a change made on B reaches A.
    r = request(b.port, "DELETE", f"/api/faces/{r.json()['id']}")
    check(r.status == 200, "delete on B after the restart")
    time.sleep(1.0)
    check(recognized_names(a.port, obama_2, "obama_2.jpg") == [None], "A follows B's changes after the restart")
    check(not [row for row in record_rows(a.port) if "(x.jpg) vs" in row[1]],
          "the compare answered 503 left no record")

    # PostgreSQL restarted under 8 clients: every compare answered 200 has exactly one record; the others are
    # 503 (retryable), and the load goes on once it is back.
    restarted = []

    def restart_pg(_log):
        time.sleep(1.5)
        pg.stop()
        restarted.append(time.time())
        time.sleep(1.0)
        pg.start()
        restarted.append(time.time())

    answered, failures, log = load(nginx.https_port, 8, 15, "pgrestart", on_the_way=restart_pg)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            rows = record_rows(a.port)
            break
        except Exception:  # noqa: BLE001 - the records while the servers reconnect
            time.sleep(0.3)
    pairs = recorded_pairs(rows, "pgrestart")
    other = [f for f in failures if " 503 " not in f]
    print(f"PostgreSQL restarted under 8 clients: {len(answered)} compares answered 200, {len(failures)} refused "
          f"({len(other)} not 503), {len(pairs)} records", flush=True)
    check(answered and all(pairs.count(p) == 1 for p in answered),
          f"every compare answered 200 has exactly one record ({sum(1 for p in answered if pairs.count(p) != 1)} "
          f"do not)")
    check(len(pairs) == len(set(pairs)), f"no compare is recorded twice ({len(pairs) - len(set(pairs))})")
    check(not other, f"the refusals are 503s ({other[:3]})")
    # And the service is back with the database: after the load (which may end before PostgreSQL is up again), the
    # first compare through nginx that is answered comes within 15 s of the restart, and the four after it are too.
    back_at = None
    while restarted and back_at is None and time.time() < restarted[-1] + 15:
        if load(nginx.https_port, 1, 1, "pgback")[0]:
            back_at = time.time()
        else:
            time.sleep(0.2)
    after = load(nginx.https_port, 1, 4, "pgafter")[0] if back_at else set()
    check(back_at is not None and len(after) == 4,
          f"once PostgreSQL is back, compares are answered again: the first "
          f"{'never' if back_at is None else f'{back_at - restarted[-1]:.1f} s after the restart'}, then "
          f"{len(after)} of 4")
    check(a.proc.poll() is None, "A ran through it all")
    print(f"total {time.time() - started:.1f} s", flush=True)
except Exception:
    for n in nodes:
        print(f"--- node {n.name} output:\n{''.join(n.output)[-3000:]}")
    if nginx:
        print(f"--- nginx errors:\n{nginx.errors()}")
    raise
finally:
    for n in nodes:
        n.stop()
    if nginx:
        nginx.stop()
    if pg:
        pg.stop()
    cluster.cleanup()

check.done()
