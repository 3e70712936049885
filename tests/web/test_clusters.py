"""faceapp-web's bulk enrolment by clusters over HTTP, on the real models and photos of the test data: 12
identity photos of three people (deepface_p05, _p06 and _p07, the first four of each as the manifest lists them)
and 2 photos without a face in one POST /api/cluster give exactly three clusters whose photos are those people's,
and `no_face` the two photos; named through /api/clusters/{id}/enrol, a further photo of one of them (not
uploaded) is recognized under that name; a known person's photo in a later upload is suggested as that person
and enrols nothing; photos already enrolled, uploaded again, have their faces `known` and an enrolment leaves
them out (the person's face count grows by the new photos only); the photo limit (--max-cluster-photos) exactly at it, one under and one over (413 naming it,
nothing stored, before any photo is decoded); pending clusters survive a restart; DELETE, 400s, 415 and 404s.
(The 24 h expiry at its boundary through the service's clock, and the store's tables: unit/test_clusters.cpp.)"""

import json
import os

from webtest import Checks, Server, manifest, parse_args, read

LIMIT = 14  # --max-cluster-photos for this test: the first batch is exactly this many

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()


def photo(name):
    return read(os.path.join(args.faces, name))


def upload(server, names):
    return server.post("/api/cluster", files=[("image", n, photo(n)) for n in names])


def send(server, method, path, body):
    return server.request(method, path, json.dumps(body).encode(), "application/json")


def photos_of(cluster):
    return sorted({f["photo"] for f in cluster["faces"]})


people = ["deepface_p05", "deepface_p06", "deepface_p07"]
by_identity = {p: sorted(f for f, (identity, _) in truth.items() if identity == p) for p in people}
uploaded = {p: files[:4] for p, files in by_identity.items()}
no_faces = sorted(f for f, (identity, faces) in truth.items() if faces == 0)[:2]
later = by_identity["deepface_p06"][4]  # the fifth photo of deepface_p06: not uploaded
batch = [f for p in people for f in uploaded[p]] + no_faces
print(f"photos: {batch}; recognized later: {later}", flush=True)

