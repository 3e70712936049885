"""faceapp-web decides who may talk to it: cross-site state changes are refused (Origin / Sec-Fetch-Site, and a
CSRF token in the pages' forms), foreign Host headers are refused (DNS rebinding), with a key every API request
needs X-API-Key and the pages HTTP Basic (keys of 16 bytes at least; 20 wrong keys from an address, then 429), and
it will not listen beyond loopback without a key unless told to, loudly. Scripts that send no browser headers keep
working."""

import base64
import os
import re
import shutil
import subprocess
import tempfile

from webtest import Checks, Server, json_error, parse_args, raw_exchange, read

args = parse_args(__doc__)
check = Checks()
photo = read(os.path.join(args.faces, "obama_1.jpg"))
EVIL = "http://evil.example"


def csrf_session(server):
    """(cookie header, token) from GET /, as a browser would keep them."""
    r = server.get("/")
    cookie = r.headers.get("Set-Cookie", "")
    m = re.match(r"faceapp_csrf=([0-9a-f]{64});", cookie)
    field = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text)
    check(m is not None and field is not None and m.group(1) == field.group(1),
          f"GET / sets the CSRF cookie and the same token in the forms: {cookie!r}")
    check("SameSite=Strict" in cookie and "HttpOnly" in cookie, f"the cookie is SameSite=Strict and HttpOnly: {cookie!r}")
    return f"faceapp_csrf={m.group(1)}", m.group(1)


