"""The web app and HTTP API against a real `isnad serve` subprocess, over real HTTP."""

from __future__ import annotations

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


def test_the_interface_speaks_arabic_right_to_left(web_server):
    page = web_server.client().get("/login?lang=ar")
    assert '<html lang="ar" dir="rtl">' in page.text and "تسجيل الدخول" in page.text
    assert page.cookies.get("lang") == "ar"
    by_header = web_server.client().get("/login", headers={"Accept-Language": "ar-SY,en;q=0.5"})
    assert 'dir="rtl"' in by_header.text
    english = web_server.client().get("/login", headers={"Accept-Language": "fr, en;q=0.8"})
    assert '<html lang="en" dir="ltr">' in english.text
