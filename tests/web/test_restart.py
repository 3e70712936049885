"""faceapp-web keeps its gallery across a restart and across kill -9, and a kill -9 in the middle of many requests
loses no record of a request already answered and leaves no torn row."""

import hashlib
import os
import shutil
import tempfile
import threading
import time

from webtest import Checks, Server, manifest, parse_args, read, records

args = parse_args(__doc__)
truth = manifest(args.faces)
check = Checks()
data_dir = tempfile.mkdtemp(prefix="faceapp-web-restart-")


def photo(name):
    return read(os.path.join(args.faces, name))


try:
    # ---- a clean restart keeps the gallery ----
    server = Server(args.server, data_dir).start()
    added = {}
    for file in ("obama_1.jpg", "kit_harington_1.jpeg", "rose_leslie_1.jpg"):
        r = server.post("/api/faces", fields=[("name", truth[file][0])], files=[("image", file, photo(file))])
        check(r.status == 201, f"add {file}: {r.status}")
        added[r.json()["id"]] = truth[file][0]
    r = server.request("DELETE", f"/api/faces/{min(added)}")
    check(r.status == 200, "delete the first one")
    del added[min(added)]
    before = server.get("/api/faces").json()["faces"]
    check(server.stop() == 0, "SIGTERM stops the server cleanly (exit code 0)")

    server = Server(args.server, data_dir).start()
    after = server.get("/api/faces").json()["faces"]
    check(after == before, f"after a restart the gallery is the same: {after}")
    check({f["id"]: f["name"] for f in after} == added, "the deleted face stays deleted")
    r = server.post("/api/recognize", files=[("image", "kit_harington_2.jpeg", photo("kit_harington_2.jpeg"))])
    check([f["name"] for f in r.json()["faces"]] == [truth["kit_harington_2.jpeg"][0]],
          f"the restarted server recognizes with the kept encodings: {r.body[:200]}")
    t = server.get(after[0]["thumbnail"])
    check(t.status == 200 and t.body[:3] == b"\xff\xd8\xff", "thumbnails survive the restart")

    # ---- kill -9 right after an add was answered: the face is there after the restart ----
    r = server.post("/api/faces", fields=[("name", "biden")], files=[("image", "biden_1.jpg", photo("biden_1.jpg"))])
    check(r.status == 201, "add biden")
    biden = r.json()["id"]
    server.kill9()
    server = Server(args.server, data_dir).start()
    names = {f["id"]: f["name"] for f in server.get("/api/faces").json()["faces"]}
    check(names.get(biden) == "biden", f"a face added just before kill -9 survives: {names}")

    # ---- kill -9 during many requests: every answered request is recorded, no row is torn ----
    rows_before = len(records(server))
    answered = []
    lock = threading.Lock()
    stop = threading.Event()
    pair = [("a", "obama_1.jpg", photo("obama_1.jpg")), ("b", "obama_3.jpg", photo("obama_3.jpg"))]

    def client():
        while not stop.is_set():
            try:
                r = server.post("/api/compare", files=pair)
            except OSError:
                return  # the server died under us: this request was not answered
            if r.status == 200:
                with lock:
                    answered.append(r.json())

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.time() + 300
    while time.time() < deadline:
        with lock:
            if len(answered) >= 12:
                break
        time.sleep(0.05)
    server.kill9()
    stop.set()
    for t in threads:
        t.join()
    n_answered = len(answered)
    check(n_answered >= 12, f"{n_answered} compares answered before kill -9")

    server = Server(args.server, data_dir).start()
    rows = records(server)  # asserts 10 cells in every row: nothing torn
    new = rows[rows_before:]
    digest_a = hashlib.sha256(photo("obama_1.jpg")).hexdigest()
    digest_b = hashlib.sha256(photo("obama_3.jpg")).hexdigest()
    expected_input = f"sha256:{digest_a} (obama_1.jpg) vs sha256:{digest_b} (obama_3.jpg)"
    check(all(row[1] == expected_input for row in new), "the new rows are the compares")
    check(n_answered <= len(new) <= n_answered + 8,
          f"kill -9 lost nothing answered: {n_answered} answered, {len(new)} recorded (at most 8 more in flight)")
    check(all(row[9] in ("true", "false") and row[8] != "" for row in new), "every new row is complete")
    r = server.post("/api/compare", files=pair)
    check(r.status == 200 and len(records(server)) == len(rows) + 1, "the records file takes new rows after the crash")
    server.stop()
finally:
    shutil.rmtree(data_dir, ignore_errors=True)

check.done()
