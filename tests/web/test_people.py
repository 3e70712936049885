"""faceapp-web's people over HTTP, one server for every check: a person enrolled from three photos of the test
data is recognized from a fourth; a rename, a merge and a delete act on the next recognize; POST /api/faces joins
the person of that exact name; the limits (name length, q, offset, limit) at their boundaries; 404s for a missing
person or face; JSON bodies checked. (The quality gate on real faces and the migration:
tests/web/unit/test_people.cpp.)"""

import json
import os

from webtest import Checks, Server, manifest, parse_args, read

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()


def photo(name):
    return read(os.path.join(args.faces, name))


server = Server(args.server).start()


def send(method, path, body):
    return server.request(method, path, json.dumps(body).encode(), "application/json")


def recognized(file):
    r = server.post("/api/recognize", files=[("image", file, photo(file))])
    faces = r.json()["faces"] if r.status == 200 else []
    return faces[0]["name"] if len(faces) == 1 else f"(status {r.status}, {len(faces)} faces)"


try:
    by_identity = {}
    for file, (identity, faces) in sorted(truth.items()):
        if identity and faces == 1:
            by_identity.setdefault(identity, []).append(file)
    who, files = next((k, v) for k, v in sorted(by_identity.items()) if len(v) >= 4)

    # ---- enrolled from three photos, recognized from a fourth ----
    r = send("POST", "/api/people", {"name": who})
    check(r.status == 201 and r.json()["name"] == who, f"create {who}: {r.status} {r.body[:200]}")
    pid = r.json()["id"]
    for f in files[:3]:
        r = server.post(f"/api/people/{pid}/faces", files=[("image", f, photo(f))])
        check(r.status == 201 and r.json()["person"] == pid and r.json()["name"] == who, f"add {f}: {r.body[:200]}")
    r = server.get(f"/api/people/{pid}")
    check(r.status == 200 and len(r.json()["faces"]) == 3, f"{who} has three faces: {r.body[:300]}")
    check(recognized(files[3]) == who, f"{files[3]} is recognized as {who}: {recognized(files[3])}")

    # ---- POST /api/faces: the person of that exact name, created when there is none ----
    r1 = server.post("/api/faces", fields=[("name", "obama")], files=[("image", "obama_1.jpg", photo("obama_1.jpg"))])
    r2 = server.post("/api/faces", fields=[("name", "obama")], files=[("image", "obama_2.jpg", photo("obama_2.jpg"))])
    check(r1.status == 201 and r2.status == 201 and r1.json()["person"] == r2.json()["person"] != pid,
          f"two obama faces, one person: {r1.body[:150]} {r2.body[:150]}")
    obama = r1.json()["person"]
    r = server.post("/api/faces", fields=[("name", "Obama")], files=[("image", "obama_3.jpg", photo("obama_3.jpg"))])
    check(r.status == 201 and r.json()["person"] != obama, f"'Obama' is not 'obama' (exact name): {r.body[:150]}")
    check(send("DELETE", f"/api/people/{r.json()['person']}", {}).status == 200, "the person 'Obama' deleted")
    r = server.get("/api/people?q=OBA")
    check(r.status == 200 and r.json()["people"] == [{"id": obama, "name": "obama", "faces": 2}],
          f"search is case-insensitive, with face counts: {r.body[:200]}")

    # ---- rename, merge, delete: the next recognize ----
    r = send("PATCH", f"/api/people/{pid}", {"name": "renamed"})
    check(r.status == 200 and r.json()["name"] == "renamed", f"rename: {r.body[:150]}")
    check(recognized(files[3]) == "renamed", f"after the rename: {recognized(files[3])}")
    r = send("POST", f"/api/people/{pid}/merge", {"from": obama})
    check(r.status == 200 and len(r.json()["faces"]) == 5, f"merge: {r.body[:150]}")
    check(recognized("obama_3.jpg") == "renamed",
          f"after the merge obama's faces are renamed's: {recognized('obama_3.jpg')}")
    check(server.get(f"/api/people/{obama}").status == 404, "the merged person is gone (404)")
    check(send("POST", f"/api/people/{pid}/merge", {"from": obama}).status == 404, "merging a gone person: 404")
    check(send("POST", f"/api/people/{pid}/merge", {"from": pid}).status == 400, "merging a person into itself: 400")
    for body in ({}, {"from": "1"}, {"from": -1}, {"from": 1.5}):
        check(send("POST", f"/api/people/{pid}/merge", body).status == 400, f"merge body {body}: 400")
    faces = server.get(f"/api/people/{pid}").json()["faces"]
    r = server.request("DELETE", f"/api/people/{pid}/faces/{faces[-1]['id']}")
    check(r.status == 200 and r.json() == {"deleted": faces[-1]["id"]}, f"remove a face: {r.body[:100]}")
    check(server.request("DELETE", f"/api/people/{pid}/faces/{faces[-1]['id']}").status == 404, "again: 404")
    check(server.request("DELETE", f"/api/people/{pid + 1000}/faces/{faces[0]['id']}").status == 404,
          "a face through another person's id: 404")
    check(len(server.get(f"/api/people/{pid}").json()["faces"]) == 4, "four faces left")
    r = server.request("DELETE", f"/api/people/{pid}")
    check(r.status == 200 and r.json() == {"deleted": pid}, f"delete the person: {r.body[:100]}")
    check(recognized(files[3]) is None, f"after the delete nobody is recognized: {recognized(files[3])}")
    check(server.get("/api/faces").json()["total"] == 0, "its faces went with it")

    # ---- 404s ----
    for method, path in (("GET", "/api/people/999999"), ("PATCH", "/api/people/999999"),
                         ("DELETE", "/api/people/999999"), ("GET", "/api/people/abc"),
                         ("DELETE", "/api/people/1/faces/abc"), ("POST", "/api/people/999999/merge")):
        r = send(method, path, {"name": "x", "from": 1})
        check(r.status == 404 and r.json()["error"], f"{method} {path}: 404: {r.status} {r.body[:100]}")
    r = server.post("/api/people/999999/faces", files=[("image", "obama_1.jpg", photo("obama_1.jpg"))])
    check(r.status == 404, f"a face for a missing person: 404: {r.status}")

    # ---- limits at their boundaries ----
    for n, ok in ((100, True), (101, False)):
        r = send("POST", "/api/people", {"name": "n" * n})
        check((r.status == 201) == ok, f"a name of {n} bytes: {r.status} {r.body[:80]}")
    check(send("POST", "/api/people", {"name": " "}).status == 400, "a blank name: 400")
    check(send("POST", "/api/people", {"name": 5}).status == 400, "a name that is not a string: 400")
    check(server.request("POST", "/api/people", b"[1]", "application/json").status == 400, "not an object: 400")
    check(server.request("POST", "/api/people", b"{", "application/json").status == 400, "not JSON: 400")
    check(server.post("/api/people", fields=[("name", "x")]).status == 415, "a form, not JSON: 415")
    renamed = send("POST", "/api/people", {"name": "to rename"}).json()["id"]
    for n, status in ((100, 200), (101, 400)):
        r = send("PATCH", f"/api/people/{renamed}", {"name": "r" * n})
        check(r.status == status, f"a rename to {n} bytes: {status} ({r.status} {r.body[:80]})")
    for q, ok in (("q" * 100, True), ("q" * 101, False)):
        check((server.get(f"/api/people?q={q}").status == 200) == ok, f"q of {len(q)} bytes")
    for q, status in (("ab%80c", 400), ("%C3%A9t%C3%A9", 200), ("ab%01", 400)):  # not UTF-8 / UTF-8 / a control
        r = server.get(f"/api/people?q={q}")
        check(r.status == status, f"q={q}: {r.status}, expected {status} ({r.body[:80]!r})")
    for limit, ok in (("1000", True), ("1001", False), ("0", True)):
        check((server.get(f"/api/people?limit={limit}").status == 200) == ok, f"limit={limit}")
    check(server.get("/api/people?offset=-1").status == 400, "offset=-1: 400")
    check(server.get("/api/people?offset=x").status == 400, "offset=x: 400")

    # ---- paging: 4 people named "page ...", pages of 2 ----
    for i in range(4):
        send("POST", "/api/people", {"name": f"page {i}"})
    names = []
    for offset in (0, 2, 4):
        body = server.get(f"/api/people?q=page&offset={offset}&limit=2").json()
        check(body["total"] == 4 and len(body["people"]) == (2 if offset < 4 else 0), f"page at {offset}: {body}")
        names += [p["name"] for p in body["people"]]
    check(names == [f"page {i}" for i in range(4)], f"the pages in id order: {names}")

    # ---- keyset pages (?after= and next), of people and of faces ----
    walked, after = [], 0
    for _ in range(4):
        body = server.get(f"/api/people?q=page&after={after}&limit=2").json()
        walked += [p["name"] for p in body["people"]]
        check(body["total"] == 4 and body["after"] == after and body["count_capped"] is False, f"keyset page: {body}")
        if body["next"] is None:
            break
        after = body["next"]
    check(walked == [f"page {i}" for i in range(4)] and body["people"], f"keyset pages end at the last row: {walked}")
    last = server.get("/api/people?q=page&offset=3&limit=1").json()["people"][0]["id"]
    body = server.get(f"/api/people?q=page&after={last}&limit=2").json()
    check(body["people"] == [] and body["next"] is None, f"after= the last id: empty, next null: {body}")
    for path in ("/api/people", "/api/faces"):
        check(server.get(f"{path}?after=0&limit=1000").status == 200, f"{path}: limit 1000 (the max): 200")
        check(server.get(f"{path}?after=0&limit=1001").status == 400, f"{path}: limit 1001: 400")
        check(server.get(f"{path}?after=1&offset=1").status == 400, f"{path}: after with an offset: 400")
        check(server.get(f"{path}?after=x").status == 400, f"{path}: after=x: 400")
        check(server.get(f"{path}?after=1&offset=0").status == 200, f"{path}: after with offset 0: 200")
    for i in range(3):
        r = server.post("/api/faces", fields=[("name", "keyset")], files=[("image", files[i], photo(files[i]))])
        check(r.status == 201, f"add {files[i]}: {r.status}")
    faces = server.get("/api/faces?limit=1000").json()
    ids = [f["id"] for f in faces["faces"]]
    check(len(ids) >= 2 and faces["next"] is None, f"the faces' one page has no next: {faces['next']}")
    body = server.get(f"/api/faces?after={ids[-2]}&limit=1").json()
    check([f["id"] for f in body["faces"]] == [ids[-1]] and body["next"] is None,
          f"a faces' page ending at the last row: next null: {body['next']}")
    body = server.get(f"/api/faces?after={ids[-3] if len(ids) > 2 else 0}&limit=1").json()
    check(body["next"] == body["faces"][0]["id"], f"a faces' page before the end: next is its last id: {body['next']}")
    # Pages by offset carry the same cursor: the next page by after= is the next page by offset.
    n = len(ids)
    body = server.get(f"/api/faces?offset={n - 3}&limit=2").json()
    check([f["id"] for f in body["faces"]] == ids[n - 3:n - 1] and body["next"] == ids[n - 2],
          f"an offset page before the end: next is its last id: {body['next']}")
    after_next = server.get(f"/api/faces?after={body['next']}&limit=2").json()
    check([f["id"] for f in after_next["faces"]] == ids[n - 1:], f"its next page by after=: {after_next}")
    body = server.get(f"/api/faces?offset={n - 2}&limit=2").json()
    check(len(body["faces"]) == 2 and body["next"] is None, f"an offset page ending at the last row: {body['next']}")
    body = server.get(f"/api/faces?offset={n - 2}&limit=3").json()
    check(len(body["faces"]) == 2 and body["next"] is None, f"an offset page past the last row: {body['next']}")
finally:
    server.cleanup()
check.done()
