"""Headless Chromium for the web app's page tests, driven through chromedriver's WebDriver HTTP API (the W3C
protocol, no client library): the driver, the browser's lookup, and checks every page test shares."""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_size(data):
    """(width, height) from a PNG or JPEG header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise ValueError("no image size")


class WebDriver:
    """The few WebDriver commands the test needs (W3C protocol over HTTP)."""

    def __init__(self, chromium, chromedriver, profile):
        self.port = free_port()
        self.proc = subprocess.Popen([chromedriver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                if self.call("GET", "/status")["ready"]:
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        flags = ["--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                 "--window-size=412,915", "--hide-scrollbars"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"binary": chromium, "args": flags}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}") from None

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in self.s("POST", "/elements", {"using": "css selector", "value": css})]

    def type(self, css, text):
        self.s("POST", f"/element/{self.find(css)}/value", {"text": text})

    def clear(self, css):
        self.s("POST", f"/element/{self.find(css)}/clear", {})

    def click(self, css):
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def submit(self, css, timeout=300):
        """Clicks a submit button and waits until the page it leads to has loaded."""
        self.script("window.faceapp_old_page = true;")
        self.click(css)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.script("return !window.faceapp_old_page && document.readyState === 'complete';"):
                    return
            except RuntimeError:
                pass  # the page is changing under the script
            time.sleep(0.1)
        raise RuntimeError(f"no page after clicking {css}")

    def text(self, element):
        return self.s("GET", f"/element/{element}/text")

    def attribute(self, element, name):
        return self.s("GET", f"/element/{element}/attribute/{name}")

    def rect(self, element):
        return self.s("GET", f"/element/{element}/rect")

    def script(self, source, *script_args):
        return self.s("POST", "/execute/sync", {"script": source, "args": list(script_args)})

    def resize(self, width, height):
        self.s("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path):
        png = base64.b64decode(self.s("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def title(self):
        return self.s("GET", "/title")

    def quit(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(30)


def fits_phone(check, driver, what):
    overflow = driver.script("return document.documentElement.scrollWidth - window.innerWidth;")
    check(overflow <= 0, f"{what}: no sideways scrolling on a 412 px wide screen ({overflow} px too wide)")


def check_box_geometry(check, driver, box_element, img_element, box, size, what):
    """The box element sits over the face: its position in the photo, in displayed pixels, matches the box."""
    r = driver.rect(box_element)
    i = driver.rect(img_element)
    sx = i["width"] / size[0]
    sy = i["height"] / size[1]
    # The element's rect is its border box: its outer edge is the face box's edge.
    expect = {"x": box["left"] * sx, "y": box["top"] * sy,
              "width": (box["right"] - box["left"] + 1) * sx, "height": (box["bottom"] - box["top"] + 1) * sy}
    got = {"x": r["x"] - i["x"], "y": r["y"] - i["y"], "width": r["width"], "height": r["height"]}
    ok = all(abs(got[k] - expect[k]) <= 2 for k in expect)
    check(ok, f"{what}: box drawn at {got}, expected {expect}")


def find_browser():
    """(chromium, chromedriver); exits naming the Debian packages when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        raise SystemExit("chromium and chromedriver are needed (Debian packages chromium, chromium-driver)")
    return chromium, chromedriver
