"""The web app and HTTP API against a real `isnad serve` subprocess, over real HTTP."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from urllib.parse import quote

import pytest

from tests.webserver import running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def web_server(tmp_path_factory):
    yield from running_server(tmp_path_factory)


def test_nothing_is_reachable_without_credentials_but_login_and_health(web_server):
    anonymous = web_server.client()
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/login").status_code == 200
    api = anonymous.get("/api/v1/me")
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    page = anonymous.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
    bad = web_server.client(token="isnad_nothing_like_a_token")
    assert bad.get("/api/v1/me").status_code == 401
    basic = anonymous.get("/api/v1/me", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


def test_security_headers_are_on_every_response(web_server):
    for path in ("/healthz", "/login", "/api/v1/me", "/static/isnad.css"):
        headers = web_server.client().get(path).headers
        assert "frame-ancestors 'self'" in headers["content-security-policy"], path
        assert "worker-src 'self'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
        assert headers["x-frame-options"] == "SAMEORIGIN", path


def test_login_sets_a_strict_httponly_session_and_logout_needs_csrf(web_server):
    client = web_server.login("viewer")
    cookie = next(c for c in client.cookies.jar if c.name == "isnad_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite").lower() == "strict"
    me = client.get("/api/v1/me").json()
    assert (me["user"], me["role"], me["scopes"], me["via"]) == (
        "viewer-user", "viewer", ["read"], "session")
    # A POST by session cookie alone (as a forged cross-site form would send) is refused.
    forged = client.post("/logout", data={})
    assert forged.status_code == 403
    assert client.get("/api/v1/me").status_code == 200  # still signed in
    wrong = client.post("/logout", data={"csrf_token": "x" * 43})
    assert wrong.status_code == 403
    done = client.post("/logout", data={"csrf_token": client.csrf})
    assert done.status_code == 303
    client.cookies.clear()
    assert client.get("/api/v1/me").status_code == 401


def test_a_wrong_password_or_a_forged_login_form_signs_nobody_in(web_server):
    import httpx2 as httpx

    client = httpx.Client(base_url=web_server.base_url)
    form = client.get("/login")
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    wrong = client.post("/login", data={"name": "admin-user", "password": "nope-nope-nope",
                                        "csrf_token": token})
    assert wrong.status_code == 401 and "isnad_session" not in client.cookies
    forged = httpx.post(web_server.base_url + "/login",
                        data={"name": "admin-user", "password": "correct horse battery staple",
                              "csrf_token": "forged"})
    assert forged.status_code == 403 and "isnad_session" not in forged.cookies


def test_an_unknown_page_is_the_error_page_and_an_unknown_api_path_json(web_server):
    page = web_server.login("viewer").get("/no-such-page?lang=ar")
    assert page.status_code == 404 and 'dir="rtl"' in page.text and "غير موجود" in page.text
    api = web_server.client("viewer").get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_the_interface_speaks_arabic_right_to_left(web_server):
    page = web_server.client().get("/login?lang=ar")
    assert '<html lang="ar" dir="rtl">' in page.text and "تسجيل الدخول" in page.text
    assert page.cookies.get("lang") == "ar"
    by_header = web_server.client().get("/login", headers={"Accept-Language": "ar-SY,en;q=0.5"})
    assert 'dir="rtl"' in by_header.text
    english = web_server.client().get("/login", headers={"Accept-Language": "fr, en;q=0.8"})
    assert '<html lang="en" dir="ltr">' in english.text


def test_a_viewer_cannot_submit_by_token_nor_by_session(web_server, site):
    body = {"url": site.url("/")}
    by_token = web_server.client("viewer").post("/api/v1/submissions", json=body)
    assert by_token.status_code == 403 and "submit" in by_token.json()["detail"]
    session = web_server.login("viewer")
    by_session = session.post("/api/v1/submissions", json=body,
                              headers={"X-CSRF-Token": session.csrf})
    assert by_session.status_code == 403
    assert web_server.client("viewer").get("/api/v1/jobs").json()["jobs"] == []


def test_a_session_post_without_its_csrf_token_is_refused(web_server, site):
    session = web_server.login("investigator")
    body = {"url": site.url("/"), "case": "CSRF"}
    assert session.post("/api/v1/submissions", json=body).status_code == 403
    assert session.post("/api/v1/submissions", json=body,
                        headers={"X-CSRF-Token": "not-the-token"}).status_code == 403
    jobs = web_server.client("admin").get("/api/v1/jobs").json()["jobs"]
    assert not [j for j in jobs if j["case"] == "CSRF"]  # nothing was queued
    # Reads need no CSRF token; a bearer token never does.
    assert session.get("/api/v1/captures").status_code == 200


def test_a_revoked_token_is_refused_from_its_next_use(web_server):
    secret = web_server.new_token("investigator", ["read"])
    token_id = web_server.last_token_id
    client = web_server.client(token=secret)
    assert client.get("/api/v1/me").json()["token_id"] == token_id
    assert web_server.cli("tokens", "revoke", token_id).returncode == 0
    refused = client.get("/api/v1/me")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_a_token_past_its_rate_limit_gets_429_with_retry_after(web_server):
    client = web_server.client(token=web_server.new_token("viewer"))
    answers = [client.get("/api/v1/me") for _ in range(61)]  # the server allows 60 a minute
    assert [a.status_code for a in answers[:60]] == [200] * 60
    assert answers[60].status_code == 429
    assert 1 <= int(answers[60].headers["retry-after"]) <= 60
    # Another token is counted apart.
    assert web_server.client("viewer").get("/api/v1/me").status_code == 200


def test_a_token_past_its_daily_quota_gets_429(web_server, site):
    client = web_server.client(token=web_server.new_token("investigator", quota="2"))
    three = client.post("/api/v1/submissions",
                        json={"urls": [site.url(f"/gen/{n}.html") for n in range(3)],
                              "case": "QUOTA"})
    assert three.status_code == 429 and "quota" in three.json()["detail"]
    assert int(three.headers["retry-after"]) > 0
    two = client.post("/api/v1/submissions", json={"urls": [site.url("/"), site.url("/")],
                                                   "case": "QUOTA"})
    assert two.status_code == 201 and len(two.json()["jobs"]) == 2
    assert client.post("/api/v1/submissions", json={"url": site.url("/"), "case": "QUOTA"}
                       ).status_code == 429
    for job in two.json()["jobs"]:  # not captured here: the quota is what this test is about
        web_server.cli("jobs", "cancel", job["id"])


def test_a_bad_url_is_refused_and_nothing_is_queued(web_server, site):
    client = web_server.client("investigator")
    refused = client.post("/api/v1/submissions",
                          json={"urls": [site.url("/"), "file:///etc/passwd"], "case": "BAD"})
    assert refused.status_code == 422 and "URL #2" in refused.json()["detail"]
    assert not [j for j in client.get("/api/v1/jobs").json()["jobs"] if j["case"] == "BAD"]
    assert client.post("/api/v1/submissions", json={"case": "BAD"}).status_code == 422


def _wait_for_job(client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_a_submission_is_captured_downloaded_with_its_hash_and_every_access_is_custody(
        web_server, site):
    investigator = web_server.client("investigator")
    made = investigator.post("/api/v1/submissions",
                             json={"url": site.url("/"), "case": "WEB-1", "tags": ["api"],
                                   "note": "ملاحظة"})
    assert made.status_code == 201, made.text
    [job] = made.json()["jobs"]
    assert job["source"] == "api" and job["operator"] == "investigator-user"
    done = _wait_for_job(investigator, job["id"])
    assert done["state"] == "done", done
    [capture_id] = done["captures"]

    viewer = web_server.client("viewer")
    listed = viewer.get("/api/v1/captures", params={"case": "WEB-1", "tag": "api"}).json()
    assert [c["id"] for c in listed["captures"]] == [capture_id] and listed["total"] == 1
    assert viewer.get("/api/v1/captures", params={"case": "NONE"}).json()["total"] == 0
    assert viewer.get("/api/v1/captures", params={"since": "nonsense"}).status_code == 422
    record = viewer.get(f"/api/v1/captures/{capture_id}").json()
    assert record["state"] in ("COMPLETE", "PARTIAL") and record["note"] == "ملاحظة"

    files = {f["name"]: f for f in
             viewer.get(f"/api/v1/captures/{capture_id}/files").json()["files"]}
    package = files["package.wacz"]
    assert package["sha256"] == record["package_sha256"]
    got = viewer.get(f"/api/v1/captures/{capture_id}/files/package.wacz")
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == package["sha256"]
    assert got.headers["x-content-sha256"] == package["sha256"]
    # A file of the package, and a record inside one of its WARCs (the screenshot).
    for name in ("pages/pages.jsonl",
                 next(n for n in files if "#urn:fullPage:" in n)):
        got = viewer.get(f"/api/v1/captures/{capture_id}/files/{quote(name, safe='/')}")
        assert got.status_code == 200, (name, got.text)
        assert hashlib.sha256(got.content).hexdigest() == files[name]["sha256"], name
        assert got.headers["content-type"].split(";")[0] == files[name]["media_type"], name
    part = viewer.get(f"/api/v1/captures/{capture_id}/files/package.wacz",
                      headers={"Range": "bytes=10-109"})
    whole = viewer.get(f"/api/v1/captures/{capture_id}/files/package.wacz").content
    assert part.status_code == 206 and part.content == whole[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(whole)}"
    assert viewer.get(f"/api/v1/captures/{capture_id}/files/package.wacz",
                      headers={"Range": f"bytes={len(whole)}-"}).status_code == 416

    # No name the catalog does not list reaches anything: traversal, absolute, unknown.
    home = web_server.home
    for name in ("..%2F..%2Fcatalog.db", "..%2F..%2F..%2Fkeys", "%2Fetc%2Fpasswd",
                 "/etc/passwd", str(home / "catalog.db"), "no-such-file.txt",
                 "package.wacz%00", "%2E%2E", "pages%2F..%2F..%2F..%2Fcatalog.db"):
        answer = viewer.get(f"/api/v1/captures/{capture_id}/files/{name}")
        assert answer.status_code == 404, (name, answer.status_code)
    assert viewer.get("/api/v1/captures/nosuchcapture/files/package.wacz").status_code == 404

    # Every download is a custody event: who, from where, which file; the chain still holds.
    custody = viewer.get(f"/api/v1/captures/{capture_id}").json()["custody"]
    accessed = [e for e in custody if e["action"] == "accessed"]
    # The package, two files, a range, the whole again (a refused range 416 is no access).
    assert len(accessed) == 5, accessed
    first = accessed[0]
    assert first["actor"] == "viewer-user"
    assert first["details"]["action"] == "download"
    assert first["details"]["address"] == "127.0.0.1"
    assert first["details"]["file"] == "package.wacz"
    assert first["details"]["via"] == "token"
    assert first["object_sha256"] == package["sha256"]
    assert [e["details"].get("range") for e in accessed] == [None, None, None, "10-109", None]

    verified = viewer.post(f"/api/v1/captures/{capture_id}/verify")
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text

    exported = viewer.get(f"/api/v1/captures/{capture_id}/export")
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as zf:
        names = zf.namelist()
        root = f"isnad-export-{capture_id}/"
        sums = zf.read(root + "SHA256SUMS").decode()
        for line in sums.splitlines():
            digest, name = line.split(maxsplit=1)
            assert hashlib.sha256(zf.read(root + name.lstrip("*"))).hexdigest() == digest
    assert root + "report.html" in names
    custody = viewer.get(f"/api/v1/captures/{capture_id}").json()["custody"]
    assert [e["details"]["action"] for e in custody if e["action"] == "accessed"][-1] \
        == "export"
    assert "exported" in [e["action"] for e in custody]

    # Replay is a page: a session sees it (and its view is custody), a token alone does not.
    assert viewer.get(f"/captures/{capture_id}/replay",
                      follow_redirects=False).status_code == 303
    browser = web_server.login("viewer")
    replay = browser.get(f"/captures/{capture_id}/replay")
    assert replay.status_code == 200 and "replay-web-page" in replay.text
    assert f"/captures/{capture_id}/package.wacz" in replay.text
    custody = viewer.get(f"/api/v1/captures/{capture_id}").json()["custody"]
    last = [e for e in custody if e["action"] == "accessed"][-1]
    assert last["details"]["action"] == "replay" and last["actor"] == "viewer-user"
    shown = web_server.cli("verify", capture_id)
    assert shown.returncode == 0, shown.stdout + shown.stderr  # the chain with its new events


def test_the_openapi_document_lists_the_api_and_no_page(web_server):
    spec = web_server.client().get("/api/v1/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/api/v1/submissions", "/api/v1/jobs", "/api/v1/jobs/{job_id}",
                 "/api/v1/captures", "/api/v1/captures/{capture_id}",
                 "/api/v1/captures/{capture_id}/files/{name}",
                 "/api/v1/captures/{capture_id}/export", "/api/v1/captures/{capture_id}/verify",
                 "/api/v1/monitors", "/api/v1/imports"):
        assert path in paths, path
    assert not [p for p in paths if not p.startswith("/api/v1/")]
    assert web_server.client("viewer").get("/api/v1/monitors").json() == {"monitors": []}
    assert web_server.client("viewer").get("/api/v1/imports").json() == {"imports": []}


def test_serve_alone_runs_a_worker_and_the_scheduler_and_stops_them(tmp_path):
    import json

    from tests.webserver import WebServer

    server = WebServer(tmp_path / "home", workers=1, scheduler=True).start()
    try:
        deadline = time.monotonic() + 90
        kinds: set[str] = set()
        while time.monotonic() < deadline and kinds != {"worker", "scheduler"}:
            shown = json.loads(server.cli("workers", "--json").stdout or "[]")
            kinds = {w["kind"] for w in shown if w["state"] == "alive"}
            time.sleep(1)
        assert kinds == {"worker", "scheduler"}, server.output()
    finally:
        server.stop()
    shown = json.loads(server.cli("workers", "--json").stdout or "[]")
    assert not [w for w in shown if w["state"] == "alive"], shown


def test_a_request_body_past_the_limit_is_refused_with_413(web_server):
    client = web_server.client("investigator")
    big = b'{"urls": [' + b'"https://example.org/",' * 300_000 + b'"x"]}'  # ~6.6 MB
    refused = client.post("/api/v1/submissions", content=big,
                          headers={"Content-Type": "application/json"})
    assert refused.status_code == 413 and "max_upload_bytes" in refused.json()["detail"]
    # Streamed without a Content-Length, it is cut off as it passes the limit.
    streamed = client.post("/api/v1/submissions", content=iter([big[:3_000_000],
                                                                big[3_000_000:]]),
                           headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_behind_a_tls_proxy_the_cookies_are_secure(tmp_path):
    import re

    import httpx2 as httpx

    from tests.webserver import PASSWORD, WebServer

    server = WebServer(tmp_path / "home", workers=0, serve_args=["--proxy-headers"]).start()
    try:
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        client = httpx.Client(base_url=server.base_url, headers=proxied)
        form = client.get("/login")
        assert "secure" in form.headers["set-cookie"].lower()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        # A Secure cookie is not sent back over plain http: set it as the browser would over
        # https.
        client.cookies.set("isnad_login", token)
        done = client.post("/login", data={"name": "viewer-user", "password": PASSWORD,
                                           "csrf_token": token})
        assert done.status_code == 303, done.text
        session = done.headers["set-cookie"]
        assert "isnad_session=" in session and "secure" in session.lower()
        assert "httponly" in session.lower() and "samesite=strict" in session.lower()
        # Without the proxy's word (plain http), the cookie is not marked Secure.
        plain = httpx.get(server.base_url + "/login")
        assert "secure" not in plain.headers["set-cookie"].lower()
    finally:
        server.stop()
