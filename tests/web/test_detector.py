"""faceapp-web --detector: a node started with --detector cnn finds the faces of real photos with the cnn detector
(face counts against the manifest, including a turned face HOG misses), its boxes sit where HOG's do, faces it
remembers are recognized, and an unknown detector is refused at start."""

import os
import subprocess

from webtest import Checks, Server, manifest, parse_args, read, require

args = parse_args(__doc__)


def iou(a, b):
    w = min(a["right"], b["right"]) - max(a["left"], b["left"])
    h = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    if w <= 0 or h <= 0:
        return 0.0
    area = lambda r: (r["right"] - r["left"]) * (r["bottom"] - r["top"])
    return w * h / (area(a) + area(b) - w * h)


def photo(name):
    return read(os.path.join(args.faces, name))


def found(server, name):
    """The answer of POST /api/recognize for the test photo `name`."""
    r = server.post("/api/recognize", files=[("image", name, photo(name))])
    require(r.status == 200, f"recognize {name} on {server.extra}: {r.status} {r.body[:200]}")
    return r.json()


truth = manifest(args.faces)
check = Checks()

# An unknown detector: refused before anything starts, naming the flag.
bad = subprocess.run([args.server, "--port", "0", "--detector", "dog"], capture_output=True, timeout=60)
check(bad.returncode != 0 and b"--detector" in bad.stdout + bad.stderr,
      f"--detector dog is refused: {bad.returncode} {bad.stderr[:200]!r}")

cnn = Server(args.server, extra=["--detector", "cnn"]).start()
hog = Server(args.server, extra=["--detector", "hog"]).start()
try:
    # Face counts against the manifest: single faces, a group, a photo without a face, and group_5, whose turned
    # face dlib's HOG misses (its count through the HOG node must differ: the flag reaches the detector).
    for name in ("obama_2.jpg", "biden_1.jpg", "group_1.jpg", "group_5.jpg", "noface_1.png"):
        expected = truth[name][1]
        got = found(cnn, name)
        check(got["faces_found"] == expected and len(got["faces"]) == expected,
              f"--detector cnn finds {expected} face(s) in {name}: {got['faces_found']}")
    by_hog = found(hog, "group_5.jpg")
    check(by_hog["faces_found"] != truth["group_5.jpg"][1],
          f"--detector hog misses group_5.jpg's turned face, as dlib's HOG does: {by_hog['faces_found']}")

    # The cnn's boxes are mapped onto HOG's box of the same face: they overlap HOG's closely.
    for name in ("obama_2.jpg", "biden_1.jpg", "group_1.jpg"):
        c, h = found(cnn, name)["faces"], found(hog, name)["faces"]
        worst = min((max(iou(a["box"], b["box"]) for b in h) for a in c), default=0.0) if h else 0.0
        check(len(c) == len(h) and worst >= 0.6, f"{name}: each cnn box overlaps a HOG box at IoU >= 0.6 ({worst:.2f})")

    # Remember a face through cnn boxes, recognize the same person in another photo, and not someone else.
    r = cnn.post("/api/faces", fields=[("name", "Obama")], files=[("image", "obama_1.jpg", photo("obama_1.jpg"))])
    check(r.status == 201, f"remember obama_1.jpg on the cnn node: {r.status} {r.body[:200]}")
    faces = found(cnn, "obama_2.jpg")["faces"]
    check(len(faces) == 1 and faces[0]["name"] == "Obama", f"obama_2.jpg is recognized as Obama: {faces}")
    faces = found(cnn, "biden_1.jpg")["faces"]
    check(len(faces) == 1 and faces[0]["name"] is None, f"biden_1.jpg is nobody known: {faces}")
finally:
    cnn.cleanup()
    hog.cleanup()

check.done()
