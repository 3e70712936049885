"""POST /api/search: the k nearest known faces of each encoding sent, against a brute-force float32 search in numpy
over the gallery's own encodings. The gallery is `faceapp encode` of the one-face photos of tests/data/faces
(imported through `faceapp-web import`) plus variations of them; the queries are `faceapp encode` of every photo,
group photos too. Then every bound at its edge: 100/101 encodings, k 0/1/100/101, 127/128/129 numbers, values that
are not finite numbers, and an empty gallery. One server start for the gallery, one for the empty one."""

import csv
import io
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from webtest import Checks, Server, json_error, manifest, parse_args, require

args = parse_args(__doc__)
require(args.cli, "--cli PATH of the faceapp command line")
faceapp_cli = args.cli
truth = manifest(args.faces)
check = Checks()
MAX_ENCODINGS = 100
MAX_K = 100


def encode(paths):
    """`faceapp encode` of the photos: [(path, face, encoding as float32)]."""
    out = subprocess.run([faceapp_cli, "encode", *paths], capture_output=True, text=True, check=True).stdout
    rows = []
    for row in csv.reader(io.StringIO(out)):
        require(len(row) == 6 + 128, f"faceapp encode row of 134 columns: {row[:6]}")
        rows.append((row[0], int(row[1]), np.array([float(v) for v in row[6:]], dtype=np.float32)))
    return rows


def search(server, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return server.request("POST", "/api/search", data.encode() if isinstance(data, str) else data, content_type)


def brute_force(gallery, ids, query, k):
    """[(id, distance)] of the k nearest rows, nearest first, in float32 like the server."""
    d = np.sqrt(((gallery - query.astype(np.float32)) ** 2).sum(axis=1, dtype=np.float32), dtype=np.float32)
    order = np.argsort(d, kind="stable")[:k]
    return [(ids[i], float(d[i])) for i in order], d


def same_answer(got, gallery, ids, query, k):
    """The server's list equals the brute force: the same ids in the same order (up to rows whose distances are
    within float rounding of each other) and the same distances."""
    want, d = brute_force(gallery, ids, query, k)
    if len(got) != len(want):
        return False, f"{len(got)} hits, expected {len(want)}"
    for rank, (hit, (wid, wdist)) in enumerate(zip(got, want)):
        if abs(hit["distance"] - wdist) > 1e-5:
            return False, f"rank {rank}: distance {hit['distance']} != {wdist}"
        if hit["id"] != wid and abs(float(d[ids.index(hit["id"])]) - wdist) > 1e-6:
            return False, f"rank {rank}: id {hit['id']} != {wid}"
    return True, ""


# ---- the gallery: the one-face photos, encoded by the command line, and seeded variations of them ----
single = sorted(f for f, (_, n) in truth.items() if n == 1)
require(len(single) >= 10, f"tests/data/faces has one-face photos: {len(single)}")
every = sorted(f for f, (_, n) in truth.items() if n)
queries = encode([os.path.join(args.faces, f) for f in every])  # one run of the command line for all
require(len(queries) > len(every), f"group photos give several encodings: {len(queries)}")
known = [q for q in queries if os.path.basename(q[0]) in single]
require(len(known) == len(single), f"one encoding per one-face photo: {len(known)} of {len(single)}")
rng = np.random.default_rng(26)
names, encodings = [], []
for path, _, e in known:
    names.append(os.path.splitext(os.path.basename(path))[0])  # the photo, as a person named after it
    encodings.append(e)
for i in range(1500):  # near neighbours of the real ones: many close candidates for each query
    j = i % len(known)
    names.append(f"variation {i} of {names[j]}")
    encodings.append((known[j][2] + rng.normal(0, 0.02, 128)).astype(np.float32))
gallery = np.stack(encodings).astype(np.float32)
data_dir = tempfile.mkdtemp(prefix="faceapp-search-test-")
faces_csv = os.path.join(data_dir, "faces.csv")
with open(faces_csv, "w", newline="") as f:
    w = csv.writer(f)
    for name, e in zip(names, gallery):
        w.writerow([name, *[repr(float(v)) for v in e]])
imported = subprocess.run([args.server, "import", "--data", data_dir, faces_csv], capture_output=True, text=True)
require(imported.returncode == 0, f"import: {imported.returncode} {imported.stderr}")
os.remove(faces_csv)
ids = list(range(1, len(names) + 1))  # import gives ids in file order from 1

server = Server(args.server, data_dir=data_dir).start()
try:
    # ---- the answers: equal to the brute force, k = 1, 5 and one larger than the gallery ----
    batch = [q for _, _, q in queries[:MAX_ENCODINGS]]
    for k in (1, 5):
        r = search(server, {"encodings": [q.tolist() for q in batch], "k": k})
        body = r.json() if r.status == 200 else {}
        check(r.status == 200 and len(body.get("results", [])) == len(batch),
              f"k={k}: one list per encoding: {r.status} {r.body[:200]}")
        bad = [(i, why) for i, (got, q) in enumerate(zip(body.get("results", []), batch))
               for ok, why in [same_answer(got, gallery, ids, q, k)] if not ok]
        check(not bad, f"k={k}: every list equals the float32 brute force: {bad[:3]}")
        if k == 1:
            # The one-face photos' own encodings find themselves, at distance 0, by their names.
            for (path, _, _), hits in zip(queries, body.get("results", [])):
                name = os.path.basename(path)
                if name in single:
                    row = single.index(name)
                    check(hits and hits[0]["id"] == ids[row] and hits[0]["name"] == names[row]
                          and hits[0]["distance"] < 1e-6, f"{name} finds itself: {hits[:1]}")
    r = search(server, {"encodings": [batch[0].tolist()]})
    check(r.status == 200 and len(r.json()["results"][0]) == 1, f"k is 1 when absent: {r.body[:200]}")

    # ---- bounds: encodings 100 / 101, k 0 / 1 / 100 / 101 ----
    one = batch[0].tolist()
    r = search(server, {"encodings": [one] * MAX_ENCODINGS, "k": 1})
    check(r.status == 200 and len(r.json()["results"]) == MAX_ENCODINGS, f"{MAX_ENCODINGS} encodings: {r.status}")
    r = search(server, {"encodings": [one] * (MAX_ENCODINGS + 1), "k": 1})
    check(r.status == 400 and "101" in (json_error(r.body) or "") and "100" in json_error(r.body),
          f"{MAX_ENCODINGS + 1} encodings: 400 naming the count and the limit: {r.status} {r.body[:200]}")
    r = search(server, {"encodings": [], "k": 1})
    check(r.status == 400 and "empty" in (json_error(r.body) or ""), f"no encodings: 400: {r.body[:200]}")
    for k, ok in ((0, False), (1, True), (MAX_K, True), (MAX_K + 1, False), (-1, False)):
        r = search(server, {"encodings": [one], "k": k})
        if ok:
            hits = r.json()["results"][0] if r.status == 200 else []
            good, why = same_answer(hits, gallery, ids, batch[0], k) if r.status == 200 else (False, r.status)
            check(good and len(hits) == k, f"k={k}: {k} hits, as the brute force: {why}")
        else:
            check(r.status == 400 and "\"k\"" in (json_error(r.body) or ""), f"k={k}: 400 naming k: {r.body[:200]}")
    for k in (1.5, "1", True, None):
        r = search(server, {"encodings": [one], "k": k})
        check(r.status == 400 and "\"k\"" in (json_error(r.body) or ""), f"k={k!r}: 400 naming k: {r.body[:200]}")

    # ---- 127 / 128 / 129 numbers, and values that are not finite numbers, named by encoding and index ----
    for n, ok in ((127, False), (128, True), (129, False)):
        e = (one * 2)[:n]
        r = search(server, {"encodings": [one, e], "k": 1})
        if ok:
            check(r.status == 200, f"{n} numbers: 200: {r.status} {r.body[:200]}")
        else:
            check(r.status == 400 and f"encodings[1] has {n} values, expected 128" in (json_error(r.body) or ""),
                  f"{n} numbers: 400 naming encodings[1]: {r.body[:200]}")
    for value, raw in (("NaN", True), ("Infinity", True), ("-Infinity", True), ("1e39", True), ('"0.1"', True),
                       ("null", True), ("[0.1]", True)):
        e = [str(v) for v in one]
        e[17] = value
        text = '{"encodings": [[' + ",".join(str(v) for v in one) + "], [" + ",".join(e) + ']], "k": 1}'
        r = search(server, text)
        error = json_error(r.body) or ""
        if value in ("NaN", "Infinity", "-Infinity"):  # not JSON at all
            check(r.status == 400 and "not valid JSON" in error, f"{value}: 400, not JSON: {r.body[:200]}")
        else:
            check(r.status == 400 and "encodings[1][17]" in error, f"{value}: 400 naming encodings[1][17]: {r.body[:200]}")
    r = search(server, {"encodings": [one, "x"]})
    check(r.status == 400 and "encodings[1]" in (json_error(r.body) or ""), f"a string encoding: {r.body[:200]}")
    for body, what in (("{", "not valid JSON"), ("[1]", "not a JSON object"), ("{}", "missing \"encodings\""),
                       ('{"encodings": 3}', "\"encodings\" is not an array")):
        r = search(server, body)
        check(r.status == 400 and what in (json_error(r.body) or ""), f"{body!r}: 400 {what}: {r.body[:200]}")
    r = search(server, {"encodings": [one]}, content_type="text/plain")
    check(r.status == 415, f"not application/json: 415: {r.status} {r.body[:200]}")
    r = server.request("GET", "/api/search")
    check(r.status == 405, f"GET /api/search: 405: {r.status}")
    check(server.proc.poll() is None, "the server is still running")
finally:
    server.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)

