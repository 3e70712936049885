"""faceapp-web in operation, on one server start: /healthz and /readyz answer without the key, /metrics with it;
the scrape passes `promtool check metrics` (Debian's prometheus package; the test fails, saying so, when promtool is
missing) and counts what was sent: requests by route and status, the stages' times, the gallery's size, uploads
refused by reason; every answer carries an X-Request-Id that names its access log line (time, client, method,
path, status, bytes, seconds), whose client is X-Forwarded-For only when the peer is a --trusted-proxy."""

import os
import re
import shutil
import subprocess
import tempfile

from webtest import Checks, Server, manifest, parse_args, read

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()
key = "ops-test-key-" + os.urandom(8).hex()
key_dir = tempfile.mkdtemp(prefix="faceapp-web-ops-")
key_file = os.path.join(key_dir, "key")
with open(key_file, "w") as f:
    f.write(key + "\n")
with_key = {"X-API-Key": key}


def photo(name):
    return read(os.path.join(args.faces, name))


def metric(text, name, labels=""):
    """The value of one series of a scrape (labels as written, e.g. 'route="healthz",status="200"'), or None."""
    wanted = name + ("{" + labels + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return None


server = Server(args.server, extra=["--api-key-file", key_file, "--log", "--trusted-proxy", "127.0.0.1",
                                    "--max-body-mb", "1"]).start()
try:
    # ---- probes: no key needed; the rest still needs it ----
    r = server.get("/healthz")
    check(r.status == 200 and r.body == b"ok\n", f"/healthz without the key: {r.status} {r.body!r}")
    r = server.get("/readyz")
    check(r.status == 200 and r.body == b"ready\n", f"/readyz without the key (embedded store): {r.status} {r.body!r}")
    check(server.get("/metrics").status == 401, "/metrics without the key: 401")
    check(server.get("/api/faces").status == 401, "the API without the key: still 401")
    check(server.request("POST", "/healthz").status == 405, "POST /healthz: 405")

    # ---- traffic to count: two adds, three recognizes, and refused uploads ----
    known = ["obama_1.jpg", "biden_1.jpg"]
    for file in known:
        r = server.post("/api/faces", fields=[("name", truth[file][0])], files=[("image", file, photo(file))],
                        headers=with_key)
        check(r.status == 201, f"add {file}: {r.status}")
    asked = ["obama_2.jpg", "group_3.jpg", "noface_2.jpg"]
    for file in asked:
        r = server.post("/api/recognize", files=[("image", file, photo(file))], headers=with_key)
        check(r.status == 200, f"recognize {file}: {r.status}")
    big = b"\xff\xd8\xff" + b"\0" * (1 << 20)  # just over --max-body-mb 1 with the form around it
    r = server.post("/api/recognize", files=[("image", "big.jpg", big)], headers=with_key)
    check(r.status == 413, f"a body over the limit: 413 ({r.status})")
    twice = [("image", "a.jpg", photo("obama_2.jpg")), ("image", "b.jpg", photo("obama_2.jpg"))]
    check(server.post("/api/recognize", files=twice, headers=with_key).status == 400, "a field twice: 400")
    r = server.post("/api/recognize", files=[("image", "notes.jpg", b"plain text")], headers=with_key)
    check(r.status == 415, f"not an image: 415 ({r.status})")

    # ---- the scrape ----
    r = server.request("GET", "/metrics", headers=with_key)
    text = r.text
    check(r.status == 200 and r.headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
          f"/metrics with the key: {r.status} {r.headers.get('Content-Type')}")
    promtool = shutil.which("promtool")
    if not check(promtool is not None,
                 "promtool is installed (Debian's prometheus package, cmake/install-deps.sh): without it the scrape "
                 "cannot be checked, and this test fails rather than pass unchecked"):
        pass
    else:
        p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True, timeout=60)
        check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
              f"promtool check metrics accepts the scrape, without a lint remark: {p.returncode} "
              f"{(p.stdout + p.stderr).decode()[:500]}")
    check(metric(text, "faceapp_http_requests_total", 'route="api_add_face",status="201"') == 2,
          "requests by route and status: 2 adds answered 201")
    check(metric(text, "faceapp_http_requests_total", 'route="api_recognize",status="200"') == 3,
          "3 recognizes answered 200")
    check(metric(text, "faceapp_http_requests_total", 'route="metrics",status="401"') == 1,
          "the scrape refused without the key is counted too")
    check(metric(text, "faceapp_http_request_duration_seconds_count", 'route="api_recognize"') == 6,
          "the recognize latency histogram counts every answer of the route (3 + 413 + 400 + 415)")
    check(metric(text, "faceapp_http_request_duration_seconds_bucket", 'route="api_recognize",le="+Inf"') == 6,
          "its +Inf bucket is its count")
    decoded = len(known) + len(asked)  # the 415 never reaches the detector
    check(metric(text, "faceapp_stage_duration_seconds_count", 'stage="detect"') == decoded,
          f"the detector ran once per decoded upload ({decoded})")
    encoded = len(known) + len(asked)  # an add encodes its largest face, a recognize all its faces at once
    check(metric(text, "faceapp_stage_duration_seconds_count", 'stage="encode"') == encoded,
          f"the encoder ran once per add and per recognize ({encoded})")
    check(metric(text, "faceapp_stage_duration_seconds_count", 'stage="scan"') == 3, "one scan per recognize")
    check((metric(text, "faceapp_stage_duration_seconds_sum", 'stage="detect"') or 0) > 0, "detection takes time")
    check(metric(text, "faceapp_gallery_faces") == 2, "the gallery's size")
    check(metric(text, "faceapp_change_feed_lag_seconds") == 0, "no change feed without a shared database")
    for reason, n in (("too_large", 1), ("malformed", 1), ("unsupported", 1)):
        check(metric(text, "faceapp_uploads_refused_total", f'reason="{reason}"') == n,
              f"uploads refused for {reason}: {n}")
    check(metric(text, "faceapp_store_errors_total") == 0, "no store error")

    # ---- the access log: one line per answer, found by the answer's request id ----
    r = server.request("GET", "/api/faces", headers=with_key)
    rid = r.headers.get("X-Request-Id", "")
    check(re.fullmatch(r"[0-9a-f]{16}", rid) is not None, f"every answer has a request id: {rid!r}")
    line_re = (r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) (\S+) (\S+) (\d{3}) (\d+) (\d+\.\d{3}) " + rid)
    check(server.logged(rid), "the access log has a line with that id")
    m = re.search(line_re, "".join(server.output))
    check(m is not None and m.group(2) == "127.0.0.1" and m.group(3) == "GET" and m.group(4) == "/api/faces"
          and m.group(5) == "200" and int(m.group(6)) == len(r.body),
          f"time, client, method, path, status, bytes, seconds, id: {m.group(0) if m else None}")
    ids = set()
    for source, forwarded, client in (("127.0.0.1", "198.51.100.7", "198.51.100.7"),     # a trusted proxy
                                      ("127.0.0.1", "6.6.6.6, 198.51.100.8", "198.51.100.8"),  # the last hop
                                      ("127.0.0.2", "198.51.100.9", "127.0.0.2")):       # anyone else: ignored
        r = server.request("GET", "/healthz", headers={"X-Forwarded-For": forwarded}, source=source)
        rid = r.headers.get("X-Request-Id", "")
        ids.add(rid)
        check(server.logged(f" {client} GET /healthz 200 3 ") and server.logged(rid)
              and re.search(rf" {re.escape(client)} GET /healthz 200 3 \d+\.\d{{3}} {rid}", "".join(server.output)),
              f"from {source} with X-Forwarded-For {forwarded!r}: the client logged is {client}")
    check(len(ids) == 3, "each request has its own id")
    r = server.post("/api/recognize", files=[("image", "big.jpg", big)], headers=with_key)
    rid = r.headers.get("X-Request-Id", "")
    check(r.status == 413 and rid and server.logged(f" POST /api/recognize 413 ") and server.logged(rid),
          f"an answer of the HTTP layer (413 mid-body) has its id and its line too: {rid!r}")
finally:
    server.cleanup()
    shutil.rmtree(key_dir, ignore_errors=True)

check.done()