server = Server(args.server, extra=["--max-cluster-photos", str(LIMIT)]).start()
try:
    check(len(batch) == LIMIT and all(len(v) == 4 for v in uploaded.values()) and len(no_faces) == 2,
          f"the manifest has the photos this test picks: {len(batch)} photos")
    # ---- exactly at the limit: accepted; three clusters, one a person; the two photos without a face ----
    r = upload(server, batch)
    body = r.json() if r.status in (200, 201) else {}
    check(r.status == 201, f"POST /api/cluster with {len(batch)} photos: {r.status} {r.body[:300]}")
    clusters = body.get("clusters", [])
    print("clusters: " + "; ".join(f"{c['id']}: {photos_of(c)}" for c in clusters), flush=True)
    check(len(clusters) == 3, f"three clusters: {len(clusters)}")
    check(sorted(photos_of(c) for c in clusters) == sorted(uploaded.values()),
          f"each cluster is one person's photos: {[photos_of(c) for c in clusters]}")
    check(sum(len(c["faces"]) for c in clusters) == 12, "one face a photo")
    check(sorted(body.get("no_face", [])) == no_faces, f"no_face is the two photos without a face: {body.get('no_face')}")
    check(all(c["suggested"] is None for c in clusters), "nobody is known yet: no suggestion")
    check(all(set(f) == {"photo", "box", "thumbnail", "known"} and f["known"] is False
              and f["thumbnail"].startswith("data:image/jpeg;base64,")
              and set(f["box"]) == {"top", "right", "bottom", "left"} for c in clusters for f in c["faces"]),
          "each face has its photo, box and JPEG thumbnail")
    ids = [c["id"] for c in clusters]
    listed = server.get("/api/clusters").json()["clusters"]
    check([c["id"] for c in listed] == ids and [photos_of(c) for c in listed] == [photos_of(c) for c in clusters],
          f"GET /api/clusters lists them: {[c['id'] for c in listed]}")
    r = server.get(f"/api/clusters/{ids[0]}")
    check(r.status == 200 and r.json() == clusters[0], f"GET /api/clusters/{ids[0]}: {r.status}")

    # ---- one over the limit: 413 naming it, nothing stored ----
    over = batch + [later]
    r = upload(server, over)
    check(r.status == 413 and str(LIMIT) in r.json().get("error", "") and "--max-cluster-photos" in r.json()["error"],
          f"{len(over)} photos: 413 naming the limit: {r.status} {r.body[:200]}")
    check([c["id"] for c in server.get("/api/clusters").json()["clusters"]] == ids, "nothing stored by the 413")

    # ---- restart: the pending clusters are still there ----
    server.stop()
    server.start()
    after = server.get("/api/clusters").json()["clusters"]
    check(after == listed, f"after a restart the same pending clusters: {[c['id'] for c in after]}")

    # ---- enrol each under its person's name ----
    name_of = {tuple(files): p for p, files in uploaded.items()}
    for bad in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5}):
        r = send(server, "POST", f"/api/clusters/{ids[0]}/enrol", bad)
        check(r.status == 400 and "error" in r.json(), f"enrol with {str(bad)[:40]}: 400 {r.body[:120]}")
    for c in clusters:
        who = name_of.get(tuple(photos_of(c)), "nobody")
        r = send(server, "POST", f"/api/clusters/{c['id']}/enrol", {"name": who})
        check(r.status == 200 and r.json()["name"] == who and len(r.json()["faces"]) == len(c["faces"]),
              f"enrol cluster {c['id']} as {who}: {r.status} {r.body[:200]}")
        check(server.get(f"/api/clusters/{c['id']}").status == 404, f"cluster {c['id']} is gone once enrolled")
        r = send(server, "POST", f"/api/clusters/{c['id']}/enrol", {"name": who})
        check(r.status == 404 and "error" in r.json(), f"enrolling it again: 404 {r.body[:120]}")
    check(server.get("/api/clusters").json()["clusters"] == [], "nothing pending after the three enrolments")
    people_now = {p["name"]: p["faces"] for p in server.get("/api/people").json()["people"]}
    check(people_now == {p: 4 for p in people}, f"three people of four faces each: {people_now}")
    r = server.post("/api/recognize", files=[("image", later, photo(later))])
    names = [f["name"] for f in r.json().get("faces", [])] if r.status == 200 else []
    check("deepface_p06" in names, f"{later} (not uploaded) is recognized as deepface_p06: {r.status} {names}")

    # ---- one under the limit: a known person's photo is suggested as them ----
    others = ["obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "amy_1.png", "amy_2.png", "amy_3.png",
              "penny_1.png", "penny_2.png", "penny_3.png", "raj_1.png", "raj_2.png", "raj_3.png", later]
    check(len(others) == LIMIT - 1, f"one under the limit: {len(others)} photos")
    r = upload(server, others)
    body = r.json() if r.status == 201 else {"clusters": []}
    check(r.status == 201, f"{len(others)} photos: {r.status} {r.body[:200]}")
    suggested = {tuple(photos_of(c)): c["suggested"] for c in body["clusters"]}
    print(f"second upload: {suggested}", flush=True)
    check(suggested.get((later,)) == "deepface_p06", f"{later} alone, suggested as deepface_p06: {suggested}")
    check(sorted(k for k, v in suggested.items() if v is None) ==
          sorted(tuple(sorted(f for f in others if f.startswith(p))) for p in ("obama", "amy", "penny", "raj")),
          f"the four unknown people, one cluster each, no suggestion: {suggested}")
    check(server.get("/api/people").json()["total"] == 3 and
          {p["name"]: p["faces"] for p in server.get("/api/people").json()["people"]}["deepface_p06"] == 4,
          "a suggestion enrols nothing by itself")
    check(all(f["known"] is False for c in body["clusters"] for f in c["faces"]),
          "none of the second upload's faces is known: none was enrolled")

    # ---- already enrolled photos again (with one new photo): the known faces are suggested, not re-enrolled ----
    again = uploaded["deepface_p06"] + [later]  # later: in a pending cluster, not enrolled
    r = upload(server, again)
    got = r.json().get("clusters", []) if r.status == 201 else []
    check(r.status == 201 and len(got) == 1 and photos_of(got[0]) == sorted(again),
          f"{again}: one cluster: {r.status} {[photos_of(c) for c in got]}")
    if got:
        known = sorted(f["photo"] for f in got[0]["faces"] if f["known"])
        check(got[0]["suggested"] == "deepface_p06", f"suggested as deepface_p06: {got[0]['suggested']}")
        check(known == sorted(uploaded["deepface_p06"]), f"the four enrolled photos' faces are known: {known}")
        check(server.get(f"/api/clusters/{got[0]['id']}").json() == got[0], "GET shows the same known faces")
        r = send(server, "POST", f"/api/clusters/{got[0]['id']}/enrol", {"name": "deepface_p06"})
        check(r.status == 200 and r.json()["name"] == "deepface_p06" and len(r.json()["faces"]) == 5,
              f"enrolled: only the new face joins, 4 + 1 faces: {r.status} {r.body[:200]}")
        alone = [c["id"] for c in body["clusters"] if photos_of(c) == [later]]
        r = server.get(f"/api/clusters/{alone[0]}") if alone else None
        check(r is not None and r.status == 200 and [f["known"] for f in r.json()["faces"]] == [True],
              f"the earlier pending cluster of {later} alone: its face is known now: {r.body[:150] if r else alone}")
    r = upload(server, uploaded["deepface_p07"])
    got = r.json().get("clusters", []) if r.status == 201 else []
    check(r.status == 201 and len(got) == 1 and all(f["known"] for f in got[0]["faces"]),
          f"deepface_p07's enrolled photos again: one cluster, every face known: {r.status} {r.body[:200]}")
    if got:
        r = send(server, "POST", f"/api/clusters/{got[0]['id']}/enrol", {"name": got[0]["suggested"]})
        check(r.status == 200 and r.json()["name"] == "deepface_p07" and len(r.json()["faces"]) == 4,
              f"enrolled under the suggestion: deepface_p07 still has 4 faces: {r.status} {r.body[:200]}")
        check(server.get(f"/api/clusters/{got[0]['id']}").status == 404, "the cluster is gone all the same")
    faces_now = {p["name"]: p["faces"] for p in server.get("/api/people").json()["people"]}
    check(faces_now == {"deepface_p05": 4, "deepface_p06": 5, "deepface_p07": 4},
          f"the face counts grew by the new photo only: {faces_now}")

    # ---- DELETE and 404s ----
    first = body["clusters"][0]["id"]
    r = server.request("DELETE", f"/api/clusters/{first}")
    check(r.status == 200 and r.json() == {"deleted": first}, f"DELETE /api/clusters/{first}: {r.body[:100]}")
    for method, path in (("DELETE", f"/api/clusters/{first}"), ("GET", f"/api/clusters/{first}"),
                         ("GET", "/api/clusters/99999"), ("GET", "/api/clusters/abc"),
                         ("DELETE", "/api/clusters/18446744073709551616")):
        r = server.request(method, path)
        check(r.status == 404 and "error" in r.json(), f"{method} {path}: 404 {r.status} {r.body[:100]}")
    r = send(server, "POST", "/api/clusters/99999/enrol", {"name": "x"})
    check(r.status == 404 and "error" in r.json(), f"enrol an unknown cluster: 404 {r.body[:100]}")

    # ---- refused uploads store nothing ----
    r = server.post("/api/cluster", fields=[("other", "x")])
    check(r.status == 400 and "image" in r.json()["error"], f"no photo: 400 naming the field ({r.body[:100]})")
    r = server.post("/api/cluster", files=[("image", later, photo(later)), ("image", "notes.txt", b"not an image")])
    check(r.status == 415 and "notes.txt" in r.json()["error"], f"not an image: 415 naming it ({r.body[:150]})")
    r = server.post("/api/cluster", files=[("image", f"big{i}.jpg", b"x" * 100) for i in range(LIMIT + 1)])
    check(r.status == 413, f"{LIMIT + 1} parts that are not even images: 413 before decoding ({r.status} {r.body[:100]})")
    check(len(server.get("/api/clusters").json()["clusters"]) == len(body["clusters"]) - 1, "the others stay")
finally:
    server.cleanup()
check.done()
