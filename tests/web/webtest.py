"""Shared helpers for the faceapp-web tests: start the server on a free port, send multipart requests, read the
manifest of tests/data/faces. Python standard library only."""

import argparse
import csv
import http.client
import io
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server", required=True, help="path of the faceapp-web executable")
    parser.add_argument("--data", required=True, help="default test data folder (holds faces/)")
    parser.add_argument("--screenshots", default="", help="browser test: save page screenshots here")
    parser.add_argument("--cli", default="", help="path of the faceapp command line, for tests that encode with it")
    args = parser.parse_args()
    env = os.environ.get("FACEAPP_TEST_DATA")
    if env:
        args.data = env
    args.faces = os.path.join(args.data, "faces")
    if not os.path.isfile(os.path.join(args.faces, "manifest.csv")):
        sys.exit(f"test data missing: {args.faces}/manifest.csv (set FACEAPP_TEST_DATA)")
    return args


def manifest(faces_dir):
    """file -> (identity, faces or None), from faces/manifest.csv."""
    with open(os.path.join(faces_dir, "manifest.csv"), newline="") as f:
        return {r["file"]: (r["identity"], int(r["faces"]) if r["faces"] else None) for r in csv.DictReader(f)}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def multipart(fields=(), files=()):
    """fields: [(name, text)], files: [(name, filename, bytes)] -> (body, content type)."""
    boundary = "----faceapp" + uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() if isinstance(value, str) else value)
        out.write(b"\r\n")
    for name, filename, data in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                  f"Content-Type: application/octet-stream\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


class Server:
    """faceapp-web on a free port of 127.0.0.1, with its own data directory."""

    def __init__(self, exe, data_dir=None, extra=(), env=None, preexec_fn=None):
        self.exe = exe
        self.env = env
        self.preexec_fn = preexec_fn
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="faceapp-web-test-")
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.output = []

    def start(self, timeout=120):
        self.proc = subprocess.Popen([self.exe, "--port", "0", "--data", self.data_dir, *self.extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=self.preexec_fn)
        deadline = time.time() + timeout
        line = b""
        while time.time() < deadline and not re.search(rb"listening on http://[^\n]*\n", line):
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        text = line.decode(errors="replace")
        if "listening on http://" not in text:
            self.proc.kill()
            raise RuntimeError(f"faceapp-web did not start: {text!r}")
        self.output.append(text)
        self.port = int(text.split("listening on http://")[1].split("/")[0].rsplit(":", 1)[1])
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            self.output.append(chunk.decode(errors="replace"))

    def logged(self, text, timeout=10):
        """True once `text` is in the server's output. The server may log after it has answered, and the output
        is read on another thread: wait for it (up to `timeout` seconds) rather than look once."""
        deadline = time.time() + timeout
        while True:
            if text in "".join(self.output):
                return True
            if time.time() >= deadline or self.proc.poll() is not None:
                return text in "".join(self.output)
            time.sleep(0.05)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, content_type=None, headers=None, timeout=300, source="127.0.0.1"):
        """One request on a new connection; `source` is the loopback address it comes from."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(source, 0))
        h = dict(headers or {})
        if content_type:
            h["Content-Type"] = content_type
        h.setdefault("Connection", "close")
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields=(), files=(), headers=None):
        body, ctype = multipart(fields, files)
        return self.request("POST", path, body, ctype, headers=headers)

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class CheckFailed(Exception):
    """A precondition of a test that does not hold; unlike `assert`, it holds under PYTHONOPTIMIZE too."""


def require(ok, what):
    """Raises CheckFailed(what) unless ok: for preconditions the rest of a test depends on."""
    if not ok:
        raise CheckFailed(what)


RECORD_HEADER = ["time", "input", "face", "top", "right", "bottom", "left", "name", "distance", "match"]


def records(server, headers=None):
    """The rows of GET /api/records (header checked, every row complete)."""
    r = server.request("GET", "/api/records", headers=headers)
    require(r.status == 200, f"GET /api/records: {r.status} {r.body[:200]}")
    rows = list(csv.reader(io.StringIO(r.text)))
    require(rows and rows[0] == RECORD_HEADER, f"records start with the header: {rows[:1]}")
    for row in rows[1:]:
        require(len(row) == 10, f"torn or malformed record row: {row}")
    return rows[1:]


class Checks:
    """Counts and prints checks; exits non-zero at the end if any failed."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def __call__(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", flush=True)
        return ok

    def done(self):
        print(f"{self.passed} checks passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


def _receive(s, wait):
    """What the server sent within `wait` seconds: None if nothing came, b"" if it closed or reset the connection."""
    ready, _, _ = select.select([s], [], [], wait)
    if not ready:
        return None
    try:
        return s.recv(65536)
    except OSError:
        return b""


def raw_exchange(port, data, source="127.0.0.1", timeout=10.0, pace=None):
    """Sends `data` (bytes, or a list of byte chunks sent `pace` seconds apart) on a new connection from `source`
    and reads until the server closes it or `timeout` passes. Sending stops early when the server closes. Returns
    (status or None, head text, body bytes, seconds until the connection ended, whether the server closed it)."""
    chunks = data if isinstance(data, list) else [data]
    start = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    received = b""
    closed = False
    try:
        for i, chunk in enumerate(chunks):
            if pace and i:
                time.sleep(pace)
            try:
                s.sendall(chunk)
            except OSError:
                break  # the server closed (or reset) the connection: read what it answered
            part = _receive(s, 0)
            if part == b"":
                closed = True
                break
            received += part or b""
        while not closed and time.time() - start < timeout:
            part = _receive(s, max(0.0, timeout - (time.time() - start)))
            if part is None:
                break
            if part == b"":
                closed = True
                break
            received += part
    finally:
        s.close()
    elapsed = time.time() - start
    head, _, body = received.partition(b"\r\n\r\n")
    status = None
    if head.startswith(b"HTTP/1."):
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            status = None
    return status, head.decode("latin-1"), body, elapsed, closed


def json_error(body):
    """The "error" text of a JSON error body, or None when the body is not one."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("error") if isinstance(value, dict) and isinstance(value.get("error"), str) else None
