"""faceapp-web import of numpy .npy files: versions 1.0, 2.0 and 3.0, float32 and float64, shape (N, 128) in C
order, N names one a line; read back through `faceapp-web export` and a server's POST /api/search. Every bad
file is an error naming the file (and the row, for a value that is not finite) that stores nothing: bad magic, a
wrong shape, Fortran order, another dtype, a truncated file, NaN and infinity, a count of names one off either
way. The .npy files are made with numpy here; the encodings are `faceapp encode`'s of tests/data's photos."""

import csv
import io
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from webtest import Checks, Server, manifest, parse_args, require

args = parse_args(__doc__)
require(args.cli, "--cli PATH of the faceapp command line")
truth = manifest(args.faces)
check = Checks()
scratch = tempfile.mkdtemp(prefix="faceapp-npy-test-")

photos = sorted(f for f, (_, n) in truth.items() if n == 1)[:8]
out = subprocess.run([args.cli, "encode", *[os.path.join(args.faces, f) for f in photos]], capture_output=True,
                     text=True, check=True).stdout
rows = [r for r in csv.reader(io.StringIO(out))]
require(len(rows) == len(photos), f"one encoding per one-face photo: {len(rows)}")
real = np.array([[float(v) for v in r[6:]] for r in rows], dtype=np.float64)
names = [os.path.splitext(f)[0] for f in photos]


def save(name, array, version=None, fortran=False):
    path = os.path.join(scratch, name)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, np.asfortranarray(array) if fortran else array, version=version)
    return path


def names_file(name, values, end="\n"):
    path = os.path.join(scratch, name)
    with open(path, "w", newline="") as f:
        f.write(end.join(values) + (end if values else ""))
    return path


def run_import(data, npy, names_path):
    return subprocess.run([args.server, "import", "--data", data, npy, "--names", names_path], capture_output=True,
                          text=True)


def exported(data):
    """(names, float32 matrix) of `faceapp-web export`."""
    r = subprocess.run([args.server, "export", "--data", data], capture_output=True, text=True)
    require(r.returncode == 0, f"export: {r.stderr}")
    body = list(csv.reader(io.StringIO(r.stdout)))[1:]
    return [row[0] for row in body], np.array([[float(v) for v in row[1:]] for row in body], dtype=np.float32)