# ---- an empty gallery: an empty list per encoding, whatever k ----
empty = Server(args.server).start()
try:
    r = search(empty, {"encodings": [one, one], "k": MAX_K})
    check(r.status == 200 and r.json() == {"results": [[], []]}, f"empty gallery: empty lists: {r.body[:200]}")
finally:
    empty.cleanup()

# ---- a gallery smaller than k: every face, nearest first ----
small_dir = tempfile.mkdtemp(prefix="faceapp-search-small-")
small_csv = os.path.join(small_dir, "faces.csv")
with open(small_csv, "w", newline="") as f:
    w = csv.writer(f)
    for name, e in zip(names[:3], gallery[:3]):
        w.writerow([name, *[repr(float(v)) for v in e]])
require(subprocess.run([args.server, "import", "--data", small_dir, small_csv], capture_output=True).returncode == 0,
        "import of three faces")
small = Server(args.server, data_dir=small_dir).start()
try:
    r = search(small, {"encodings": [one], "k": 10})
    hits = r.json()["results"][0] if r.status == 200 else []
    good, why = same_answer(hits, gallery[:3], ids[:3], batch[0], 10)
    check(r.status == 200 and len(hits) == 3 and good, f"k=10 over 3 faces: all 3, nearest first: {why} {r.body[:200]}")
finally:
    small.cleanup()
    shutil.rmtree(small_dir, ignore_errors=True)
check.done()
