"""faceapp-web's page /clusters in a real browser (headless Chromium through webdriver.py): the photos of three
people of the test data (deepface_p05, _p06, _p07, four each) and two without a face are uploaded through the
page's one file input; the page then shows three rows of four face thumbnails, each photo of a row the same
person's by the manifest; a name typed in each row and Enrol makes the main page list those three people, with
four faces each, and recognize knows them. A photo of a known person uploaded again is suggested (the name field
prefilled) and discarded. The page must fit a 412 px phone screen. With --screenshots DIR it saves clusters.png
there (the three rows, before any is named)."""

import os
import shutil
import tempfile

from webdriver import WebDriver, find_browser, fits_phone
from webtest import Checks, Server, manifest, parse_args, read

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()
faces = os.path.abspath(args.faces)

people = ["deepface_p05", "deepface_p06", "deepface_p07"]
uploaded = {p: sorted(f for f, (who, _) in truth.items() if who == p)[:4] for p in people}
no_faces = sorted(f for f, (_, n) in truth.items() if n == 0)[:2]
files = [f for p in people for f in uploaded[p]] + no_faces

chromium, chromedriver = find_browser()
profile = tempfile.mkdtemp(prefix="faceapp-chromium-")
server = Server(args.server).start()
driver = None


def message():
    shown = driver.find_all(".message")
    return driver.text(shown[0]) if shown else ""


def rows():
    """(cluster id, [photo of each thumbnail]) of every row on the page."""
    return driver.script("return Array.from(document.querySelectorAll('ul.clusters > li')).map(li => "
                         "[Number(li.dataset.cluster), Array.from(li.querySelectorAll('img')).map(i => i.title)]);")


try:
    driver = WebDriver(chromium, chromedriver, profile)
    url = server.url
    driver.go(url + "/")
    driver.click("nav a[href='/clusters']")
    check(driver.title().startswith("Enrol many people"), f"the main page links to /clusters: {driver.title()}")
    check(bool(driver.find_all("#noclusters")), "nothing is waiting at first")

    # ---- upload the 14 photos through the one multiple file input ----
    driver.type("#image", "\n".join(os.path.join(faces, f) for f in files))
    driver.submit("#upload button[type=submit]")
    check(message() == "Grouped the photos' faces: name each group below.", f"after the upload: '{message()}'")
    shown = rows()
    print(f"rows: {shown}", flush=True)
    check(len(shown) == 3, f"three rows: {len(shown)}")
    check(sorted(sorted(photos) for _, photos in shown) == sorted(uploaded.values()),
          f"each row is one person's four photos: {[p for _, p in shown]}")
    widths = driver.script("return Array.from(document.querySelectorAll('ul.clusters img')).map(i => i.naturalWidth);")
    check(widths == [112] * 12, f"every thumbnail is shown: natural widths {widths}")
    check(all(driver.attribute(e, "value") == "" for e in driver.find_all("ul.clusters input[name=name]")),
          "no name is suggested: nobody is known yet")
    fits_phone(check, driver, "the clusters page with three rows")
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
        driver.resize(412, 1100)
        print(f"clusters.png: {driver.screenshot(os.path.join(args.screenshots, 'clusters.png'))} bytes")
        driver.resize(412, 915)

    # ---- a name per row, Enrol ----
    for cluster, photos in shown:
        who = truth[photos[0]][0]
        driver.type(f"#name-{cluster}", who)
        driver.submit(f"li[data-cluster='{cluster}'] form.enrol button[type=submit]")
        check(message() == "Enrolled.", f"cluster {cluster} enrolled as {who}: '{message()}'")
        check(cluster not in [c for c, _ in rows()], f"row {cluster} is gone")
    check(bool(driver.find_all("#noclusters")), "nothing waits once all three are named")
    driver.go(url + "/")
    names = [driver.text(e) for e in driver.find_all("ul.people .name")]
    counts = [driver.text(e) for e in driver.find_all("ul.people .count")]
    check(sorted(zip(names, counts)) == [(p, "4 faces") for p in people],
          f"the main page lists the three people with four faces each: {list(zip(names, counts))}")
    later = sorted(f for f, (who, _) in truth.items() if who == "deepface_p06")[4]
    found = server.post("/api/recognize", files=[("image", later, read(os.path.join(faces, later)))]).json()["faces"]
    check("deepface_p06" in [f["name"] for f in found], f"{later}, not uploaded, is recognized: {found}")

    # ---- a known person's photo: suggested (the field prefilled), then discarded ----
    driver.go(url + "/clusters")
    driver.type("#image", os.path.join(faces, later))
    driver.submit("#upload button[type=submit]")
    shown = rows()
    check(len(shown) == 1, f"one row: {shown}")
    if shown:
        cluster = shown[0][0]
        check(driver.attribute(driver.find(f"#name-{cluster}"), "value") == "deepface_p06",
              "the name field holds the suggestion")
        driver.submit(f"li[data-cluster='{cluster}'] .actions form:not(.enrol) button")
        check(message() == "Discarded." and not rows(), f"discarded: '{message()}'")
    check(server.get("/api/people").json()["total"] == 3, "the discard enrolled nobody")
finally:
    if driver:
        driver.quit()
    server.cleanup()
    shutil.rmtree(profile, ignore_errors=True)

check.done()
