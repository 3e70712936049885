"""faceapp-web against hostile HTTP: request framing that dodges a body limit (chunked, no length, compressed),
oversized heads, slowloris, many ranges, paths and names that are not UTF-8. Each attack gets its status (or a
closed connection) within a bound, the server's memory stays small, and a normal request is answered after it.
Raw sockets where http.client would not send the attack; all traffic goes to loopback addresses only."""

import gzip
import os
import socket
import threading
import time

from webtest import (Checks, Server, json_error, multipart, parse_args, raw_exchange, read, records, require)

args = parse_args(__doc__)
check = Checks()

HEADER_TIMEOUT = 2
REQUEST_TIMEOUT = 4
PER_IP = 20
server = Server(args.server, extra=["--max-body-mb", "1", "--header-timeout", str(HEADER_TIMEOUT),
                                    "--request-timeout", str(REQUEST_TIMEOUT), "--idle-timeout", "3",
                                    "--max-connections-per-ip", str(PER_IP), "--max-connections", "200"]).start()
port = server.port
photo = read(os.path.join(args.faces, "obama_1.jpg"))


def still_serving(what, source="127.0.0.1"):
    r = server.request("GET", "/api/faces", timeout=10, source=source)
    check(r.status == 200 and r.json().get("faces") == [], f"after {what}: the server still answers ({r.status})")
    check(server.proc.poll() is None, f"after {what}: the server is running")


