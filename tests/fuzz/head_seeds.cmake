# Writes the seed corpus of faceapp_fuzz_head into ${out}: one request head per route and per security check,
# as the pages, the API and an attacker send them. Run at build time (cmake -Dout=DIR -P head_seeds.cmake).
file(MAKE_DIRECTORY "${out}")
set(crlf "\r\n")
set(host "Host: 127.0.0.1:8080${crlf}")
set(i 0)
foreach(head
    "GET / HTTP/1.1${crlf}${host}${crlf}"
    "HEAD /faceapp HTTP/1.1${crlf}${host}X-API-Key: fuzz-key${crlf}${crlf}"
    "GET /api/faces?offset=0&limit=100 HTTP/1.1${crlf}${host}X-API-Key: fuzz-key${crlf}${crlf}"
    "GET /faces/1/thumbnail.jpg HTTP/1.1${crlf}${host}Authorization: Basic OmZ1enota2V5${crlf}If-None-Match: \"face-1\"${crlf}${crlf}"
    "POST /faces HTTP/1.1${crlf}${host}X-API-Key: fuzz-key${crlf}Origin: http://127.0.0.1:8080${crlf}Cookie: faceapp_csrf=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef${crlf}Content-Length: 0${crlf}${crlf}"
    "POST /faces/7/delete HTTP/1.1${crlf}${host}X-API-Key: fuzz-key${crlf}Sec-Fetch-Site: same-origin${crlf}Content-Length: 0${crlf}${crlf}"
    "DELETE /api/faces/3 HTTP/1.1${crlf}${host}X-API-Key: fuzz-key${crlf}${crlf}"
    "POST /api/recognize HTTP/1.1${crlf}Host: faces.example.org:8443${crlf}X-API-Key: fuzz-key${crlf}Origin: https://faces.example.org:8443${crlf}Content-Type: multipart/form-data; boundary=x${crlf}Content-Length: 0${crlf}${crlf}"
    "POST /api/compare HTTP/1.1${crlf}Host: evil.example${crlf}Origin: null${crlf}${crlf}"
    "GET /api/records HTTP/1.1${crlf}Host: [::1]:8080${crlf}Authorization: Basic Og==${crlf}${crlf}"
    "PUT /api/faces HTTP/1.1${crlf}${host}X-API-Key: fuzz-key${crlf}Sec-Fetch-Site: cross-site${crlf}Transfer-Encoding: chunked${crlf}${crlf}"
    "GET /%2e%2e/faces/1/thumbnail.jpg?q=%00 HTTP/1.0${crlf}${crlf}")
  math(EXPR i "${i} + 1")
  file(WRITE "${out}/head_${i}" "${head}")
endforeach()
