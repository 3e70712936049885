"""faceapp-web's people pages in a real browser (headless Chromium through webdriver.py): photos of two people
added on the main page make a list of two people with their face counts and thumbnails; on a person's page a
photo is added, a refused one shows its reason, a face is removed, the person renamed, the other merged in by
name and the person deleted. Each step checks what is rendered and that POST /api/recognize follows it at once.
Both pages must fit a 412 px phone screen. With --screenshots DIR it saves people.png and person.png there."""

import os
import shutil
import tempfile

from webdriver import WebDriver, find_browser, fits_phone
from webtest import Checks, Server, manifest, parse_args, read

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()
faces = os.path.abspath(args.faces)

chromium, chromedriver = find_browser()
profile = tempfile.mkdtemp(prefix="faceapp-chromium-")
server = Server(args.server).start()
driver = None


def recognized(file):
    """The name POST /api/recognize gives the photo's one face (None: nobody)."""
    found = server.post("/api/recognize", files=[("image", file, read(os.path.join(faces, file)))]).json()["faces"]
    check(len(found) == 1, f"{file}: one face ({len(found)})")
    return found[0]["name"] if found else None


def texts(css):
    return [driver.text(e) for e in driver.find_all(css)]


def message():
    shown = driver.find_all(".message")
    return driver.text(shown[0]) if shown else ""


def person_faces():
    return [int(driver.attribute(e, "data-face")) for e in driver.find_all("#faces li")]


try:
    driver = WebDriver(chromium, chromedriver, profile)
    url = server.url

    # ---- the main page: two people from three photos ----
    added = [("obama", "obama_1.jpg"), ("obama", "obama_2.jpg"), ("biden", "biden_1.jpg")]
    for name, file in added:
        check(truth[file][0] == name, f"{file} is {name} in the manifest")
        driver.go(url + "/")
        driver.type("#name", name)
        driver.type("#image", os.path.join(faces, file))
        driver.submit("#add button[type=submit]")
        check(message() == f"Remembered {name}.", f"{file}: the main page says '{message()}'")
    rows = driver.find_all("ul.people li")
    check(len(rows) == 2, f"the list shows 2 people ({len(rows)})")
    check(texts("ul.people .name") == ["obama", "biden"], f"names: {texts('ul.people .name')}")
    check(texts("ul.people .count") == ["2 faces", "1 face"], f"face counts: {texts('ul.people .count')}")
    widths = driver.script("return Array.from(document.querySelectorAll('ul.people li')).map("
                           "li => Array.from(li.querySelectorAll('img')).map(i => i.naturalWidth));")
    check(widths == [[112, 112], [112]], f"each person's thumbnails are shown: natural widths {widths}")
    check(not driver.find_all("ul.people .more"), "no '+N more' with 6 faces or fewer")
    fits_phone(check, driver, "main page with two people")
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
        driver.resize(412, 1000)
        print(f"people.png: {driver.screenshot(os.path.join(args.screenshots, 'people.png'))} bytes")
        driver.resize(412, 915)
    people = server.get("/api/people").json()["people"]
    obama = next(p["id"] for p in people if p["name"] == "obama")
    biden = next(p["id"] for p in people if p["name"] == "biden")
    check(recognized("obama_3.jpg") == "obama" and recognized("biden_1.jpg") == "biden", "recognize knows both")

    # ---- obama's page, opened from the list ----
    driver.click(f"ul.people li[data-id='{obama}'] a.who")
    check(driver.title().startswith("obama"), f"the person's page: {driver.title()}")
    check(driver.text(driver.find("#person")) == "obama", "it is named obama")
    check(driver.text(driver.find("#count")) == "2 faces", f"count: {driver.text(driver.find('#count'))}")
    first_faces = person_faces()
    check(len(first_faces) == 2, f"two faces listed: {first_faces}")

    # a third photo
    driver.type("#image", os.path.join(faces, "obama_3.jpg"))
    driver.submit("#add-face button[type=submit]")
    check(message() == "Added the photo's face.", f"after adding: '{message()}'")
    check(len(person_faces()) == 3 and driver.text(driver.find("#count")) == "3 faces", "three faces now")
    api = server.get(f"/api/people/{obama}").json()
    check(sorted(f["id"] for f in api["faces"]) == sorted(person_faces()), "the page lists the API's faces")
    fits_phone(check, driver, "a person's page")
    if args.screenshots:
        driver.resize(412, 1900)
        print(f"person.png: {driver.screenshot(os.path.join(args.screenshots, 'person.png'))} bytes")
        driver.resize(412, 915)

    # a photo without a face: refused, with the reason, on the person's page; nothing added
    driver.type("#image", os.path.join(faces, "noface_1.png"))
    driver.submit("#add-face button[type=submit]")
    shown = driver.find_all(".message.error")
    reason = driver.text(shown[0]) if shown else ""
    check("no face found" in reason, f"the refusal gives its reason: '{reason}'")
    check(len(person_faces()) == 3, "a refused photo adds nothing")

    # remove the first face
    gone = first_faces[0]
    driver.submit(f"#faces li[data-face='{gone}'] button")
    check(message() == "Removed the face.", f"after removing: '{message()}'")
    check(gone not in person_faces() and len(person_faces()) == 2, f"face {gone} is gone: {person_faces()}")
    check(server.get(f"/faces/{gone}/thumbnail.jpg").status == 404, "its thumbnail is gone")
    check(recognized("obama_2.jpg") == "obama", "recognize still knows obama")

    # rename
    driver.clear("#name")
    driver.type("#name", "barack")
    driver.submit("#rename button[type=submit]")
    check(message() == "Renamed." and driver.text(driver.find("#person")) == "barack", "renamed to barack")
    check(recognized("obama_2.jpg") == "barack", "recognize says barack at once")

    # merge biden in, chosen by name; then a name nobody else has is refused
    driver.type("#from", "biden")
    driver.submit("#merge button[type=submit]")
    check(message().startswith("Merged"), f"after merging: '{message()}'")
    check(len(person_faces()) == 3, f"biden's face joined: {person_faces()}")
    check(server.get(f"/api/people/{biden}").status == 404, "biden is gone")
    check(recognized("biden_1.jpg") == "barack", "recognize gives biden's photo the merged person's name")
    driver.type("#from", "biden")
    driver.submit("#merge button[type=submit]")
    check("nobody else is named 'biden'" in message(), f"a merge of nobody: '{message()}'")

    # delete: back to an empty main page
    driver.submit("#delete-person button[type=submit]")
    check(message() == "Deleted.", f"after deleting: '{message()}'")
    check(not driver.find_all("ul.people li") and driver.find_all("#empty"), "nobody is listed")
    check(recognized("obama_2.jpg") is None and recognized("biden_1.jpg") is None, "recognize knows nobody")
    driver.go(f"{url}/people/{obama}")
    check(driver.title().startswith("Error 404"), f"the deleted person's page is a 404 page: {driver.title()}")
    check(server.get(f"/people/{obama}").status == 404, "and answers 404")
finally:
    if driver:
        driver.quit()
    server.cleanup()
    shutil.rmtree(profile, ignore_errors=True)

check.done()
