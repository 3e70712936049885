"""faceapp-web against docs/openapi.yaml: every /api route of the route table (and /healthz, /readyz, /metrics) is
documented and every documented route is in it; every documented route and method is served (not a route miss, not 405); and real answers of
compare, recognize, add, list, delete and records have a documented status, content type and schema.
Needs python3-yaml and python3-jsonschema (cmake/install-deps.sh installs them)."""

import copy
import json
import os
import re

import jsonschema
import yaml

from webtest import Checks, Server, parse_args, read

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# The route table: where a request is matched, once. The first that exists is read.
ROUTE_TABLES = ("examples/web/web/route_table.cpp", "examples/web/routes.hpp")
# Statuses any request may get whatever its route (the document's description lists them).
ANY_ROUTE = {400, 401, 403, 405, 408, 413, 415, 421, 429, 431, 500, 503}

args = parse_args(__doc__)
check = Checks()

with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
    doc = yaml.safe_load(f)
check(str(doc.get("openapi", "")).startswith("3."), f"docs/openapi.yaml is OpenAPI 3: {doc.get('openapi')!r}")
try:  # the full OpenAPI check where the validator is installed (pip's openapi-spec-validator; Debian has none)
    from openapi_spec_validator import validate as validate_openapi
except ImportError:
    validate_openapi = None
if validate_openapi:
    try:
        validate_openapi(doc)
        check(True, "docs/openapi.yaml is a valid OpenAPI document")
    except Exception as e:  # the validator's error types differ between its versions
        check(False, f"docs/openapi.yaml is not a valid OpenAPI document: {str(e)[:300]}")
documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item
              if method in ("get", "post", "put", "delete", "patch")}


def served_routes():
    """(path template, method) of every /api route in the route table. A line is one route:
    `p == "/api/x"` or `segment_route("/api/x/", "suffix")` (an id segment, written {id}), and its methods are
    what the line picks: `get ?` (GET), `pick(get` (GET), `pick(post` (POST), `method == "DELETE"` (DELETE).
    The people routes match a template `t` ({id} and {face} segments) the same way: `t == "/api/people/{id}"`."""
    table = next((os.path.join(ROOT, t) for t in ROUTE_TABLES if os.path.isfile(os.path.join(ROOT, t))), None)
    check(table is not None, f"a route table is one of {ROUTE_TABLES}")
    routes = set()
    for line in open(table) if table else ():
        exact = re.search(r'\b[pt] == "(/api/[^"]*|/healthz|/readyz|/metrics)"', line)
        segment = re.search(r'segment_route\("(/api/[^"]*)", "([^"]*)"\)', line)
        if not (exact or segment):
            continue
        path = exact.group(1) if exact else segment.group(1) + "{id}" + segment.group(2)
        methods = set()
        if re.search(r"\bget \?", line) or "pick(get" in line:
            methods.add("GET")
        if "pick(post" in line:
            methods.add("POST")
        for m in re.findall(r'method == "([A-Z]+)"', line):
            methods.add(m)
        check(methods, f"the route table's line for {path} names its methods: {line.strip()}")
        routes |= {(path, m) for m in methods}
    return routes


served = served_routes()
check(len(served) >= 6, f"the route table has the API's routes: {sorted(served)}")
for route in sorted(served - documented):
    check(False, f"served but not in docs/openapi.yaml: {route[1]} {route[0]}")
for route in sorted(documented - served):
    check(False, f"in docs/openapi.yaml but not in the route table: {route[1]} {route[0]}")


