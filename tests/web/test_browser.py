"""faceapp-web in a real browser: headless Chromium, driven through chromedriver's WebDriver HTTP API, loads both
pages, uploads photos through the forms and checks what is rendered: the name, the distance (against the JSON API
for the same photo) and the box, positioned over the face in the photo. Also checks the pages fit a phone screen.
With --screenshots DIR it saves main.png and faceapp.png there."""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from webtest import Checks, Server, manifest, parse_args, read

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()


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


def fits_phone(driver, what):
    overflow = driver.script("return document.documentElement.scrollWidth - window.innerWidth;")
    check(overflow <= 0, f"{what}: no sideways scrolling on a 412 px wide screen ({overflow} px too wide)")


def check_box_geometry(driver, box_element, img_element, box, size, what):
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


chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
chromedriver = shutil.which("chromedriver")
if not chromium or not chromedriver:
    raise SystemExit("chromium and chromedriver are needed (Debian packages chromium, chromium-driver)")

profile = tempfile.mkdtemp(prefix="faceapp-chromium-")
server = Server(args.server).start()
driver = None
try:
    driver = WebDriver(chromium, chromedriver, profile)
    url = server.url

    # ---- main page: remember faces through the form ----
    driver.go(url + "/")
    check("Remember a face" in driver.title(), f"main page title: {driver.title()}")
    fits_phone(driver, "main page")
    people = ["obama_1.jpg", "biden_1.jpg", "kit_harington_1.jpeg"]
    for file in people:
        name = truth[file][0]
        driver.go(url + "/")
        driver.type("#name", name)
        driver.type("#image", os.path.join(os.path.abspath(args.faces), file))
        driver.submit("#add button[type=submit]")
        message = driver.text(driver.find(".message"))
        check(message == f"Remembered {name}.", f"after adding {file}: '{message}'")
    names = [driver.text(e) for e in driver.find_all("ul.people .name")]
    check(names == [truth[f][0] for f in people], f"the list shows the people added: {names}")
    loaded = driver.script("return Array.from(document.querySelectorAll('ul.people img')).map(i => i.naturalWidth);")
    check(loaded == [112] * len(people), f"every thumbnail is shown: natural widths {loaded}")
    fits_phone(driver, "main page with people")
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
        driver.resize(412, 1100)
        n = driver.screenshot(os.path.join(args.screenshots, "main.png"))
        print(f"main.png: {n} bytes")

    # ---- recognize through the form: name, distance and box as the API gives them ----
    for file in ("obama_2.jpg", "group_3.jpg"):
        data = read(os.path.join(args.faces, file))
        api = server.post("/api/recognize", files=[("image", file, data)]).json()["faces"]
        driver.go(url + "/faceapp")
        check(driver.title().startswith("Recognize"), f"faceapp page title: {driver.title()}")
        driver.type("#a", os.path.join(os.path.abspath(args.faces), file))
        driver.submit("#recognize button[type=submit]")
        boxes = driver.find_all("#result .box")
        check(len(boxes) == len(api), f"{file}: {len(boxes)} boxes on the page, {len(api)} faces from the API")
        img = driver.find("#photo img")
        size = image_size(data)
        for element, face in zip(boxes, api):
            label = driver.text(driver.s("POST", f"/element/{element}/element",
                                         {"using": "css selector", "value": ".label"})[ELEMENT])
            shown_name = face["name"] or "unknown"
            check(label.startswith(shown_name), f"{file}: label '{label}' names {shown_name}")
            if face["distance"] is not None:
                check(f"{face['distance']:.3f}" in label, f"{file}: label '{label}' shows distance {face['distance']:.3f}")
                check(f"{face['similarity']:.0f}%" in label, f"{file}: label '{label}' shows the similarity")
            check_box_geometry(driver, element, img, face["box"], size, f"{file} face {face['name']}")
        rows = [driver.text(e) for e in driver.find_all("table.faces td.name")]
        check(len(rows) == len(api), f"{file}: a table row per face")
        if file == "obama_2.jpg":
            check(api[0]["name"] == truth[file][0], f"{file} recognized as {truth[file][0]}: {api}")
        else:
            check({"obama", "biden"} <= {f["name"] for f in api}, f"{file}: obama and biden: {api}")
            fits_phone(driver, "result page")
            if args.screenshots:
                driver.resize(412, 1500)
                n = driver.screenshot(os.path.join(args.screenshots, "faceapp.png"))
                print(f"faceapp.png: {n} bytes")
                driver.resize(412, 915)

    # ---- compare two photos through the form, with a tolerance typed in ----
    for a, b, tolerance in (("obama_1.jpg", "obama_2.jpg", "0.6"), ("obama_1.jpg", "biden_1.jpg", "0.6"),
                            ("obama_1.jpg", "obama_2.jpg", "0.2")):
        pa, pb = (os.path.join(os.path.abspath(args.faces), f) for f in (a, b))
        api = server.post("/api/compare", fields=[("tolerance", tolerance)],
                          files=[("a", a, read(pa)), ("b", b, read(pb))]).json()
        driver.go(url + "/faceapp")
        driver.type("#a", pa)
        driver.type("#b", pb)
        driver.clear("#tolerance")
        driver.type("#tolerance", tolerance)
        driver.submit("#recognize button[type=submit]")
        verdict = driver.find("#verdict")
        text = driver.text(verdict)
        check(driver.attribute(verdict, "data-match") == ("true" if api["match"] else "false"),
              f"{a} vs {b} at {tolerance}: '{text}', API match {api['match']}")
        check(text.startswith("Same person" if api["match"] else "Not the same person"), f"verdict text: '{text}'")
        check(f"distance {api['distance']:.3f}" in text and f"tolerance {float(tolerance):.2f}" in text,
              f"verdict shows the distance {api['distance']:.3f} and tolerance: '{text}'")
        used = driver.find_all("#result .box[data-used=true]")
        check(len(used) == 2, f"{a} vs {b}: the compared face is boxed in each photo ({len(used)})")
        check(driver.attribute(driver.find("#tolerance"), "value") == f"{float(tolerance):.2f}",
              "the form keeps the tolerance")
finally:
    if driver:
        driver.quit()
    server.cleanup()
    shutil.rmtree(profile, ignore_errors=True)

check.done()
