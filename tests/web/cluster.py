"""Throwaway parts of a deployment on several machines, on this one (for tests/web/test_postgres.py and
bench/web_nodes.py): a PostgreSQL cluster (initdb in a temporary directory), faceapp-web servers started with the
arguments of deploy/systemd/faceapp-web.service, and nginx with deploy/nginx/faceapp.conf. Only 127.0.0.1 is used;
as root, PostgreSQL, nginx and the servers run as `nobody`. Python standard library only."""

import csv
import glob
import http.client
import io
import json
import os
import pwd
import re
import select
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from webtest import RECORD_HEADER, multipart, require

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NGINX_SITE = os.path.join(ROOT, "deploy", "nginx", "faceapp.conf")
UNIT = os.path.join(ROOT, "deploy", "systemd", "faceapp-web.service")
API_KEY = "test-key-" + os.urandom(8).hex()

def stop_process(proc, sig, timeout):
    """Asks a running process to stop with `sig`, and kills it if it has not after `timeout` seconds."""
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    require(found, f"PostgreSQL's {name} is not installed (cmake/install-deps.sh installs postgresql)")
    return found[-1]


# Servers that refuse to run as root run as nobody when the test is root.
if os.getuid() == 0:
    NOBODY = pwd.getpwnam("nobody")

    def unprivileged():
        os.setgroups([])
        os.setgid(NOBODY.pw_gid)
        os.setuid(NOBODY.pw_uid)
else:
    NOBODY = None
    unprivileged = None

WORK = tempfile.mkdtemp(prefix="faceapp-pg-test-")
os.chmod(WORK, 0o755)


def own_dir(name):
    path = os.path.join(WORK, name)
    os.makedirs(path)
    if NOBODY:
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(path, 0o700)
    return path


class Postgres:
    """A cluster in WORK/pg, listening on 127.0.0.1 only, with a socket directory of its own."""

    def __init__(self):
        self.data = own_dir("pg")
        self.sockets = own_dir("pg-sockets")
        self.port = free_port()
        self.proc = None
        self.log = open(os.path.join(WORK, "postgres.log"), "ab")
        subprocess.run([pg_bin("initdb"), "-D", self.data, "-U", "faceapp", "--auth=trust", "-E", "UTF8",
                        "--no-sync"], check=True, stdout=subprocess.DEVNULL, stderr=self.log,
                       preexec_fn=unprivileged, cwd=WORK)
        self.url = f"postgresql://faceapp@127.0.0.1:{self.port}/faceapp"

    def start(self):
        self.proc = subprocess.Popen([pg_bin("postgres"), "-D", self.data, "-p", str(self.port), "-k", self.sockets,
                                      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                      "-c", "max_connections=100"],
                                     stdout=self.log, stderr=self.log, preexec_fn=unprivileged, cwd=WORK)
        deadline = time.time() + 30
        while time.time() < deadline:
            r = subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return
            require(self.proc.poll() is None, "postgres exited at start (see postgres.log)")
            time.sleep(0.1)
        raise RuntimeError("postgres did not become ready in 30 s")

    def psql(self, sql, db="faceapp"):
        r = subprocess.run([pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "faceapp", "-d", db,
                            "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], capture_output=True, text=True,
                           preexec_fn=unprivileged, cwd=WORK)
        require(r.returncode == 0, f"psql {sql!r}: {r.stderr}")
        return r.stdout.strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Node:
    """faceapp-web started with the systemd unit's ExecStart arguments."""

    def __init__(self, name, db_url, port):
        self.name = name
        self.port = port
        self.data = own_dir("node-" + name)
        self.output = []
        self.proc = None
        self.command = node_command(db_url, port, self.data)

    def start(self):
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=unprivileged, cwd=WORK)
        deadline = time.time() + 120
        text = b""
        while time.time() < deadline and b"listening on http://" not in text:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                text += chunk
        self.output.append(text.decode(errors="replace"))
        require(b"listening on http://" in text, f"node {self.name} did not start: {text!r}")
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            self.output.append(chunk.decode(errors="replace"))

    def stop(self):
        stop_process(self.proc, signal.SIGTERM, 30)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def unit_exec_start():
    """The ExecStart= arguments of the deployed unit."""
    with open(UNIT) as f:
        lines = [line.strip() for line in f if line.strip().startswith("ExecStart=")]
    require(len(lines) == 1, "the unit has one ExecStart= line")
    return shlex.split(lines[0][len("ExecStart="):])


