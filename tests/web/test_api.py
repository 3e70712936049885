"""faceapp-web: every endpoint, with real photos of tests/data/faces checked against the manifest, and every
bad input answered with the right status and a JSON error, never a crash."""

import hashlib
import os
import re
import struct
import zlib

from webtest import Checks, Server, manifest, parse_args, read, records

args = parse_args(__doc__)
faces_dir = args.faces
truth = manifest(faces_dir)
check = Checks()


def photo(name):
    return read(os.path.join(faces_dir, name))


def is_json_error(r, status):
    try:
        body = r.json()
    except ValueError:
        return False
    return r.status == status and isinstance(body.get("error"), str) and body["error"] != ""


def png_claiming(width, height):
    """A PNG whose header claims width x height pixels; its data is a few bytes only."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


server = Server(args.server).start()
try:
    # ---- pages ----
    for path, title in (("/", "Remember a face"), ("/faceapp", "Recognize")):
        r = server.get(path)
        check(r.status == 200 and r.headers.get("Content-Type", "").startswith("text/html"), f"GET {path}")
        check(title in r.text, f"GET {path} shows '{title}'")
        check("No liveness check" in r.text and "printed photo" in r.text, f"GET {path} states there is no liveness check")
        check("until you delete them" in r.text and "results.csv" in r.text, f"GET {path} says how long data is kept")
        check('name="viewport"' in r.text, f"GET {path} is set up for phone screens")
        check("<script" not in r.text, f"GET {path} needs no JavaScript")

    # ---- recognize with an empty gallery: faces found, nobody known ----
    before = len(records(server))
    r = server.post("/api/recognize", files=[("image", "obama_2.jpg", photo("obama_2.jpg"))])
    check(r.status == 200, f"recognize, empty gallery: {r.status} {r.body[:200]}")
    faces = r.json()["faces"]
    check(len(faces) == truth["obama_2.jpg"][1], f"recognize finds the manifest's face count in obama_2.jpg: {faces}")
    check(all(f["name"] is None and f["distance"] is None for f in faces), "empty gallery: name and distance null")

    # ---- remember one photo of each person ----
    people = {}
    for file in ("obama_1.jpg", "biden_1.jpg", "kit_harington_1.jpeg", "rose_leslie_1.jpg", "alex_lacamoire_2.jpg"):
        identity = truth[file][0]
        r = server.post("/api/faces", fields=[("name", identity)], files=[("image", file, photo(file))])
        ok = check(r.status == 201, f"POST /api/faces {file}: {r.status} {r.body[:200]}")
        if ok:
            body = r.json()
            check(body["name"] == identity and isinstance(body["id"], int), f"stored face of {file}: {body}")
            b = body["box"]
            check(b["left"] < b["right"] and b["top"] < b["bottom"], f"stored face of {file} has a box: {b}")
            people[identity] = body["id"]
            t = server.get(body["thumbnail"])
            check(t.status == 200 and t.body[:3] == b"\xff\xd8\xff", f"thumbnail of {file} is a JPEG")
            check(t.headers.get("Cross-Origin-Resource-Policy") == "same-origin"
                  and t.headers.get("Cache-Control") == "private, max-age=86400",
                  f"a thumbnail: no other site may embed it, only the browser may keep it: {t.headers}")
    r = server.get("/api/faces")
    listed = {f["name"]: f["id"] for f in r.json()["faces"]}
    check(r.status == 200 and listed == people, f"GET /api/faces lists what was added: {listed}")

    # ---- recognize: the other photos of these people, by the manifest ----
    expected_rows = 1  # the empty-gallery recognize above
    for file in ("obama_2.jpg", "obama_3.jpg", "kit_harington_2.jpeg", "kit_harington_3.jpg", "rose_leslie_2.jpg",
                 "rose_leslie_3.jpg", "alex_lacamoire_3.jpg", "biden_1.jpg"):
        identity, count = truth[file]
        r = server.post("/api/recognize", files=[("image", file, photo(file))])
        if not check(r.status == 200, f"recognize {file}: {r.status} {r.body[:200]}"):
            continue
        faces = r.json()["faces"]
        expected_rows += max(1, len(faces))
        check(len(faces) == count, f"recognize {file}: {len(faces)} faces, manifest says {count}")
        largest = max(faces, key=lambda f: (f["box"]["right"] - f["box"]["left"]) * (f["box"]["bottom"] - f["box"]["top"]))
        check(largest["name"] == identity, f"recognize {file}: largest face is {largest['name']}, manifest says {identity}")
        check(largest["distance"] is not None and 0 <= largest["distance"] <= 0.6,
              f"recognize {file}: distance {largest['distance']} within the tolerance")
        check(largest["similarity"] is not None and largest["similarity"] >= 50, f"recognize {file}: similarity >= 50%")
    # A group photo: Obama and Biden together (group_3: two adults and a child).
    r = server.post("/api/recognize", files=[("image", "group_3.jpg", photo("group_3.jpg"))])
    names = [f["name"] for f in r.json()["faces"]]
    expected_rows += max(1, len(names))
    check("obama" in names and "biden" in names, f"group_3.jpg: obama and biden recognized: {names}")
    # Nobody: a photo without a face gives an empty list and one record row.
    r = server.post("/api/recognize", files=[("image", "noface_2.jpg", photo("noface_2.jpg"))])
    check(r.status == 200 and r.json()["faces"] == [], f"noface_2.jpg: no face: {r.body[:200]}")
    expected_rows += 1
    # A stranger stays unknown: Tom Cruise is none of the five.
    r = server.post("/api/recognize", files=[("image", "tom_cruise_1.jpg", photo("tom_cruise_1.jpg"))])
    faces = r.json()["faces"]
    expected_rows += max(1, len(faces))
    check(len(faces) == 1 and faces[0]["name"] is None and faces[0]["distance"] > 0.6,
          f"tom_cruise_1.jpg is unknown: {faces}")
    # A stricter tolerance turns a match into unknown.
    r = server.post("/api/recognize", fields=[("tolerance", "0.05")], files=[("image", "obama_2.jpg", photo("obama_2.jpg"))])
    faces = r.json()["faces"]
    expected_rows += max(1, len(faces))
    check(len(faces) == 1 and faces[0]["name"] is None and faces[0]["distance"] > 0.05, f"tolerance 0.05: unknown: {faces}")

    # ---- compare ----
    def compare(a, b, tolerance=None):
        fields = [("tolerance", tolerance)] if tolerance is not None else []
        return server.post("/api/compare", fields=fields, files=[("a", a, photo(a)), ("b", b, photo(b))])

    r = compare("obama_1.jpg", "obama_2.jpg")
    body = r.json()
    check(r.status == 200 and set(body) >= {"distance", "match", "similarity", "faces_a", "faces_b"},
          f"compare answers the five fields: {body}")
    check(body["match"] is True and body["distance"] <= 0.6 and body["similarity"] >= 50, f"same person: {body}")
    check(body["faces_a"] == truth["obama_1.jpg"][1] and body["faces_b"] == truth["obama_2.jpg"][1], "face counts")
    same_distance = body["distance"]
    r = compare("obama_1.jpg", "biden_1.jpg")
    body = r.json()
    check(body["match"] is False and body["distance"] > 0.6 and body["similarity"] < 50, f"different people: {body}")
    r = compare("obama_1.jpg", "obama_2.jpg", "0.1")
    body = r.json()
    check(body["match"] is False and abs(body["distance"] - same_distance) < 1e-6, f"tolerance 0.1: no match: {body}")
    r = compare("obama_1.jpg", "noface_2.jpg")
    body = r.json()
    check(r.status == 200 and body["distance"] is None and body["match"] is False and body["faces_b"] == 0,
          f"compare with a photo without a face: {body}")
    expected_rows += 4

    # ---- every result recorded: date, inputs (hash and file name), result ----
    rows = records(server)
    new = rows[before:]
    check(len(new) == expected_rows, f"{len(new)} new record rows, expected {expected_rows}")
    digest = hashlib.sha256(photo("obama_2.jpg")).hexdigest()
    obama2 = [row for row in new if row[1] == f"sha256:{digest} (obama_2.jpg)"]
    check(len(obama2) == 3, f"obama_2.jpg recorded by content hash and name: {len(obama2)} rows")
    check(any(row[7] == "obama" and row[9] == "true" for row in obama2), "its record names obama, match true")
    cmp_rows = [row for row in new if " vs " in row[1]]
    check(len(cmp_rows) == 4, f"each compare recorded as one row naming both inputs: {len(cmp_rows)}")
    check(all(row[0].endswith("Z") and "T" in row[0] for row in new), "record rows carry a UTC date")

    # ---- bad inputs: the right status, a JSON error, nothing recorded, the server still up ----
    count = len(records(server))
    jpeg = photo("obama_2.jpg")
    bad = {
        "not an image": ([("image", "notes.jpg", b"this is plain text, not a photo\n" * 20)], 415),
        "truncated JPEG": ([("image", "cut.jpg", jpeg[: len(jpeg) // 2])], 400),
        "empty file": ([("image", "empty.jpg", b"")], 400),
        "PNG claiming 50000x50000": ([("image", "bomb.png", png_claiming(50000, 50000))], 413),
        "corrupt PNG": ([("image", "bad.png", png_claiming(64, 64)[:40] + b"garbage" * 10)], 400),
    }
    for endpoint in ("/api/recognize", "/api/faces", "/api/compare"):
        for what, (files, status) in bad.items():
            fields = [("name", "someone")] if endpoint == "/api/faces" else []
            if endpoint == "/api/compare":
                files = [("a", "obama_1.jpg", photo("obama_1.jpg")), ("b", files[0][1], files[0][2])]
            r = server.post(endpoint, fields=fields, files=files)
            check(is_json_error(r, status), f"{endpoint} {what}: expected {status}, got {r.status} {r.body[:200]}")
        # missing field -> 400
        fields = [("name", "someone")] if endpoint == "/api/faces" else []
        files = [("a", "obama_1.jpg", photo("obama_1.jpg"))] if endpoint == "/api/compare" else []
        r = server.post(endpoint, fields=fields, files=files)
        check(is_json_error(r, 400), f"{endpoint} missing image field: {r.status} {r.body[:200]}")
        # wrong content type -> 415
        r = server.request("POST", endpoint, jpeg, "image/jpeg")
        check(is_json_error(r, 415), f"{endpoint} raw image/jpeg body: {r.status} {r.body[:200]}")
        r = server.request("POST", endpoint, b'{"image": "x"}', "application/json")
        check(is_json_error(r, 415), f"{endpoint} JSON body: {r.status} {r.body[:200]}")
        # oversize body -> 413
        big = os.urandom(11 << 20)
        r = server.post(endpoint, fields=fields, files=[("image", "big.jpg", b"\xff\xd8\xff" + big)])
        check(is_json_error(r, 413), f"{endpoint} 11 MB body: {r.status} {r.body[:200]}")
    r = server.post("/api/faces", files=[("image", "obama_1.jpg", photo("obama_1.jpg"))])
    check(is_json_error(r, 400), f"/api/faces without a name: {r.status}")
    r = server.post("/api/faces", fields=[("name", "   ")], files=[("image", "obama_1.jpg", photo("obama_1.jpg"))])
    check(is_json_error(r, 400), f"/api/faces with a blank name: {r.status}")
    r = server.post("/api/faces", fields=[("name", "nobody")], files=[("image", "noface_2.jpg", photo("noface_2.jpg"))])
    check(is_json_error(r, 400), f"/api/faces with a photo without a face: {r.status}")
    for tol in ("abc", "-1", "2", "nan"):
        r = server.post("/api/recognize", fields=[("tolerance", tol)], files=[("image", "obama_1.jpg", photo("obama_1.jpg"))])
        check(is_json_error(r, 400), f"tolerance {tol!r}: {r.status}")
    for path in ("/api/faces/999999", "/api/faces/abc", "/api/faces/-1"):
        r = server.request("DELETE", path)
        check(is_json_error(r, 404), f"DELETE {path}: {r.status} {r.body[:200]}")
    r = server.get("/faces/999999/thumbnail.jpg")
    check(r.status == 404, f"thumbnail of an unknown id: {r.status}")
    # A repeated field is refused, not joined or picked: which of two images was checked would be a guess.
    twice = [("image", "obama_1.jpg", photo("obama_1.jpg")), ("image", "biden_1.jpg", photo("biden_1.jpg"))]
    r = server.post("/api/recognize", files=twice)
    check(is_json_error(r, 400) and "'image'" in r.json()["error"],
          f"a repeated image field: {r.status} {r.body[:200]}")
    r = server.post("/api/faces", fields=[("name", "a"), ("name", "b")], files=twice[:1])
    check(is_json_error(r, 400) and "'name'" in r.json()["error"], f"a repeated text field: {r.status} {r.body[:200]}")
    r = server.post("/api/compare", fields=[("tolerance", "0.5")], files=twice)
    check(is_json_error(r, 400), f"a compare with two 'image' fields (and no a, b) is still 400: {r.status}")
    for path in ("/api/faces", "/", "/faceapp"):
        r = server.get(path)
        check(r.headers.get("Cache-Control") == "no-store", f"GET {path} is not to be cached: {r.headers}")
    r = server.get("/api/nothing")
    check(is_json_error(r, 404), f"unknown API path: {r.status}")
    check(len(records(server)) == count, "refused requests are not recorded")
    check(server.proc.poll() is None, "the server is still running after the bad inputs")

    # ---- names are escaped in HTML; uploaded file names never reach the file system ----
    evil = '<script>alert("x")</script> & <b>Co</b>'
    r = server.post("/api/faces", fields=[("name", evil)], files=[("image", "../../../evil.jpg", photo("biden_1.jpg"))])
    check(r.status == 201 and r.json()["name"] == evil, f"a name with markup is stored as text: {r.status}")
    evil_id = r.json()["id"]
    page = server.get("/").text
    check("<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in page,
          "the name is escaped on the main page")
    # (A '"' would end the quoted file name in Content-Disposition: the markup comes after a "'".)
    r = server.post("/faceapp", files=[("a", "'><img src=x>.jpg", photo("biden_1.jpg")),
                                       ("b", "b.jpg", photo("biden_1.jpg"))])
    check(r.status == 200 and "<img src=x>" not in r.text and "&#39;&gt;&lt;img src=x&gt;.jpg" in r.text,
          "an uploaded file name is escaped on the result page")
    files_on_disk = [f for _, _, fs in os.walk(server.data_dir) for f in fs]
    check(not any("evil" in f or "img" in f for f in files_on_disk), f"no uploaded name on disk: {files_on_disk}")
    check(sorted(files_on_disk) == ["faceapp.db", "faceapp.db-shm", "faceapp.db-wal", "results.csv"],
          f"data directory holds: {files_on_disk}")

    # ---- delete ----
    r = server.request("DELETE", f"/api/faces/{evil_id}")
    check(r.status == 200 and r.json() == {"deleted": evil_id}, f"DELETE an existing face: {r.status} {r.body}")
    r = server.request("DELETE", f"/api/faces/{evil_id}")
    check(is_json_error(r, 404), "DELETE it again: 404")
    check(evil_id not in [f["id"] for f in server.get("/api/faces").json()["faces"]], "it is gone from the list")

    # ---- the HTML forms (what a browser without JavaScript sends) ----
    r = server.post("/faces", fields=[("name", "Rose form")], files=[("image", "rose_leslie_2.jpg", photo("rose_leslie_2.jpg"))])
    check(r.status == 303 and r.headers.get("Location", "").startswith("/?added="), f"form add: {r.status} {r.headers}")
    form_id = int(r.headers["Location"].split("=")[1])
    page = server.get(r.headers["Location"]).text
    check("Remembered Rose form." in page and f'src="/faces/{form_id}/thumbnail.jpg"' in page, "main page lists it")
    r = server.post("/faceapp", fields=[("tolerance", "0.6")], files=[("a", "obama_3.jpg", photo("obama_3.jpg")),
                                                                      ("b", "", b"")])
    check(r.status == 200 and re.search(r'class="box known[^"]*" data-face="0" data-name="obama"', r.text),
          "form recognize: a labelled box for obama")
    r = server.post("/faceapp", files=[("a", "obama_1.jpg", photo("obama_1.jpg")), ("b", "obama_2.jpg", photo("obama_2.jpg"))])
    check(r.status == 200 and 'data-match="true"' in r.text and "Same person" in r.text, "form compare: same person")
    r = server.post("/faceapp", files=[("a", "x.txt", b"hello")])
    check(r.status == 415 and 'class="message error"' in r.text, f"form with a text file: 415 page: {r.status}")
    # The delete button's form has no fields: a browser sends an empty urlencoded body.
    r = server.request("POST", f"/faces/{form_id}/delete", b"", "application/x-www-form-urlencoded")
    check(r.status == 303, f"form delete: {r.status}")
    r = server.request("POST", f"/faces/{form_id}/delete", b"", "application/x-www-form-urlencoded")
    check(r.status == 404, f"form delete again: {r.status}")
finally:
    server.cleanup()

# ---- --keep-uploads: uploads stored under their content hash, nothing else ----
server = Server(args.server, extra=["--keep-uploads"]).start()
try:
    data = photo("kit_harington_3.jpg")
    r = server.post("/api/recognize", files=[("image", "../../secret name.jpg", data)])
    check(r.status == 200, "recognize with --keep-uploads")
    stored = os.listdir(os.path.join(server.data_dir, "uploads"))
    digest = hashlib.sha256(data).hexdigest()
    check(stored == [f"{digest}.jpg"], f"the upload is stored as <sha256>.jpg: {stored}")
    check(read(os.path.join(server.data_dir, "uploads", stored[0])) == data, "with the uploaded bytes")
    row = records(server)[-1]
    check(row[1] == f"sha256:{digest} (secret name.jpg)", f"recorded as hash and cleaned file name: {row[1]}")
    check("--keep-uploads" in server.get("/").text, "the page says uploads are kept")
finally:
    server.cleanup()

check.done()
