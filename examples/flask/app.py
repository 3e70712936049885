"""The two-page face app, on faceapp's face_recognition API.

  /          remember a face: a name and a photo (form fields "name" and "image")
  /faceapp   recognize: a photo (form field "image"); every face is named, or "unknown"

Every result is recorded in results.csv in the data folder, with the date and the images it came from (uploads
are kept under uploads/). Photos are shrunk to --max-side pixels before encoding. The known faces are kept in
known_faces.npz, so they survive a restart.

    python3 examples/flask/app.py --port 5000 [--data DIR] [--max-upload-mb 10] [--tolerance 0.6]

It binds 127.0.0.1 unless --host names another address, which also needs --allow-remote: the app has no login.
The code is written as against face_recognition: the import below is the only faceapp-specific line.
"""
import argparse
import csv
import datetime
import os
import sys
import threading
import uuid

import numpy as np
from flask import Flask, abort, render_template_string, request
from PIL import Image

import faceapp.face_recognition as face_recognition

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<nav><a href="/">Remember a face</a> | <a href="/faceapp">Recognize faces</a></nav>
<h1>{{ title }}</h1>
{% if message %}<p class="message">{{ message }}</p>{% endif %}
{% if results %}<ul class="results">
{% for r in results %}<li>{{ r.name }}{% if r.distance is not none %} (distance {{ '%.3f' % r.distance }}){% endif %}</li>
{% endfor %}</ul>{% endif %}
<form method="post" enctype="multipart/form-data">
{% if remember %}<label>Name <input name="name" required maxlength="100"></label>{% endif %}
<label>Photo <input type="file" name="image" accept="image/*" required></label>
<button type="submit">{{ 'Remember' if remember else 'Recognize' }}</button>
</form>
{% if known %}<p>Known: {{ known | join(', ') }}</p>{% endif %}
</body></html>"""

CSV_FIELDS = ["date", "page", "name", "distance", "match", "uploaded_image", "known_image"]


class KnownFaces:
    """Names, encodings and the photo each came from; saved after every change."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.names, self.images, self.encodings = [], [], []
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as data:
                self.names = [str(n) for n in data["names"]]
                self.images = [str(i) for i in data["images"]]
                self.encodings = list(data["encodings"])

    def add(self, name, image, encoding):
        with self.lock:
            self.names.append(name)
            self.images.append(image)
            self.encodings.append(encoding)
            tmp = self.path + ".tmp"
            with open(tmp, "wb") as out:
                np.savez(out, names=np.array(self.names, dtype=str), images=np.array(self.images, dtype=str),
                         encodings=np.array(self.encodings))
            os.replace(tmp, self.path)

    def snapshot(self):
        with self.lock:
            return list(self.names), list(self.images), list(self.encodings)


def create_app(data_dir, max_upload_mb=10, tolerance=0.6, max_side=1024):
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 1024 * 1024)
    uploads = os.path.join(data_dir, "uploads")
    os.makedirs(uploads, exist_ok=True)
    known = KnownFaces(os.path.join(data_dir, "known_faces.npz"))
    results_csv = os.path.join(data_dir, "results.csv")
    csv_lock = threading.Lock()

    def record(page, name, distance, match, uploaded, known_image=""):
        with csv_lock:
            new = not os.path.exists(results_csv)
            with open(results_csv, "a", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                if new:
                    w.writerow(CSV_FIELDS)
                # A cell a spreadsheet would run as a formula is quoted with a leading apostrophe.
                safe = ("'" + name) if name[:1] in ("=", "+", "-", "@") else name
                w.writerow([datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), page, safe,
                            "" if distance is None else f"{distance:.4f}", "" if match is None else int(match),
                            uploaded, known_image])

    def upload():
        """The uploaded photo, saved under uploads/, as a numpy array shrunk to max_side, and its saved path."""
        f = request.files.get("image")
        if f is None or not f.filename:
            abort(400, "no image in the form (field 'image')")
        data = f.read()
        saved = os.path.join("uploads", uuid.uuid4().hex + os.path.splitext(f.filename)[1].lower()[:8])
        with open(os.path.join(data_dir, saved), "wb") as out:
            out.write(data)
        try:
            img = face_recognition.load_image_file(os.path.join(data_dir, saved))
        except OSError as e:
            abort(400, f"cannot read the photo: {e}")
        if max(img.shape[:2]) > max_side:
            pil = Image.fromarray(img)
            pil.thumbnail((max_side, max_side))
            img = np.array(pil)
        return img, saved

    def page(title, remember, message="", results=None, status=200):
        names, _, _ = known.snapshot()
        return render_template_string(PAGE, title=title, remember=remember, message=message, results=results,
                                      known=sorted(set(names))), status

    @app.route("/", methods=["GET", "POST"])
    def remember():
        if request.method == "GET":
            return page("Remember a face", True)
        name = (request.form.get("name") or "").strip()
        if not name or len(name) > 100:
            return page("Remember a face", True, "Give a name of 1 to 100 characters.", status=400)
        img, saved = upload()
        boxes = face_recognition.face_locations(img)
        if not boxes:
            record("remember", name, None, None, saved)
            return page("Remember a face", True, f"No face found in the photo of {name}.", status=422)
        # The largest face is the person meant.
        i = max(range(len(boxes)), key=lambda k: (boxes[k][2] - boxes[k][0]) * (boxes[k][1] - boxes[k][3]))
        encoding = face_recognition.face_encodings(img, known_face_locations=[boxes[i]])[0]
        known.add(name, saved, encoding)
        record("remember", name, None, None, saved, saved)
        return page("Remember a face", True, f"Remembered {name}.")

    @app.route("/faceapp", methods=["GET", "POST"])
    def recognize():
        if request.method == "GET":
            return page("Recognize faces", False)
        img, saved = upload()
        names, images, encodings = known.snapshot()
        results = []
        for encoding in face_recognition.face_encodings(img):
            distances = face_recognition.face_distance(encodings, encoding)
            if len(distances) and distances.min() <= tolerance:
                best = int(np.argmin(distances))
                results.append({"name": names[best], "distance": float(distances[best])})
                record("recognize", names[best], float(distances[best]), True, saved, images[best])
            else:
                d = float(distances.min()) if len(distances) else None
                results.append({"name": "unknown", "distance": d})
                record("recognize", "unknown", d, False, saved)
        if not results:
            record("recognize", "", None, None, saved)
            return page("Recognize faces", False, "No face found in the photo.")
        return page("Recognize faces", False, f"{len(results)} face(s) found.", results)

    @app.errorhandler(413)
    def too_large(_):
        return page("Recognize faces", False, f"The upload is larger than {max_upload_mb} MB.", status=413)

    return app


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--allow-remote", action="store_true", help="allow a --host other than loopback")
    p.add_argument("--data", default="faceapp-flask-data", help="folder for results.csv, uploads and known faces")
    p.add_argument("--max-upload-mb", type=float, default=10)
    p.add_argument("--max-side", type=int, default=1024, help="photos are shrunk to this many pixels a side")
    p.add_argument("--tolerance", type=float, default=0.6)
    args = p.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
        p.error(f"--host {args.host} is not loopback: the app has no login; add --allow-remote if you mean it")
    app = create_app(args.data, args.max_upload_mb, args.tolerance, args.max_side)
    print(f"faceapp flask example: http://{args.host}:{args.port}/ (data in {os.path.abspath(args.data)})",
          file=sys.stderr, flush=True)
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
