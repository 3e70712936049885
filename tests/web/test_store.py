"""faceapp-web's gallery in its database (DIR/faceapp.db): every answered add and delete survives a restart and a
kill -9 in the middle of adds and deletes; a gallery.json of the earlier versions is migrated (and kept as a
backup); `faceapp-web import` reports bad rows by line number and imports the rest, makes its files 0600, and a
kill -9 in the middle keeps the committed batches whole; `export` gives them back, formulas defused; the
main page and GET /api/faces are paginated and searchable; `--db sqlite:PATH` keeps the gallery and the records
(a results table) in that file."""

import contextlib
import csv
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

from webtest import Checks, Server, manifest, parse_args, read

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()
scratch = tempfile.mkdtemp(prefix="faceapp-web-store-")


def photo(name):
    return read(os.path.join(args.faces, name))


def tool(*argv, stdin=None):
    """Runs faceapp-web import/export; returns (exit code, stdout, stderr)."""
    p = subprocess.run([args.server, *argv], input=stdin, capture_output=True, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def exported(data_dir):
    """name -> [128 floats] of `faceapp-web export`, checked to be well-formed."""
    code, out, err = tool("export", "--data", data_dir)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["name"] + [f"e{i}" for i in range(128)], rows[0][:3]
    return [(r[0], [float(v) for v in r[1:]]) for r in rows[1:]]


def all_faces(server):
    """Every face of GET /api/faces, page by page."""
    faces, offset = [], 0
    while True:
        body = server.get(f"/api/faces?offset={offset}&limit=1000").json()
        faces += body["faces"]
        offset += 1000
        if offset >= body["total"]:
            return faces


try:
    # ---- kill -9 during adds and deletes: every answered one is kept after the restart ----
    data = os.path.join(scratch, "crash")
    server = Server(args.server, data).start()
    seeds = {}
    for file in ("obama_1.jpg", "biden_1.jpg"):
        r = server.post("/api/faces", fields=[("name", truth[file][0])], files=[("image", file, photo(file))])
        check(r.status == 201, f"add {file}: {r.status}")
        seeds[r.json()["id"]] = truth[file][0]
    added, deleted, asked = {}, set(), set()  # asked: deletes sent (answered or not)
    lock = threading.Lock()
    stop = threading.Event()
    files = ["kit_harington_1.jpeg", "rose_leslie_1.jpg", "obama_2.jpg", "kit_harington_2.jpeg"]

    def adder(k):
        i = k
        while not stop.is_set() and i < 400:
            file = files[i % len(files)]
            try:
                r = server.post("/api/faces", fields=[("name", f"{truth[file][0]} {i}")],
                                files=[("image", file, photo(file))])
            except OSError:
                return  # killed under us: not answered
            if r.status == 201:
                with lock:
                    added[r.json()["id"]] = f"{truth[file][0]} {i}"
            i += 2

    def deleter():
        while not stop.is_set():
            with lock:
                candidates = sorted(set(added) - deleted)
            if not candidates:
                time.sleep(0.05)
                continue
            with lock:
                asked.add(candidates[0])
            try:
                r = server.request("DELETE", f"/api/faces/{candidates[0]}")
            except OSError:
                return
            if r.status == 200:
                with lock:
                    deleted.add(candidates[0])

    threads = [threading.Thread(target=adder, args=(k,)) for k in range(2)] + [threading.Thread(target=deleter)]
    for t in threads:
        t.start()
    deadline = time.time() + 300
    while time.time() < deadline:
        with lock:
            if len(added) >= 8 and len(deleted) >= 3:
                break
        time.sleep(0.05)
    server.kill9()
    stop.set()
    for t in threads:
        t.join()
    check(len(added) >= 8 and len(deleted) >= 3, f"{len(added)} adds and {len(deleted)} deletes answered before kill -9")
    server = Server(args.server, data).start()
    after = {f["id"]: f["name"] for f in all_faces(server)}
    missing = [i for i in added if i not in asked and after.get(i) != added[i]]
    check(not missing, f"every answered add is there after kill -9 (missing {missing})")
    back = [i for i in deleted if i in after]
    check(not back, f"every answered delete stays deleted after kill -9 (back: {back})")
    check(all(after.get(i) == n for i, n in seeds.items()), "the faces from before are there")
    extra = set(after) - set(added) - set(seeds)
    check(len(extra) <= 2, f"at most the adds in flight (2) are there unanswered: {extra}")
    r = server.post("/api/recognize", files=[("image", "obama_3.jpg", photo("obama_3.jpg"))])
    check(r.status == 200 and r.json()["faces"][0]["name"] is not None, f"recognizes after the crash: {r.body[:150]}")
    # And a clean restart keeps exactly the same.
    check(server.stop() == 0, "SIGTERM stops the server cleanly")
    server = Server(args.server, data).start()
    check({f["id"]: f["name"] for f in all_faces(server)} == after, "a clean restart keeps the same gallery")
    server.stop()

    # ---- a gallery.json of the earlier versions is migrated ----
    # A real encoding, box and thumbnail, from the server itself (API and export), written in the old format.
    donor = os.path.join(scratch, "donor")
    server = Server(args.server, donor).start()
    old_people = []
    for old_id, file in ((3, "obama_1.jpg"), (7, "kit_harington_1.jpeg")):
        r = server.post("/api/faces", fields=[("name", truth[file][0])], files=[("image", file, photo(file))])
        face = r.json()
        thumb = server.get(face["thumbnail"]).body
        b = face["box"]
        old_people.append({"id": old_id, "name": face["name"], "added": "2024-05-01T10:00:00.000Z",
                           "source": f"sha256:test ({file})", "box": [b["top"], b["right"], b["bottom"], b["left"]],
                           "thumbnail_jpeg_base64": __import__("base64").b64encode(thumb).decode(), "thumb": thumb})
    server.stop()
    encodings = dict(exported(donor))
    for p in old_people:
        p["encoding"] = encodings[p["name"]]
    legacy = os.path.join(scratch, "legacy")
    os.makedirs(legacy)
    doc = {"format": "faceapp-web gallery", "version": 1, "next_id": 12,
           "people": [{k: v for k, v in p.items() if k != "thumb"} for p in old_people]}
    with open(os.path.join(legacy, "gallery.json"), "w") as f:
        json.dump(doc, f)
    server = Server(args.server, legacy).start()
    faces = all_faces(server)
    check([(f["id"], f["name"], f["added"]) for f in faces] == [(p["id"], p["name"], p["added"]) for p in old_people],
          f"the migrated gallery has the old ids, names and dates: {faces}")
    check([[f["box"][k] for k in ("top", "right", "bottom", "left")] for f in faces] == [p["box"] for p in old_people],
          "and the old boxes")
    check(all(server.get(f"/faces/{p['id']}/thumbnail.jpg").body == p["thumb"] for p in old_people),
          "the thumbnails are served from the database, byte for byte")
    check(not os.path.exists(os.path.join(legacy, "gallery.json")) and
          os.path.exists(os.path.join(legacy, "gallery.json.bak")), "gallery.json is kept as gallery.json.bak")
    r = server.post("/api/recognize", files=[("image", "obama_2.jpg", photo("obama_2.jpg"))])
    check([f["name"] for f in r.json()["faces"]] == [truth["obama_2.jpg"][0]],
          f"the migrated encodings recognize: {r.body[:200]}")
    r = server.post("/api/faces", fields=[("name", "biden")], files=[("image", "biden_1.jpg", photo("biden_1.jpg"))])
    check(r.status == 201 and r.json()["id"] >= 12, f"new ids continue after the old next_id: {r.body[:100]}")
    server.stop()
    server = Server(args.server, legacy).start()
    check(len(all_faces(server)) == 3, "a restart does not migrate twice")
    server.stop()

    # ---- import: bad rows reported by line number and skipped, the rest imported ----
    real = dict(exported(donor))
    obama = real[truth["obama_1.jpg"][0]]
    num = lambda vs: ",".join(repr(v) for v in vs)
    lines = ["name," + ",".join(f"e{i}" for i in range(128)),    # 1 header
             f"imported obama,{num(obama)}",                     # 2 good (a real encoding)
             f"short,{num(obama[:127])}",                        # 3 bad: 127 values
             f",{num(obama)}",                                   # 4 bad: empty name
             f"{'x' * 101},{num(obama)}",                        # 5 bad: name over 100 bytes
             f"not finite,{num(obama[:127])},inf",               # 6 bad: inf
             f"not a number,{num(obama[:127])},abc",             # 7 bad: text
             f"\"Smith, Jane\",{num([0.01] * 128)}",             # 8 good: quoted name with a comma
             "",                                                 # 9 blank: ignored
             json.dumps({"name": "json person", "encoding": [0.02] * 128}),  # 10 good JSONL
             json.dumps({"name": "json short", "encoding": [0.02] * 5}),     # 11 bad
             f"long,{num(obama)},0.5"]                           # 12 bad: 129 values
    src = os.path.join(scratch, "faces.csv")
    with open(src, "w") as f:
        f.write("\n".join(lines) + "\n")
    imported = os.path.join(scratch, "imported")
    code, _, err = tool("import", "--data", imported, src)
    reported = sorted(int(m) for m in re.findall(r"faces\.csv:(\d+): skipped", err))
    check(code == 2, f"import exits 2 when rows were skipped: {code}")
    check(reported == [3, 4, 5, 6, 7, 11, 12], f"the bad lines are reported by number: {reported}\n{err}")
    check("3 faces imported" in err and "7 lines skipped" in err, f"the summary: {err.splitlines()[-1:]}")
    names = [n for n, _ in exported(imported)]
    check(names == ["imported obama", "Smith, Jane", "json person"], f"export gives back the good rows: {names}")
    check(exported(imported)[0][1] == obama, "encodings survive import and export exactly")
    code, _, err = tool("import", "--data", imported, os.path.join(scratch, "no such file.csv"))
    check(code == 1 and "no such file.csv" in err, f"a missing file is an error naming it: {err}")

    # ---- export writes names by the records' formula rule; import takes the guard off again ----
    formulas = ["=1+1", "@SUM(A1)", "+cmd", "-2", "a;=HYPERLINK(x)", "plain"]
    src = os.path.join(scratch, "formulas.csv")
    with open(src, "w") as f:
        f.write("".join(f"{n},{num([0.03] * 128)}\n" for n in formulas))
    guarded = os.path.join(scratch, "guarded")
    old_umask = os.umask(0o022)  # what a shell gives: the import itself must make its files private
    try:
        code, _, err = tool("import", "--data", guarded, src)
    finally:
        os.umask(old_umask)
    check(code == 0, f"import of formula-like names: {code} {err}")
    modes = {name: oct(os.stat(os.path.join(guarded, name)).st_mode & 0o777) for name in os.listdir(guarded)}
    check(oct(os.stat(guarded).st_mode & 0o777) == "0o700" and modes and set(modes.values()) == {"0o600"},
          f"an import's folder is 0700 and its files 0600, under umask 022: {oct(os.stat(guarded).st_mode)} {modes}")
    code, out, err = tool("export", "--data", guarded)
    cells = [r[0] for r in list(csv.reader(io.StringIO(out)))[1:]]
    check(cells == ["'=1+1", "'@SUM(A1)", "'+cmd", "'-2", "a;'=HYPERLINK(x)", "plain"],
          f"export: no cell starts a formula (an apostrophe first, also after ;): {cells}")
    again = os.path.join(scratch, "guarded-again")
    with open(os.path.join(scratch, "exported.csv"), "w") as f:
        f.write(out)
    code, _, err = tool("import", "--data", again, os.path.join(scratch, "exported.csv"))
    with contextlib.closing(sqlite3.connect(os.path.join(again, "faceapp.db"))) as db:
        names_back = [r[0] for r in db.execute("SELECT name FROM people ORDER BY id")]
    check(code == 0 and names_back == formulas, f"an exported file imports back to the same names: {names_back} {err}")

    # ---- kill -9 during an import: the batches committed before it stay, whole; nothing of the one in progress ----
    crashed = os.path.join(scratch, "import-killed")
    row_text = num([0.04] * 128)
    p = subprocess.Popen([args.server, "import", "--data", crashed, "-"], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    batch = 50_000  # store/import_export.cpp's import_batch_rows
    p.stdin.write("".join(f"bulk {i},{row_text}\n" for i in range(batch + 7_000)).encode())
    p.stdin.flush()  # the first batch is complete and committed; the second waits for more input
    last, idle = None, 0
    deadline = time.time() + 120
    while idle < 10 and time.time() < deadline:  # 1 s without CPU time and asleep: blocked on stdin
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        now = (fields[0], int(fields[11]) + int(fields[12]))
        idle = idle + 1 if now == last and now[0] == "S" else 0
        last = now
        time.sleep(0.1)
    p.kill()
    p.wait()
    with contextlib.closing(sqlite3.connect(os.path.join(crashed, "faceapp.db"))) as db:
        check(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "after kill -9 the database is intact")
        kept = db.execute("SELECT count(*) FROM people").fetchone()[0]
        encodings = db.execute("SELECT count(*) FROM encodings").fetchone()[0]
    check(kept == batch and encodings == batch,
          f"kill -9 during an import: the committed batch is kept whole, nothing of the next ({kept}, {encodings})")
    code, _, err = tool("import", "--data", crashed, "-", stdin=f"after the crash,{row_text}\n".encode())
    with contextlib.closing(sqlite3.connect(os.path.join(crashed, "faceapp.db"))) as db:
        last_name = db.execute("SELECT name FROM people ORDER BY id DESC LIMIT 1").fetchone()[0]
    check(code == 0 and last_name == "after the crash", f"and imports go on afterwards: {code} {err[-200:]}")

    # ---- pagination and search, on imported people ----
    rows = [f"person {i:03d},{num([((i * 7 + k) % 13) / 100 for k in range(128)])}" for i in range(120)]
    code, _, err = tool("import", "--data", imported, "-", stdin=("\n".join(rows) + "\n").encode())
    check(code == 0 and "120 faces imported" in err, f"import from stdin: {code} {err}")
    server = Server(args.server, imported).start()
    r = server.post("/api/recognize", files=[("image", "obama_2.jpg", photo("obama_2.jpg"))])
    check([f["name"] for f in r.json()["faces"]] == ["imported obama"], f"an imported encoding is recognized: {r.body[:200]}")
    page1 = server.get("/").text
    ids = re.findall(r'<li data-id="(\d+)"', page1)
    check(len(ids) == 50 and "Known people (123)" in page1, f"the main page lists 50 of 123: {len(ids)}")
    check('href="/?page=2"' in page1 and "page 1 of 3" in page1, "with a link to the next page")
    page3 = server.get("/?page=3").text
    check(len(re.findall(r'<li data-id="', page3)) == 23 and "page 3 of 3" in page3, "the last page has the other 23")
    check("page 3 of 3" in server.get("/?page=99").text, "a page past the end shows the last one")
    check('class="nothumb"' in page1 and "/thumbnail.jpg" not in page1, "imported faces have no thumbnail to load")
    found = server.get("/?q=person%2011").text
    check(re.findall(r'<span class="name">([^<]*)<', found) == [f"person 11{d}" for d in range(10)],
          "search by name finds the names containing it")
    check("Known people (10 named like this)" in found, "and counts them")
    check(re.findall(r'<span class="name">([^<]*)<', server.get("/?q=SMITH").text) == ["Smith, Jane"],
          "search ignores case")
    check("Nobody with a name containing this" in server.get("/?q=zzz").text, "a search without a match says so")
    body = server.get("/api/faces").json()
    check(body["total"] == 123 and len(body["faces"]) == 100, f"GET /api/faces: 100 of 123 by default")
    body = server.get("/api/faces?offset=100&limit=50").json()
    check(len(body["faces"]) == 23 and body["faces"][-1]["name"] == "person 119" and body["total"] == 123,
          "offset and limit page through")
    for bad in ("limit=1001", "limit=-1", "offset=x"):
        r = server.get(f"/api/faces?{bad}")
        check(r.status == 400 and "error" in r.json(), f"GET /api/faces?{bad}: {r.status}")
    check(len(page1.encode()) < 60_000, f"the main page stays small: {len(page1.encode())} bytes")
    server.stop()

    # ---- --db sqlite:PATH: the gallery and the records in that file, across a restart ----
    db_file = os.path.join(scratch, "elsewhere", "faces.db")
    os.makedirs(os.path.dirname(db_file))
    data = os.path.join(scratch, "db-data")
    server = Server(args.server, data, extra=["--db", f"sqlite:{db_file}"]).start()
    r = server.post("/api/faces", fields=[("name", "obama")], files=[("image", "obama_1.jpg", photo("obama_1.jpg"))])
    check(r.status == 201, f"--db sqlite: add {r.status}")
    r = server.post("/api/recognize", files=[("image", "obama_2.jpg", photo("obama_2.jpg"))])
    check(r.status == 200 and [f["name"] for f in r.json()["faces"]] == ["obama"], f"--db sqlite: recognize {r.body[:200]}")
    server.stop()
    check(os.path.exists(db_file) and not os.path.exists(os.path.join(data, "faceapp.db")),
          "--db sqlite:PATH keeps the gallery in PATH, not in --data")
    check(not os.path.exists(os.path.join(data, "results.csv")), "--db: no results.csv")
    server = Server(args.server, data, extra=["--db", f"sqlite:{db_file}"]).start()
    rows = list(csv.reader(io.StringIO(server.get("/api/records").text)))
    check(rows[0] == ["time", "input", "face", "top", "right", "bottom", "left", "name", "distance", "match"]
          and len(rows) == 2 and rows[1][1].endswith("(obama_2.jpg)") and rows[1][7] == "obama"
          and rows[1][9] == "true" and float(rows[1][8]) < 0.6,
          f"--db sqlite: the recognize is a row of the results table, kept across a restart: {rows}")
    check(len(all_faces(server)) == 1, "--db sqlite: the gallery is kept across a restart")
    server.stop()
    code = subprocess.run([args.server, "--port", "0", "--data", data, "--db", "mysql://x"], capture_output=True,
                          timeout=120)
    check(code.returncode != 0 and b"--db must be" in code.stderr, f"an unknown --db is refused: {code.stderr[-200:]}")
    code = subprocess.run([args.server, "--port", "0", "--data", data, "--db",
                           "postgresql://faceapp:hunter2@127.0.0.1:1/faceapp"], capture_output=True, timeout=120)
    said = code.stdout + code.stderr
    check(code.returncode == 1 and b"hunter2" not in said and (b".pgpass" in said or b"without PostgreSQL" in said),
          f"a password in --db is refused, pointing at .pgpass, and never echoed: {said[-300:]}")
finally:
    shutil.rmtree(scratch, ignore_errors=True)

check.done()
