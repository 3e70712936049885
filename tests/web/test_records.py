"""GET /api/records streamed: a chunked answer written as the records are read, from results.csv and from
`--db sqlite:PATH`'s results table; HEAD is the head alone; `?since=` keeps the records at or after an ISO-8601
UTC time (a record exactly at it is in, one a second before it, or a millisecond, is out) and refuses a bad value
with 400. A client that goes away in the middle of a large answer leaves the server answering. Real recognizes
of tests/data's photos make the records; the large table is those rows repeated."""

import csv
import datetime
import io
import os
import socket
import sqlite3
import tempfile
import time
import urllib.parse

from webtest import Checks, RECORD_HEADER, Server, json_error, parse_args, read, require

args = parse_args(__doc__)
check = Checks()


def photo(name):
    return read(os.path.join(args.faces, name))


def rows_of(r):
    rows = list(csv.reader(io.StringIO(r.text)))
    require(rows and rows[0] == RECORD_HEADER, f"records start with the header: {r.body[:120]}")
    return rows[1:]


def shifted(stamp, **delta):
    t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ") + datetime.timedelta(**delta)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def since(server, value):
    return server.get("/api/records?since=" + urllib.parse.quote(value))


def checks_on(server, where):
    # Two recognizes more than a second apart, so that "a second before" has a record on each side.
    for i, name in enumerate(("obama_1.jpg", "biden_1.jpg")):
        if i:
            time.sleep(1.1)
        r = server.post("/api/recognize", files=[("image", name, photo(name))])
        require(r.status == 200, f"{where}: recognize {name}: {r.status}")
    r = server.get("/api/records")
    check(r.status == 200 and r.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in r.headers,
          f"{where}: GET is streamed (chunked, no Content-Length): {r.headers}")
    rows = rows_of(r)
    check(len(rows) == 2, f"{where}: one row per photo: {rows}")
    first, second = rows[0][0], rows[1][0]
    require(shifted(first, seconds=1) <= second, f"{where}: the records are a second apart: {first} {second}")

    # ---- since: exactly at a record's time it is in; a millisecond or a second later it is out ----
    check(rows_of(since(server, first)) == rows, f"{where}: since = the first record's time: both")
    check(rows_of(since(server, shifted(first, milliseconds=1))) == rows[1:],
          f"{where}: since one millisecond after the first: the second alone")
    check(rows_of(since(server, shifted(first, seconds=1))) == rows[1:],
          f"{where}: since one second after the first (it is a second before since): the second alone")
    check(rows_of(since(server, second)) == rows[1:], f"{where}: since = the second's time: the second")
    check(rows_of(since(server, shifted(second, milliseconds=1))) == [], f"{where}: after the last: the header alone")
    check(rows_of(since(server, first[:10])) == rows, f"{where}: since the day (a date alone): both")
    sub_ms = first[:-1] + "0001Z"  # a tenth of a microsecond after the first record: it is out
    check(rows_of(since(server, sub_ms)) == rows[1:], f"{where}: since a fraction after the first: {sub_ms}")
    for bad in ("yesterday", "2026-13-01", first[:-1], ""):
        r = since(server, bad)
        check(r.status == 400 and "since" in (json_error(r.body) or ""), f"{where}: since={bad!r}: 400: {r.body[:200]}")

    # ---- HEAD: the head alone ----
    r = server.request("HEAD", "/api/records")
    check(r.status == 200 and r.body == b"" and r.headers.get("Content-Type", "").startswith("text/csv"),
          f"{where}: HEAD: 200, text/csv, no body: {r.status} {r.headers}")
    return rows


# ---- results.csv ----
server = Server(args.server).start()
try:
    checks_on(server, "results.csv")
finally:
    server.cleanup()

# ---- --db sqlite:PATH, then a large table and a client that goes away in the middle of it ----
scratch = tempfile.mkdtemp(prefix="faceapp-records-test-")
db = os.path.join(scratch, "faces.db")
server = Server(args.server, extra=["--db", f"sqlite:{db}"]).start()
try:
    rows = checks_on(server, "--db sqlite")
finally:
    server.stop()
with sqlite3.connect(db) as c:  # 200 000 more rows, copies of the two: about 30 MB of CSV
    columns = ",".join(name for _, name, *_ in c.execute("PRAGMA table_info(results)") if name != "id")
    got = c.execute(f"SELECT {columns} FROM results ORDER BY id").fetchall()
    c.executemany(f"INSERT INTO results ({columns}) VALUES ({','.join('?' * len(got[0]))})",
                  [got[i % len(got)] for i in range(200_000)])
# --http-threads 4: one answer streamed at a time (a quarter of the handlers), so a writer a hang-up left behind
# would refuse every later download.
server = Server(args.server, data_dir=server.data_dir, extra=["--db", f"sqlite:{db}", "--http-threads", "4"]).start()


def first_answer(sock):
    sock.sendall(b"GET /api/records HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock.recv(65536)


def download_within(seconds):
    """The whole records, asked again while the server answers 503 (a download still being written)."""
    deadline = time.time() + seconds
    while True:
        r = server.get("/api/records")
        if r.status != 503 or time.time() > deadline:
            return r
        time.sleep(0.1)


try:
    for _ in range(3):  # read a little of the answer, then hang up
        s = socket.create_connection(("127.0.0.1", server.port))
        check(first_answer(s).startswith(b"HTTP/1.1 200"), "the large answer starts")
        s.close()
        check(download_within(5).status == 200, "the hang-up frees its download: the next one is answered")
    # A reader that stalls holds the one download allowed (at the limit: answered); a second at once is 503
    # (over it), while every other request is answered; once the reader goes, downloads are answered again.
    # The download just read to its end may hold its slot a moment after its last byte (the handler returns after
    # the client has it): the stalled reader asks again on 503, as Retry-After tells a client to.
    deadline = time.time() + 5
    while True:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's side fills
        stalled.connect(("127.0.0.1", server.port))
        head = first_answer(stalled)
        if not head.startswith(b"HTTP/1.1 503") or time.time() > deadline:
            break
        stalled.close()
        time.sleep(0.1)
    check(head.startswith(b"HTTP/1.1 200"), "a stalled reader's download is answered (1 of 1)")
    time.sleep(1.0)  # its writer fills the pipe and waits
    r = server.get("/api/records")
    check(r.status == 503 and json_error(r.body) and r.headers.get("Retry-After") == "1",
          f"a second download while the first is written: 503 with Retry-After ({r.status} {r.body[:120]})")
    t0 = time.time()
    check(server.get("/healthz").status == 200 and time.time() - t0 < 2.0, "the server answers other requests")
    stalled.close()
    r = download_within(5)
    body_rows = rows_of(r) if r.status == 200 else []
    check(len(body_rows) == 200_002 and r.headers.get("Transfer-Encoding") == "chunked",
          f"after clients went away, the whole table: {len(body_rows)} rows")
    print(f"RSS after streaming {len(r.body) / 2**20:.0f} MB of records: {server.rss_mb()[0]:.0f} MB")
    r = server.get("/api/records?since=" + urllib.parse.quote(shifted(rows[1][0], milliseconds=1)))
    check(r.status == 200 and rows_of(r) == [], "since after every record: the header alone, large table")
    check(server.get("/healthz").status == 200, "the server still answers")
finally:
    server.cleanup()
check.done()