server = Server(args.server).start()
try:
    own = f"http://127.0.0.1:{server.port}"
    # ---- cross-site state changes: 403 JSON, nothing changed ----
    cross = {"Origin evil": {"Origin": EVIL}, "Origin null": {"Origin": "null"},
             "Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
             "Sec-Fetch-Site same-site": {"Sec-Fetch-Site": "same-site"},
             "Origin with another port": {"Origin": f"http://127.0.0.1:{server.port + 1}"}}
    for what, headers in cross.items():
        r = server.post("/api/faces", fields=[("name", "mallory")], files=[("image", "o.jpg", photo)], headers=headers)
        check(r.status == 403 and json_error(r.body), f"POST /api/faces, {what}: {r.status} {r.body[:100]!r}")
        r = server.post("/faces", fields=[("name", "mallory")], files=[("image", "o.jpg", photo)], headers=headers)
        check(r.status == 403 and json_error(r.body), f"form POST /faces, {what}: {r.status}")
        r = server.post("/api/recognize", files=[("image", "o.jpg", photo)], headers=headers)
        check(r.status == 403, f"POST /api/recognize (fills the records), {what}: {r.status}")
        r = server.request("DELETE", "/api/faces/1", headers=headers)
        check(r.status == 403 and json_error(r.body), f"DELETE /api/faces/1, {what}: {r.status}")
        r = server.request("POST", "/faces/1/delete", b"", "application/x-www-form-urlencoded", headers=headers)
        check(r.status == 403, f"form delete, {what}: {r.status}")
    check(server.get("/api/faces").json()["faces"] == [], "no cross-site request added a face")
    check(server.get("/api/records").body.count(b"\n") == 1, "no cross-site request was recorded")

    # Scripts (no Origin, no Sec-Fetch-Site) keep working; so does the server's own origin through the API.
    r = server.post("/api/faces", fields=[("name", "obama")], files=[("image", "o.jpg", photo)])
    check(r.status == 201, f"curl-like POST /api/faces: {r.status}")
    face_id = r.json()["id"]
    r = server.post("/api/recognize", files=[("image", "o.jpg", photo)],
                    headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    check(r.status == 200, f"POST /api/recognize from our own origin: {r.status}")

    # ---- the forms carry a per-session CSRF token ----
    cookie, token = csrf_session(server)
    browser = {"Origin": own, "Sec-Fetch-Site": "same-origin", "Cookie": cookie}
    r = server.post("/faces", fields=[("name", "biden")], files=[("image", "b.jpg", read(os.path.join(args.faces, "biden_1.jpg")))],
                    headers=browser)
    check(r.status == 403, f"a same-origin form post without the token: {r.status}")
    r = server.post("/faces", fields=[("csrf", "0" * 64), ("name", "biden")],
                    files=[("image", "b.jpg", read(os.path.join(args.faces, "biden_1.jpg")))], headers=browser)
    check(r.status == 403, f"a form post with a wrong token: {r.status}")
    r = server.post("/faces", fields=[("csrf", token), ("name", "biden")],
                    files=[("image", "b.jpg", read(os.path.join(args.faces, "biden_1.jpg")))], headers=browser)
    check(r.status == 303 and r.headers.get("Location", "").startswith("/?added="), f"with the token: {r.status}")
    new_id = int(r.headers["Location"].split("=")[1])
    r = server.post("/faces", fields=[("csrf", token), ("name", "biden")],
                    files=[("image", "b.jpg", read(os.path.join(args.faces, "biden_1.jpg")))],
                    headers={"Origin": own, "Cookie": "faceapp_csrf=" + "1" * 64})
    check(r.status == 403, f"a token that is not the cookie's: {r.status}")
    r = server.request("POST", f"/faces/{new_id}/delete", f"csrf={token}".encode(), "application/x-www-form-urlencoded",
                       headers=browser)
    check(r.status == 303, f"form delete with the token: {r.status}")
    page = server.request("GET", "/", headers={"Cookie": cookie}).text
    check(page.count(f'name="csrf" value="{token}"') == 1 + page.count('action="/faces/'),
          "every form on the page carries the session's token")

    # ---- a person's page: each of its forms refused cross-site, without the token and with a wrong one ----
    person = server.get("/api/faces").json()["faces"][0]["person"]
    other = server.post("/api/faces", fields=[("name", "biden")],
                        files=[("image", "b.jpg", read(os.path.join(args.faces, "biden_1.jpg")))]).json()
    before = server.get(f"/api/people/{person}").json()
    form = "application/x-www-form-urlencoded"
    person_forms = [(f"/people/{person}/rename", "name=mallory"), (f"/people/{person}/merge", f"from={other['person']}"),
                    (f"/people/{person}/faces/{before['faces'][0]['id']}/delete", ""), (f"/people/{person}/delete", "")]
    for path, fields in person_forms:
        for what, token_field, headers in (("cross-site", f"csrf={token}", {"Origin": EVIL, "Cookie": cookie}),
                                           ("no token", "", browser), ("a wrong token", "csrf=" + "0" * 64, browser)):
            body = "&".join(f for f in (token_field, fields) if f).encode()
            r = server.request("POST", path, body, form, headers=headers)
            check(r.status == 403, f"POST {path}, {what}: {r.status}")
        r = server.post(f"/people/{person}/faces", fields=[("csrf", "0" * 64)], files=[("image", "o.jpg", photo)],
                        headers=browser)
        check(r.status == 403, f"POST /people/{person}/faces with a wrong token: {r.status}")
    check(server.get(f"/api/people/{person}").json() == before, "no refused person form changed the person")
    check(server.get(f"/api/people/{other['person']}").status == 200, "no refused merge took the other person")
    page = server.request("GET", f"/people/{person}", headers={"Cookie": cookie}).text
    forms = page.count("<form")
    check(forms >= 5 and page.count(f'name="csrf" value="{token}"') == forms,
          f"every form of a person's page carries the session's token ({forms} forms)")
    r = server.request("POST", f"/people/{person}/rename", f"csrf={token}&name=barack".encode(), form, headers=browser)
    check(r.status == 303 and server.get(f"/api/people/{person}").json()["name"] == "barack",
          f"a person's rename with the token: {r.status}")

    # ---- the clusters page: its upload, enrol and discard forms refused without the token; nothing changes ----
    pending = server.post("/api/cluster", files=[("image", "o.jpg", photo)]).json()["clusters"][0]["id"]
    for path, fields in ((f"/clusters/{pending}/enrol", "name=mallory"), (f"/clusters/{pending}/delete", "")):
        for what, token_field, headers in (("cross-site", f"csrf={token}", {"Origin": EVIL, "Cookie": cookie}),
                                           ("no token", "", browser), ("a wrong token", "csrf=" + "0" * 64, browser)):
            body = "&".join(f for f in (token_field, fields) if f).encode()
            r = server.request("POST", path, body, form, headers=headers)
            check(r.status == 403, f"POST {path}, {what}: {r.status}")
    for what, fields, headers in (("cross-site", [("csrf", token)], {"Origin": EVIL, "Cookie": cookie}),
                                  ("no token", [], browser), ("a wrong token", [("csrf", "0" * 64)], browser)):
        r = server.post("/clusters", fields=fields, files=[("image", "o.jpg", photo)], headers=headers)
        check(r.status == 403, f"POST /clusters, {what}: {r.status}")
    check([c["id"] for c in server.get("/api/clusters").json()["clusters"]] == [pending],
          "no refused cluster form enrolled, discarded or uploaded anything")
    page = server.request("GET", "/clusters", headers={"Cookie": cookie}).text
    forms = page.count("<form")
    check(forms == 3 and page.count(f'name="csrf" value="{token}"') == forms,
          f"every form of the clusters page carries the session's token ({forms} forms)")
    r = server.request("POST", f"/clusters/{pending}/delete", f"csrf={token}".encode(), form, headers=browser)
    check(r.status == 303 and server.get("/api/clusters").json()["clusters"] == [],
          f"a discard with the token: {r.status}")

    # ---- Host: ours only (DNS rebinding) ----
    for host, ok in ((f"127.0.0.1:{server.port}", True), (f"localhost:{server.port}", True), ("localhost", True),
                     (f"[::1]:{server.port}", True), ("LOCALHOST", True), ("evil.example", False),
                     (f"evil.example:{server.port}", False), ("127.0.0.1.evil.example", False), ("", False)):
        status, _, body, _, _ = raw_exchange(server.port, f"GET /api/faces HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        if ok:
            check(status == 200, f"Host {host!r}: {status}")
        else:
            check(status in (400, 421) and json_error(body), f"Host {host!r} refused: {status} {body[:100]!r}")
    status, _, body, _, _ = raw_exchange(server.port, b"GET /api/records HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    check(status == 421 and b"time,input" not in body, f"a rebinding page cannot read the records: {status}")
    r = server.request("DELETE", f"/api/faces/{face_id}")
    check(r.status == 200, "the server still answers its own host")
finally:
    server.cleanup()

# ---- --allowed-host, for a reverse proxy ----
server = Server(args.server, extra=["--allowed-host", "faces.example.org", "--allowed-host", "proxy.example:8443"]).start()
try:
    for host, expected in (("faces.example.org", 200), ("faces.example.org:443", 200), ("proxy.example:8443", 200),
                           ("proxy.example", 421), ("other.example.org", 421)):
        status, _, _, _, _ = raw_exchange(server.port, f"GET /api/faces HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        check(status == expected, f"--allowed-host: Host {host!r} gives {status}, expected {expected}")
    # The proxy passes the public origin on; the Host it sends may be the upstream's.
    r = server.post("/api/recognize", files=[("image", "o.jpg", photo)], headers={"Origin": "https://faces.example.org"})
    check(r.status == 200, f"POST from the public origin behind the proxy: {r.status}")
finally:
    server.cleanup()

# ---- an API key ----
key = "correct horse battery staple 42"
key_dir = tempfile.mkdtemp(prefix="faceapp-web-key-")
key_file = os.path.join(key_dir, "key")
with open(key_file, "w") as f:
    f.write(key + "\n")
server = Server(args.server, extra=["--api-key-file", key_file]).start()
try:
    for headers, expected in (({}, 401), ({"X-API-Key": "wrong"}, 401), ({"X-API-Key": key[:-1]}, 401),
                              ({"X-API-Key": key + "x"}, 401), ({"X-API-Key": key}, 200)):
        r = server.request("GET", "/api/faces", headers=headers)
        check(r.status == expected and (expected == 200 or json_error(r.body)),
              f"GET /api/faces with {headers}: {r.status}, expected {expected}")
    r = server.post("/api/faces", fields=[("name", "x")], files=[("image", "o.jpg", photo)])
    check(r.status == 401, f"POST /api/faces without the key is refused before its body: {r.status}")
    r = server.get("/")
    check(r.status == 401 and r.headers.get("WWW-Authenticate", "").startswith("Basic realm="),
          f"a page without the key asks for it (HTTP Basic): {r.status} {r.headers.get('WWW-Authenticate')}")
    basic = lambda user, pw: {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
    check(server.request("GET", "/", headers=basic("anyone", key)).status == 200, "Basic with the key: the page")
    check(server.request("GET", "/", headers=basic("anyone", "nope")).status == 401, "Basic with a wrong key: 401")
    check(server.request("GET", "/faceapp", headers=basic("", key)).status == 200, "any user name, even empty")
    r = server.post("/api/recognize", files=[("image", "o.jpg", photo)], headers={"X-API-Key": key})
    check(r.status == 200, f"an API request with the key works: {r.status}")
    check(r.headers.get("Cache-Control") == "no-store", f"an API answer is not to be cached: {r.headers}")
    # ---- wrong keys from one address: --max-key-failures (20) answered 401, then 429 for the rest of the minute
    guesser = "127.0.0.3"
    statuses = [server.request("GET", "/api/faces", headers={"X-API-Key": f"guess {i}"}, source=guesser).status
                for i in range(20)]
    check(statuses == [401] * 20, f"the first 20 wrong keys from an address: 401 each: {statuses}")
    r = server.request("GET", "/api/faces", headers={"X-API-Key": "guess 20"}, source=guesser)
    check(r.status == 429 and json_error(r.body) and 1 <= int(r.headers.get("Retry-After", "0")) <= 60,
          f"the 21st: 429 with Retry-After: {r.status} {r.headers.get('Retry-After')} {r.body[:100]!r}")
    more = {server.request("GET", "/api/faces", headers={"X-API-Key": f"guess {i}"}, source=guesser).status
            for i in range(21, 40)}
    check(more == {429}, f"up to the 40th: 429: {more}")
    r = server.request("GET", "/api/faces", headers={"X-API-Key": key}, source=guesser)
    check(r.status == 429, f"the held-back address gets 429 even with the right key (no oracle): {r.status}")
    r = server.request("GET", "/api/faces", headers={"X-API-Key": key}, source="127.0.0.4")
    check(r.status == 200, f"another address is not held back: {r.status}")
    r = server.request("GET", "/", source=guesser)
    check(r.status == 429 and r.headers.get("Cache-Control") == "no-store", f"nor are its pages: {r.status}")
finally:
    server.cleanup()

# ---- a key shorter than 16 bytes refuses to start (from the file or the environment) ----
for short in ("abcd", "k" * 15):
    with open(key_file, "w") as f:
        f.write(short + "\n")
    p = subprocess.run([args.server, "--port", "0", "--data", key_dir, "--api-key-file", key_file],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and f"{len(short)} bytes" in p.stderr and "at least 16" in p.stderr,
          f"a {len(short)}-byte key in a file refuses to start: {p.returncode} {p.stderr[-200:]!r}")
p = subprocess.run([args.server, "--port", "0", "--data", key_dir], capture_output=True, text=True, timeout=60,
                   env={**os.environ, "FACEAPP_API_KEY": "abcd"})
check(p.returncode == 1 and "at least 16" in p.stderr, f"and from FACEAPP_API_KEY: {p.returncode} {p.stderr[-200:]!r}")
with open(key_file, "w") as f:
    f.write(key + "\n")

# The key from the environment instead of a file.
server = Server(args.server, env={**os.environ, "FACEAPP_API_KEY": key}).start()
try:
    check(server.get("/api/faces").status == 401, "FACEAPP_API_KEY: a request without the key gets 401")
    check(server.request("GET", "/api/faces", headers={"X-API-Key": key}).status == 200, "FACEAPP_API_KEY: with it, 200")
finally:
    server.cleanup()

# ---- beyond loopback: a key, or --insecure-no-auth and a warning ----
data_dir = tempfile.mkdtemp(prefix="faceapp-web-bind-")
p = subprocess.run([args.server, "--host", "0.0.0.0", "--port", "0", "--data", data_dir],
                   capture_output=True, text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                                   if k != "FACEAPP_API_KEY"})
check(p.returncode != 0 and "--api-key-file" in p.stderr and "FACEAPP_API_KEY" in p.stderr,
      f"--host 0.0.0.0 without a key refuses to start and says how to set one: {p.returncode} {p.stderr[:300]!r}")
server = Server(args.server, extra=["--host", "0.0.0.0", "--insecure-no-auth"]).start()
try:
    out = "".join(server.output)
    check("WARNING" in out and "WITHOUT AUTHENTICATION" in out, f"--insecure-no-auth warns at start: {out[:300]!r}")
finally:
    server.cleanup()
server = Server(args.server, extra=["--host", "0.0.0.0", "--api-key-file", key_file]).start()
try:
    check(server.request("GET", "/api/faces", headers={"X-API-Key": key}).status == 200,
          "--host 0.0.0.0 with a key starts and serves (over loopback here)")
finally:
    server.cleanup()
    shutil.rmtree(key_dir, ignore_errors=True)
    os.rmdir(data_dir)

check.done()
