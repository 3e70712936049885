"""faceapp-web in a real browser: headless Chromium, driven through chromedriver's WebDriver HTTP API, loads both
pages, uploads photos through the forms and checks what is rendered: the name, the distance (against the JSON API
for the same photo) and the box, positioned over the face in the photo. Also checks the pages fit a phone screen.
With --screenshots DIR it saves main.png and faceapp.png there."""

import os
import shutil
import tempfile

from webdriver import ELEMENT, WebDriver, check_box_geometry, find_browser, fits_phone, image_size
from webtest import Checks, Server, manifest, parse_args, read

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()

chromium, chromedriver = find_browser()

profile = tempfile.mkdtemp(prefix="faceapp-chromium-")
server = Server(args.server).start()
driver = None
try:
    driver = WebDriver(chromium, chromedriver, profile)
    url = server.url

    # ---- main page: remember faces through the form ----
    driver.go(url + "/")
    check("Remember a face" in driver.title(), f"main page title: {driver.title()}")
    fits_phone(check, driver, "main page")
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
    fits_phone(check, driver, "main page with people")
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
            check_box_geometry(check, driver, element, img, face["box"], size, f"{file} face {face['name']}")
        rows = [driver.text(e) for e in driver.find_all("table.faces td.name")]
        check(len(rows) == len(api), f"{file}: a table row per face")
        if file == "obama_2.jpg":
            check(api[0]["name"] == truth[file][0], f"{file} recognized as {truth[file][0]}: {api}")
        else:
            check({"obama", "biden"} <= {f["name"] for f in api}, f"{file}: obama and biden: {api}")
            fits_phone(check, driver, "result page")
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
