"""End to end: examples/flask/app.py on a free port remembers a person from one photo, names them in another,
does not name someone else, refuses an upload over its cap, and records every result in its CSV.

Run: PYTHONPATH=build/python python3 tests/python/test_flask_app.py
"""
import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "..", "..", "examples", "flask", "app.py")
DATA = os.environ.get("FACEAPP_TEST_DATA") or os.path.join(HERE, "..", "data")
IMAGES = os.path.join(DATA, "fr_test_images")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, fields, files, timeout=120):
    boundary = uuid.uuid4().hex
    body = b""
    for k, v in fields.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
    for k, (name, data) in files.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def photo(name):
    with open(os.path.join(IMAGES, name), "rb") as f:
        return name, f.read()


class FlaskApp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.port = free_port()
        cls.base = f"http://127.0.0.1:{cls.port}"
        cls.proc = subprocess.Popen([sys.executable, APP, "--port", str(cls.port), "--data", cls.tmp.name,
                                     "--max-upload-mb", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(cls.base + "/", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if cls.proc.poll() is not None or time.time() > deadline:
                out = cls.proc.stdout.read().decode() if cls.proc.poll() is not None else ""
                raise RuntimeError(f"the app did not start on port {cls.port}: {out}")
            time.sleep(0.3)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.proc.stdout.close()
        cls.tmp.cleanup()

    def test_remember_then_recognize(self):
        status, body = post(self.base + "/", {"name": "Barack Obama"}, {"image": photo("obama.jpg")})
        self.assertEqual(status, 200, body)
        self.assertIn("Remembered Barack Obama", body)

        status, body = post(self.base + "/faceapp", {}, {"image": photo("obama2.jpg")})
        self.assertEqual(status, 200, body)
        self.assertIn("<li>Barack Obama (distance", body)

        status, body = post(self.base + "/faceapp", {}, {"image": photo("biden.jpg")})
        self.assertEqual(status, 200, body)
        self.assertIn("<li>unknown", body)
        self.assertNotIn("<li>Barack Obama", body)

        with open(os.path.join(self.tmp.name, "results.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        pages = [(r["page"], r["name"], r["match"]) for r in rows]
        self.assertIn(("remember", "Barack Obama", ""), pages)
        self.assertIn(("recognize", "Barack Obama", "1"), pages)
        self.assertIn(("recognize", "unknown", "0"), pages)
        for r in rows:
            self.assertTrue(r["date"].endswith("+00:00"), r)
            self.assertTrue(os.path.isfile(os.path.join(self.tmp.name, r["uploaded_image"])), r)

    def test_the_upload_cap_holds(self):
        status, body = post(self.base + "/faceapp", {}, {"image": ("big.jpg", b"\xff" * (3 * 1024 * 1024))})
        self.assertEqual(status, 413)

    def test_not_an_image_is_a_400_naming_the_problem(self):
        status, body = post(self.base + "/faceapp", {}, {"image": ("notes.jpg", b"not an image")})
        self.assertEqual(status, 400)
        self.assertIn("not an image", body)


if __name__ == "__main__":
    unittest.main()