def head(method, path, extra=(), host=None):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def rss_kb():
    with open(f"/proc/{server.proc.pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


try:
    # ---- paths and names that are not UTF-8: a JSON 404 / 400, never a crash ----
    for method, path in (("GET", "/api/%FF"), ("POST", "/api/%FF"), ("DELETE", "/api/faces/%FF%FE"),
                         ("GET", "/api/%ED%A0%80"), ("GET", "/api/%C0%AF"), ("GET", "/api/%00x"), ("GET", "/%FF"),
                         ("GET", "/faces/%FF/thumbnail.jpg"), ("PUT", "/api/faces")):
        status, text, body, _, _ = raw_exchange(port, head(method, path, ["Connection: close"]), timeout=10)
        expected = (404, 405)
        ok = status in expected and (not path.startswith("/api/") or json_error(body) is not None)
        check(ok, f"{method} {path}: {status} {body[:120]!r}")
    still_serving("raw-byte paths")
    bad_names = {"surrogate U+D800": b"a\xed\xa0\x80b", "overlong /": b"\xc0\xaf", "overlong 3-byte": b"\xe0\x80\xaf",
                 "overlong 4-byte": b"\xf0\x80\x80\xaf", "above U+10FFFF": b"\xf4\x90\x80\x80", "bare FF": b"x\xff",
                 "truncated": b"ab\xe2\x82", "C1 lead": b"\xc1\xbf"}
    for what, name in bad_names.items():
        r = server.post("/api/faces", fields=[("name", name)], files=[("image", "obama_1.jpg", photo)])
        check(r.status == 400 and json_error(r.body), f"name with {what}: {r.status} {r.body[:120]!r}")
    r = server.post("/api/faces", fields=[("name", b"Ren\xc3\xa9e \xf0\x9f\x98\x80")], files=[])
    check(r.status == 400 and "image" in (json_error(r.body) or ""), f"a valid UTF-8 name passes the check: {r.body[:120]!r}")
    still_serving("bad names")

    # ---- body limits, whatever the framing ----
    _, peak_before = rss_kb()
    body, ctype = multipart(files=[("image", "big.jpg", b"\xff\xd8\xff" + os.urandom(2 << 20))])
    status, _, rbody, elapsed, closed = raw_exchange(
        port, head("POST", "/api/recognize", [f"Content-Type: {ctype}", f"Content-Length: {1 << 40}"]) + body[:1000],
        timeout=10)
    check(status == 413 and json_error(rbody) and closed, f"Content-Length 1 TB: {status}, closed {closed}")
    check(elapsed < 2, f"413 comes before the body ({elapsed:.2f} s)")
    # A client that sends its whole (too large) body before reading, as most do, gets the 413 too.
    # (up to twice the limit: beyond, the 413 comes before the body, and such a client sees a closed connection)
    mid, mid_type = multipart(files=[("image", "big.jpg", b"\xff\xd8\xff" + os.urandom(3 << 19))])
    try:
        r = server.request("POST", "/api/recognize", mid, mid_type)
        check(r.status == 413 and json_error(r.body), f"a 1.5 MB body with its Content-Length, sent whole: {r.status}")
    except OSError as e:
        check(False, f"a 1.5 MB body with its Content-Length, sent whole: {e!r}")

    def chunked(payload, size=65536):
        out = []
        for i in range(0, len(payload), size):
            piece = payload[i:i + size]
            out.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        out.append(b"0\r\n\r\n")
        return out

    chunks = [head("POST", "/api/recognize", [f"Content-Type: {ctype}", "Transfer-Encoding: chunked"])] + chunked(body)
    status, _, rbody, elapsed, closed = raw_exchange(port, chunks, timeout=15)
    check(status == 413 and json_error(rbody) and closed, f"chunked 2 MB body over a 1 MB limit: {status}, closed {closed}")
    # Chunk sizes that claim far more than the limit, then stop.
    status, _, rbody, _, closed = raw_exchange(
        port, [head("POST", "/api/recognize", [f"Content-Type: {ctype}", "Transfer-Encoding: chunked"]),
               b"7fffffffffffffff\r\n" + os.urandom(1 << 20) + os.urandom(200000)], timeout=15)
    check(status in (None, 400, 413) and closed, f"a chunk claiming 2^63 bytes is refused (or the connection closed): {status}, closed {closed}")
    # No Content-Length and not chunked: the body is empty (RFC 9112); the bytes after are not a request.
    status, _, rbody, _, closed = raw_exchange(
        port, [head("POST", "/api/recognize", [f"Content-Type: {ctype}"])] + [os.urandom(65536) for _ in range(32)],
        timeout=15)
    check(status in (400, 411, 415) and closed, f"a body without a length: {status}, closed {closed}")
    bomb = gzip.compress(b"\0" * (48 << 20))
    status, _, rbody, _, closed = raw_exchange(
        port, head("POST", "/api/recognize", [f"Content-Type: {ctype}", "Content-Encoding: gzip",
                                              f"Content-Length: {len(bomb)}"]) + bomb, timeout=10)
    check(status == 415 and json_error(rbody), f"gzip body ({len(bomb)} bytes, 48 MB inflated): {status}")
    status, _, _, _, closed = raw_exchange(
        port, head("POST", "/api/recognize", [f"Content-Type: {ctype}", "Transfer-Encoding: gzip, chunked"]) +
        b"5\r\nhello\r\n0\r\n\r\n", timeout=10)
    check(status in (400, 501) and closed, f"Transfer-Encoding gzip, chunked: {status}")
    status, _, _, _, closed = raw_exchange(
        port, head("POST", "/api/recognize", [f"Content-Type: {ctype}", "Content-Length: 5", "Content-Length: 6"]) +
        b"hello!", timeout=10)
    check(status == 400 and closed, f"two Content-Length headers: {status}")
    rss, peak = rss_kb()
    print(f"memory after the body-framing attacks: RSS {rss // 1024} MB, peak {peak // 1024} MB "
          f"(peak before {peak_before // 1024} MB)", flush=True)
    check(peak - peak_before < 20 * 1024, f"no attack body was held in memory (peak grew {(peak - peak_before) // 1024} MB)")
    still_serving("body-framing attacks")

    # ---- oversized heads ----
    status, _, rbody, _, closed = raw_exchange(port, head("GET", "/api/faces", ["X-Big: " + "a" * (64 << 10)]))
    check(status in (413, 431) and closed, f"a 64 KB header line: {status}, closed {closed}")
    status, _, rbody, elapsed, closed = raw_exchange(port, head("GET", "/api/faces", [f"X-{i}: y" for i in range(10000)]))
    check(status in (413, 431) and closed, f"10 000 headers: {status}, closed {closed} in {elapsed:.2f} s")
    status, _, rbody, _, closed = raw_exchange(port, head("GET", "/api/faces", [f"X-{i}: y" for i in range(150)]))
    check(status == 431 and json_error(rbody), f"150 short headers (over the 100 allowed): {status} {rbody[:100]!r}")
    status, _, _, _, closed = raw_exchange(port, b"GET /" + b"a" * (64 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    check(status in (413, 414, 431) and closed, f"a 64 KB request line: {status}")
    still_serving("oversized heads")

    # ---- Range: ignored on dynamic routes (no multipart/byteranges, no multiplied body) ----
    full = server.get("/api/records")
    ranges = ",".join(f"{i}-{i + 1}" for i in range(0, 1000, 2))
    status, text, rbody, _, _ = raw_exchange(port, head("GET", "/api/records", [f"Range: bytes=0-,{ranges}",
                                                                                 "Connection: close"]))
    if "transfer-encoding: chunked" in text.lower():  # the records are streamed: take the chunks' framing off
        chunks, rest = [], rbody
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            chunks.append(rest[:size])
            rest = rest[size + 2:]
        rbody = b"".join(chunks)
    check(status == 200 and rbody == full.body and "byteranges" not in text,
          f"500 ranges on /api/records: {status}, {len(rbody)} bytes (the whole file is {len(full.body)})")
    status, text, rbody, _, _ = raw_exchange(port, head("GET", "/", ["Range: bytes=0-0,1-1,2-2", "Connection: close"]))
    check(status == 200 and "byteranges" not in text, f"ranges on a page: {status}")

    # ---- slowloris: 300 connections that never finish their heads, from one address ----
    N = 300
    socks = []
    opened = time.time()
    for _ in range(N):
        s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.1", 0))
        s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        socks.append(s)
    # A client at another address is served meanwhile, at once.
    t = time.time()
    r = server.request("GET", "/api/faces", timeout=10, source="127.0.0.2")
    served = time.time() - t
    check(r.status == 200 and served < 2, f"during the slowloris a client at 127.0.0.2 is answered in {served:.2f} s")
    # The attackers trickle a header byte every 0.5 s, so no inactivity timeout fires: only the deadline closes them.
    open_socks = {s.fileno(): s for s in socks}
    closed_at = {}
    deadline = opened + HEADER_TIMEOUT + 6
    while open_socks and time.time() < deadline:
        for fd, s in list(open_socks.items()):
            try:
                s.send(b"X")
            except OSError:
                closed_at[fd] = time.time() - opened
                del open_socks[fd]
        time.sleep(0.5)
        import select as _select
        ready, _, _ = _select.select(list(open_socks.values()), [], [], 0)
        for s in ready:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed_at[s.fileno()] = time.time() - opened
                open_socks.pop(s.fileno(), None)
    for s in socks:
        s.close()
    last = max(closed_at.values()) if closed_at else float("inf")
    print(f"slowloris: {N} connections from one address, {len(closed_at)} closed by the server, the last after "
          f"{last:.1f} s (header deadline {HEADER_TIMEOUT} s, {PER_IP} per address)", flush=True)
    check(not open_socks, f"every slowloris connection is closed by the server ({len(open_socks)} still open)")
    check(last <= HEADER_TIMEOUT + 3, f"the last one within the header deadline + 3 s ({last:.1f} s)")
    still_serving("slowloris")

    # ---- a slow body: headers on time, then a byte every 0.5 s ----
    pieces = [head("POST", "/api/recognize", [f"Content-Type: {ctype}", "Content-Length: 1000"])] + [b"x"] * 40
    status, _, _, elapsed, closed = raw_exchange(port, pieces, pace=0.5, timeout=REQUEST_TIMEOUT + 6)
    check(closed and elapsed <= REQUEST_TIMEOUT + 2 and status in (None, 408),
          f"a body trickled a byte every 0.5 s is cut at the request deadline: {status} after {elapsed:.1f} s")

    # ---- many connections from one address are capped; the server still serves others ----
    many = []
    for _ in range(PER_IP + 30):
        many.append(socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.3", 0)))
    time.sleep(0.5)
    dropped = 0
    for s in many:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                dropped += 1
        except BlockingIOError:
            pass
        except OSError:
            dropped += 1
        s.close()
    check(dropped >= 30, f"{PER_IP + 30} connections from 127.0.0.3: {dropped} closed at once (over {PER_IP} per address)")
    still_serving("the connection flood", source="127.0.0.4")
    require(len(records(server)) == 0, "no attack was recorded")
finally:
    server.cleanup()
    if server.proc.returncode not in (0, None):
        print("".join(server.output)[-3000:])

check.done()