KEY_FILE = os.path.join(WORK, "api-key")
SERVER = ["faceapp-web"]  # the program: set by the caller


def setup(server):
    """Sets the program and writes the API key file; call first."""
    SERVER[0] = os.path.abspath(server)
    with open(KEY_FILE, "w") as f:
        f.write(API_KEY + "\n")
    if NOBODY:
        os.chown(KEY_FILE, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(KEY_FILE, 0o600)


def cleanup():
    shutil.rmtree(WORK, ignore_errors=True)


def node_command(db_url, port, data):
    """The unit's command with this machine's program, and loopback addresses, ports and paths of the test."""
    words = unit_exec_start()
    require(os.path.basename(words[0]) == "faceapp-web", f"the unit runs faceapp-web: {words[0]}")
    replace = {"--host": "127.0.0.1", "--port": str(port), "--db": db_url, "--data": data, "--api-key-file": KEY_FILE}
    out = [SERVER[0]]
    i = 1
    seen = set()
    while i < len(words):
        w = words[i]
        if w in replace and i + 1 < len(words):
            out += [w, replace[w]]
            seen.add(w)
            i += 2
        else:
            out.append(w)
            i += 1
    require(seen == set(replace), f"the unit sets {sorted(replace)}: {sorted(seen)}")
    return out


class Nginx:
    """deploy/nginx/faceapp.conf inside a minimal main configuration, with paths in WORK/nginx."""

    def __init__(self, node_ports, name="nginx"):
        self.dir = own_dir(name)
        self.https_port = free_port()
        self.http_port = free_port()
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-keyout", key, "-out", cert], check=True, capture_output=True)
        with open(NGINX_SITE) as f:
            site = f.read()
        servers = re.findall(r"^\s*server \S+:\d+ .*;$", site, flags=re.M)
        require(len(servers) >= 2, "the site lists its servers in its upstream block")
        template = servers[0]
        site = site.replace(servers[0] + "\n", "".join(
            re.sub(r"server \S+:\d+", f"server 127.0.0.1:{p}", template) + "\n" for p in node_ports), 1)
        for s in servers[1:]:
            site = site.replace(s + "\n", "", 1)
        site, n = re.subn(r"listen 443 ssl;", f"listen 127.0.0.1:{self.https_port} ssl;", site)
        require(n == 1, "the site listens on 443 with TLS")
        site, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{self.http_port};", site)
        require(n == 1, "the site listens on 80")
        site, n = re.subn(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
        require(n == 1, "the site names its certificate")
        site, n = re.subn(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
        require(n == 1, "the site names its certificate key")
        with open(os.path.join(self.dir, "faceapp.conf"), "w") as f:
            f.write(site)
        d = self.dir
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_processes 1;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/faceapp.conf;
}}
""")
        for p in os.listdir(d):
            if NOBODY:
                os.chown(os.path.join(d, p), NOBODY.pw_uid, NOBODY.pw_gid)
        self.proc = subprocess.Popen(["nginx", "-p", d, "-e", f"{d}/error.log", "-c", f"{d}/nginx.conf",
                                      "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(WORK, "nginx.out"), "ab"), preexec_fn=unprivileged)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return
            except OSError:
                require(self.proc.poll() is None, f"nginx exited: {self.errors()}")
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def errors(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT, 10)


TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


class Answer:
    def __init__(self, status, body):
        self.status = status
        self.body = body

    def json(self):
        return json.loads(self.body)


def request(port, method, path, fields=(), files=(), tls=False, timeout=60):
    """One request with the API key, on a new connection to 127.0.0.1:port."""
    conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=TLS) if tls
            else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    headers = {"X-API-Key": API_KEY, "Connection": "close"}
    body = None
    if fields or files:
        body, headers["Content-Type"] = multipart(fields, files)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return Answer(r.status, r.read())
    finally:
        conn.close()


def record_rows(port, tls=False):
    r = request(port, "GET", "/api/records", tls=tls)
    require(r.status == 200, f"GET /api/records: {r.status} {r.body[:200]}")
    rows = list(csv.reader(io.StringIO(r.body.decode())))
    require(rows and rows[0] == RECORD_HEADER, f"records start with the header: {rows[:1]}")
    return rows[1:]


def recognized_names(port, photo, name):
    r = request(port, "POST", "/api/recognize", files=[("image", name, photo)])
    require(r.status == 200, f"recognize on :{port}: {r.status} {r.body[:200]}")
    return [f["name"] for f in r.json()["faces"]]