def to_json_schema(node):
    """OpenAPI 3.0's schema dialect -> JSON Schema 2020-12: `nullable: true` becomes a "null" type."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


components = to_json_schema(copy.deepcopy(doc.get("components", {})))


def resolve(node):
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/components/responses/"):
        node = doc["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
    return node


def conforms(method, path, r, what):
    """The answer's status is documented for the operation (or for any route), its content type is the
    documented one, and its body validates against the documented schema."""
    op = doc["paths"][path][method.lower()]
    answer = resolve(op["responses"].get(str(r.status)))
    if answer is None:
        return check(r.status in ANY_ROUTE and r.json().get("error"),
                     f"{what}: status {r.status} documented for {method} {path}: {r.body[:200]}")
    ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
    content = answer.get("content", {})
    if not check(ctype in content, f"{what}: content type {ctype!r} is one of {sorted(content)}"):
        return False
    schema = to_json_schema(content[ctype]["schema"])
    body = r.json() if ctype == "application/json" else r.text
    try:
        jsonschema.Draft202012Validator({**schema, "components": components}).validate(body)
    except jsonschema.ValidationError as e:
        return check(False, f"{what}: {r.status} answer does not match the schema: {e.message} at "
                            f"{list(e.absolute_path)}: {str(body)[:300]}")
    return check(True, what)


# The schemas themselves must be valid JSON Schema once converted.
for name, schema in components.get("schemas", {}).items():
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        check(True, f"schema {name}")
    except jsonschema.SchemaError as e:
        check(False, f"schema {name} is not valid: {e.message}")


def photo(name):
    return read(os.path.join(args.faces, name))


server = Server(args.server).start()
try:
    # ---- every documented route and method is served: not a route miss, not 405 ----
    for path, method in sorted(documented):
        concrete = path.replace("{id}", "999999999").replace("{face}", "999999999")
        if method == "POST":
            r = server.post(concrete, fields=[("unused", "x")])
        else:
            r = server.request(method, concrete)
        miss = r.status == 404 and r.body.startswith(b'{"error":"not found: ')
        check(r.status != 405 and not miss, f"{method} {path} is served: {r.status} {r.body[:120]}")
    # and a method a path does not document is 405 (so the check above can fail)
    r = server.request("PUT", "/api/compare")
    check(r.status == 405, f"PUT /api/compare is 405: {r.status}")
    r = server.request("GET", "/api/no-such-route")
    check(r.status == 404 and r.json().get("error"), f"an undocumented /api path is 404: {r.status}")

    # ---- real answers of the main routes ----
    r = server.post("/api/recognize", files=[("image", "obama_2.jpg", photo("obama_2.jpg"))])
    check(r.status == 200, f"recognize, empty gallery: {r.status}")
    conforms("POST", "/api/recognize", r, "recognize, empty gallery (distance null)")

    r = server.post("/api/faces", fields=[("name", "Barack Obama")],
                    files=[("image", "obama_1.jpg", photo("obama_1.jpg"))])
    check(r.status == 201, f"add: {r.status} {r.body[:200]}")
    conforms("POST", "/api/faces", r, "add")
    added = r.json()["id"] if r.status == 201 else None
    r = server.post("/api/faces", fields=[("name", "Joe Biden")], files=[("image", "biden_1.jpg", photo("biden_1.jpg"))])
    conforms("POST", "/api/faces", r, "add another")
    conforms("POST", "/api/faces", server.post("/api/faces", files=[("image", "obama_1.jpg", photo("obama_1.jpg"))]),
             "add without a name: 400")
    conforms("POST", "/api/faces", server.post("/api/faces", fields=[("name", "nobody")],
                                               files=[("image", "noface_2.jpg", photo("noface_2.jpg"))]),
             "add a photo without a face: 400")

    r = server.get("/api/faces")
    check(r.status == 200 and r.json()["total"] == 2, f"list: {r.status} {r.body[:200]}")
    conforms("GET", "/api/faces", r, "list")
    conforms("GET", "/api/faces", server.get("/api/faces?offset=1&limit=1"), "list, one page")
    conforms("GET", "/api/faces", server.get("/api/faces?limit=5000"), "list, limit too large: 400")

    for file in ("group_3.jpg", "obama_2.jpg", "noface_2.jpg"):
        r = server.post("/api/recognize", files=[("image", file, photo(file))])
        check(r.status == 200, f"recognize {file}: {r.status}")
        conforms("POST", "/api/recognize", r, f"recognize {file}")
    r = server.post("/api/recognize", files=[("image", "obama_2.jpg", photo("obama_2.jpg"))])
    check(r.status == 200 and any(f["name"] == "Barack Obama" for f in r.json()["faces"]),
          f"recognize names the known face: {r.body[:200]}")
    conforms("POST", "/api/recognize", server.post("/api/recognize", fields=[("tolerance", "2")],
                                                   files=[("image", "obama_2.jpg", photo("obama_2.jpg"))]),
             "recognize, tolerance out of range: 400")
    conforms("POST", "/api/recognize", server.post("/api/recognize", files=[("image", "notes.jpg", b"plain text")]),
             "recognize a file that is not an image: 415")
    conforms("POST", "/api/recognize", server.request("POST", "/api/recognize", b"{}", "application/json"),
             "recognize without multipart: 415")

    for a, b in (("obama_1.jpg", "obama_2.jpg"), ("obama_1.jpg", "biden_1.jpg"), ("obama_1.jpg", "noface_2.jpg")):
        r = server.post("/api/compare", fields=[("tolerance", "0.6")], files=[("a", a, photo(a)), ("b", b, photo(b))])
        check(r.status == 200, f"compare {a} {b}: {r.status}")
        conforms("POST", "/api/compare", r, f"compare {a} {b}")
    conforms("POST", "/api/compare", server.post("/api/compare", files=[("a", "obama_1.jpg", photo("obama_1.jpg"))]),
             "compare without b: 400")

    r = server.get("/api/records")
    check(r.status == 200 and len(r.text.splitlines()) > 1, f"records: {r.status}")
    conforms("GET", "/api/records", r, "records")
    conforms("GET", "/api/records", server.get("/api/records?since=2026-12-01T10:00:00Z"), "records since")
    conforms("GET", "/api/records", server.get("/api/records?since=today"), "records since a bad time: 400")
    for path in ("/healthz", "/readyz", "/metrics"):
        conforms("GET", path, server.get(path), path)

    query = {"encodings": [[0.05] * 128, [-0.05] * 128], "k": 3}
    r = server.request("POST", "/api/search", json.dumps(query).encode(), "application/json")
    check(r.status == 200 and [len(hits) for hits in r.json()["results"]] == [2, 2], f"search: {r.body[:200]}")
    conforms("POST", "/api/search", r, "search")
    conforms("POST", "/api/search", server.request("POST", "/api/search", b'{"encodings": [[1]]}', "application/json"),
             "search, 1 number: 400")
    conforms("POST", "/api/search", server.post("/api/search", fields=[("encodings", "[]")]), "search, a form: 415")

    if added is not None:
        r = server.request("DELETE", f"/api/faces/{added}")
        check(r.status == 200, f"delete: {r.status}")
        conforms("DELETE", "/api/faces/{id}", r, "delete")
        conforms("DELETE", "/api/faces/{id}", server.request("DELETE", f"/api/faces/{added}"), "delete again: 404")
    conforms("DELETE", "/api/faces/{id}", server.request("DELETE", "/api/faces/x"), "delete a non-number id: 404")

    # ---- people ----
    def send_json(method, path, body):
        return server.request(method, path, json.dumps(body).encode(), "application/json")

    r = send_json("POST", "/api/people", {"name": "Penny"})
    conforms("POST", "/api/people", r, "create a person")
    person = r.json()["id"] if r.status == 201 else 0
    conforms("POST", "/api/people", send_json("POST", "/api/people", {"name": ""}), "create, empty name: 400")
    conforms("POST", "/api/people", server.post("/api/people", fields=[("name", "x")]), "create, not JSON: 415")
    r = server.post(f"/api/people/{person}/faces", files=[("image", "penny_1.png", photo("penny_1.png"))])
    conforms("POST", "/api/people/{id}/faces", r, "add a face to a person")
    face = r.json()["id"] if r.status == 201 else 0
    conforms("POST", "/api/people/{id}/faces",
             server.post(f"/api/people/{person}/faces", files=[("image", "noface_2.jpg", photo("noface_2.jpg"))]),
             "add a photo without a face to a person: 400")
    conforms("GET", "/api/people", server.get("/api/people?q=pen&limit=10"), "list people")
    conforms("GET", "/api/people", server.get("/api/people?limit=1001"), "list people, limit too large: 400")
    conforms("GET", "/api/people/{id}", server.get(f"/api/people/{person}"), "a person")
    conforms("GET", "/api/people/{id}", server.get("/api/people/999999"), "a missing person: 404")
    conforms("PATCH", "/api/people/{id}", send_json("PATCH", f"/api/people/{person}", {"name": "Penny H"}), "rename")
    other = send_json("POST", "/api/people", {"name": "Other"}).json()["id"]
    conforms("POST", "/api/people/{id}/merge", send_json("POST", f"/api/people/{person}/merge", {"from": other}),
             "merge")
    conforms("POST", "/api/people/{id}/merge", send_json("POST", f"/api/people/{person}/merge", {"from": other}),
             "merge a person gone: 404")
    conforms("DELETE", "/api/people/{id}/faces/{face}", server.request("DELETE", f"/api/people/{person}/faces/{face}"),
             "remove a person's face")
    conforms("DELETE", "/api/people/{id}/faces/{face}", server.request("DELETE", f"/api/people/{person}/faces/{face}"),
             "remove it again: 404")
    conforms("DELETE", "/api/people/{id}", server.request("DELETE", f"/api/people/{person}"), "delete a person")
    conforms("DELETE", "/api/people/{id}", server.request("DELETE", f"/api/people/{person}"), "delete it again: 404")
    # ---- clusters ----
    r = server.post("/api/cluster", files=[("image", f, photo(f)) for f in ("obama_1.jpg", "obama_2.jpg", "noface_2.jpg")])
    conforms("POST", "/api/cluster", r, "cluster three photos")
    cluster = r.json()["clusters"][0]["id"] if r.status == 201 else 0
    conforms("POST", "/api/cluster", server.post("/api/cluster", files=[("image", "noface_2.jpg", photo("noface_2.jpg"))]),
             "cluster a photo without a face: 200")
    conforms("POST", "/api/cluster", server.post("/api/cluster", fields=[("x", "y")]), "cluster nothing: 400")
    conforms("GET", "/api/clusters", server.get("/api/clusters"), "the pending clusters")
    conforms("GET", "/api/clusters/{id}", server.get(f"/api/clusters/{cluster}"), "a pending cluster")
    conforms("POST", "/api/clusters/{id}/enrol", send_json("POST", f"/api/clusters/{cluster}/enrol", {"name": ""}),
             "enrol, empty name: 400")
    conforms("POST", "/api/clusters/{id}/enrol", server.post(f"/api/clusters/{cluster}/enrol", fields=[("name", "x")]),
             "enrol, not JSON: 415")
    conforms("POST", "/api/clusters/{id}/enrol", send_json("POST", f"/api/clusters/{cluster}/enrol", {"name": "Obama"}),
             "enrol a cluster")
    conforms("POST", "/api/clusters/{id}/enrol", send_json("POST", f"/api/clusters/{cluster}/enrol", {"name": "Obama"}),
             "enrol it again: 404")
    r = server.post("/api/cluster", files=[("image", "obama_3.jpg", photo("obama_3.jpg"))])
    other = r.json()["clusters"][0]["id"] if r.status == 201 else 0
    conforms("DELETE", "/api/clusters/{id}", server.request("DELETE", f"/api/clusters/{other}"), "discard a cluster")
    conforms("DELETE", "/api/clusters/{id}", server.request("DELETE", f"/api/clusters/{other}"), "discard it again: 404")
    conforms("GET", "/api/clusters/{id}", server.get(f"/api/clusters/{other}"), "a discarded cluster: 404")
finally:
    server.cleanup()
check.done()