try:
    names_txt = names_file("names.txt", names)
    # ---- every version and both dtypes: the rows come back as float32, under their names, in order ----
    for version in ((1, 0), (2, 0), (3, 0)):
        for dtype in ("<f4", "<f8"):
            data = os.path.join(scratch, f"ok-{version[0]}-{dtype[1:]}")
            npy = save(f"ok-{version[0]}-{dtype[1:]}.npy", real.astype(dtype), version=version)
            r = run_import(data, npy, names_txt)
            got_names, got = exported(data) if r.returncode == 0 else ([], np.zeros((0, 128)))
            check(r.returncode == 0 and got_names == names and np.array_equal(got, real.astype(np.float32)),
                  f".npy {version} {dtype}: every row, exactly as float32, under its name: {r.returncode} {r.stderr}")
    # CRLF names, and an empty matrix with no names
    data = os.path.join(scratch, "crlf")
    r = run_import(data, save("crlf.npy", real.astype("<f4")), names_file("crlf.txt", names, "\r\n"))
    check(r.returncode == 0 and exported(data)[0] == names, f"names with CRLF line ends: {r.stderr}")
    data = os.path.join(scratch, "none")
    r = run_import(data, save("none.npy", np.zeros((0, 128), dtype="<f4")), names_file("none.txt", []))
    check(r.returncode == 0 and exported(data)[0] == [], f"shape (0, 128) with no names: {r.stderr}")

    # the imported gallery answers a search with the rows it was given
    data = os.path.join(scratch, "ok-1-f4")
    server = Server(args.server, data_dir=data).start()
    try:
        q = real.astype(np.float32)
        r = server.request("POST", "/api/search", json.dumps({"encodings": q.tolist(), "k": 1}).encode(),
                           "application/json")
        hits = r.json()["results"] if r.status == 200 else []
        check([h[0]["name"] for h in hits] == names and all(h[0]["distance"] < 1e-6 for h in hits),
              f"each imported row is found by its own encoding: {r.body[:300]}")
    finally:
        server.stop()

    # ---- bad files: an error naming the file, exit 1, nothing stored (a gallery already there stays as it was) ----
    base = os.path.join(scratch, "base")
    require(run_import(base, save("base.npy", real[:2].astype("<f4")), names_file("base.txt", names[:2])).returncode
            == 0, "a gallery of two faces to keep")
    good = save("good.npy", real.astype("<f4"))
    raw = open(good, "rb").read()

    def write(name, data):
        path = os.path.join(scratch, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    nan = real.copy()
    nan[5, 17] = np.nan
    inf = real.copy()
    inf[3, 0] = np.inf
    big = real.copy()
    big[6, 127] = 1e39  # a float64, but no float32
    cases = [
        ("bad magic", write("magic.npy", b"\x93NUMPZ" + raw[6:]), names_txt, ["magic.npy", "not a .npy file"]),
        ("version 4", write("v4.npy", raw[:6] + b"\x04\x00" + raw[8:]), names_txt, ["v4.npy", "version 4"]),
        ("127 columns", save("c127.npy", real[:, :127].astype("<f4")), names_txt, ["c127.npy", "shape"]),
        ("129 columns", save("c129.npy", np.hstack([real, real[:, :1]]).astype("<f4")), names_txt,
         ["c129.npy", "shape"]),
        ("3 dimensions", save("d3.npy", real.astype("<f4").reshape(len(names), 128, 1)), names_txt,
         ["d3.npy", "shape"]),
        ("1 dimension", save("d1.npy", real[0].astype("<f4")), names_file("one.txt", names[:1]), ["d1.npy", "shape"]),
        ("Fortran order", save("fortran.npy", real.astype("<f4"), fortran=True), names_txt,
         ["fortran.npy", "Fortran order"]),
        ("float16", save("f2.npy", real.astype("<f2")), names_txt, ["f2.npy", "dtype"]),
        ("big-endian float32", save("be.npy", real.astype(">f4")), names_txt, ["be.npy", "dtype"]),
        ("int32", save("i4.npy", real.astype("<i4")), names_txt, ["i4.npy", "dtype"]),
        ("truncated data", write("cut.npy", raw[:-1]), names_txt, ["cut.npy", "truncated"]),
        ("truncated header", write("cuthead.npy", raw[:40]), names_txt, ["cuthead.npy", "truncated"]),
        ("a byte too many", write("long.npy", raw + b"\0"), names_txt, ["long.npy", "1 bytes after"]),
        ("NaN", save("nan.npy", nan.astype("<f4")), names_txt, ["nan.npy", "row 5", "column 17"]),
        ("infinity, float64", save("inf.npy", inf.astype("<f8")), names_txt, ["inf.npy", "row 3", "column 0"]),
        ("1e39 in float64", save("big.npy", big.astype("<f8")), names_txt, ["big.npy", "row 6", "column 127"]),
        ("one name too few", good, names_file("few.txt", names[:-1]), ["few.txt", f"{len(names) - 1} names"]),
        ("one name too many", good, names_file("many.txt", names + ["extra"]), ["many.txt", f"{len(names) + 1} names"]),
        ("an empty name", good, names_file("empty.txt", names[:3] + [""] + names[4:]), ["empty.txt:4"]),
    ]
    for what, npy, names_path, words in cases:
        r = run_import(base, npy, names_path)
        check(r.returncode == 1 and all(w in r.stderr for w in words),
              f"{what}: exit 1, the error names {words}: {r.returncode} {r.stderr.strip()}")
        check(exported(base)[0] == names[:2], f"{what}: nothing stored")
        fresh = os.path.join(scratch, "fresh")
        run_import(fresh, npy, names_path)
        check(not os.path.exists(os.path.join(fresh, "faceapp.db")), f"{what}: no database created")
    r = subprocess.run([args.server, "import", "--data", base, good], capture_output=True, text=True)
    check(r.returncode == 1 and "--names" in r.stderr, f"a .npy without --names: {r.stderr.strip()}")
finally:
    shutil.rmtree(scratch, ignore_errors=True)
check.done()
