"""The user agent: what the fixture site received is what the WARC and the context say."""

from __future__ import annotations

import ipaddress
import socket
from types import SimpleNamespace

import pytest

from archiver.states import CaptureState
from crawlers.settings import DESKTOP_AGENT, FALLBACK_MAJOR, default_user_agent
from isnad.app.capture import _agent_warnings
from tests.waczutil import datapackage, header, records

# yt-dlp reads the page once more (media stage) and its requests are not WARC records: the
# tests that count requests turn it off; the first test keeps it on and checks its agent.
NO_MEDIA = {"ISNAD_MEDIA__ENABLED": "false"}


def _received_agents(site, since: int) -> list[str]:
    """The User-Agent of every request the fixture site received since ``since``."""
    return [dict((k.lower(), v) for k, v in headers).get("user-agent", "")
            for _path, headers in site.received[since:]]


def _warcinfo(wacz: str) -> dict[str, str]:
    info = next(r for r in records(wacz) if r.type == "warcinfo")
    fields = {}
    for line in info.payload.decode().splitlines():
        name, _, value = line.partition(": ")
        fields[name] = value
    return fields


def _check_agent(site, since: int, rec: dict) -> str:
    """The one agent the server received, the WARC recorded and the context names."""
    wacz = rec["package_location"]
    received = _received_agents(site, since)
    assert received, "the fixture site received nothing"
    recorded = [header(r, "User-Agent") or "" for r in records(wacz) if r.type == "request"]
    # Every request, yt-dlp's reading of the page included (the recording proxy).
    assert len(recorded) == len(received)
    agent = received[0]
    assert set(received) == {agent} == set(recorded)
    ctx = datapackage(wacz)["isnad"]
    assert ctx["browser"]["user_agent"] == agent
    assert ctx["browser"]["user_agents_sent"] == {agent: len(recorded)}
    assert _warcinfo(wacz)["http-header-user-agent"] == agent
    assert not [w for w in ctx["warnings"] if "user agent" in w]
    return agent


@pytest.mark.e2e
def test_browser_sends_a_desktop_chrome_agent_and_records_it(isnad, site):
    since = len(site.received)
    rec = isnad.capture(site.url("/agent.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec
    agent = _check_agent(site, since, rec)
    # Not Scrapy's agent (scrapy-playwright's default header override), not a headless tell.
    assert agent.startswith("Mozilla/5.0 (X11; Linux x86_64)") and " Chrome/" in agent, agent
    assert "Scrapy" not in agent and "Headless" not in agent
    ctx = datapackage(rec["package_location"])["isnad"]
    assert ctx["browser"]["navigator_user_agent"] == agent  # what the page's scripts saw
    assert agent.split(" Chrome/")[1].split(".")[0] == ctx["software"]["chromium"].split(".")[0]
    assert ctx["settings"]["user_agent"] is None  # not configured: Isnad's default
    # The browser's own request headers, not Scrapy's (Accept-Language "en", Accept...).
    page_headers = dict((k.lower(), v) for k, v in next(
        h for p, h in site.received[since:] if p == "/agent.html"))
    assert page_headers["accept-language"] != "en"
    assert "headless" not in page_headers.get("sec-ch-ua", "").lower()
    info = _warcinfo(rec["package_location"])
    assert info["hostname"] == socket.gethostname()
    if "ip" in info:  # absent only on a machine with no route at all
        ipaddress.ip_address(info["ip"])


@pytest.mark.e2e
def test_configured_agent_is_sent_by_the_browser(isnad, site):
    agent = "Mozilla/5.0 (Isnad test; investigator desk 4)"
    since = len(site.received)
    rec = isnad.capture(site.url("/agent.html"),
                        env={"ISNAD_CAPTURE__USER_AGENT": agent, **NO_MEDIA})
    assert rec["state"] == CaptureState.COMPLETE, rec
    assert _check_agent(site, since, rec) == agent
    ctx = datapackage(rec["package_location"])["isnad"]
    assert ctx["settings"]["user_agent"] == agent
    assert ctx["browser"]["navigator_user_agent"] == agent


@pytest.mark.e2e
def test_plain_http_sends_the_same_default_agent_and_records_what_it_sent(isnad, site):
    since = len(site.received)
    rec = isnad.capture("--no-browser", site.url("/agent.html"), env=NO_MEDIA)
    assert rec["state"] == CaptureState.COMPLETE, rec
    agent = _check_agent(site, since, rec)
    assert agent.startswith("Mozilla/5.0 (X11; Linux x86_64)") and "Scrapy" not in agent
    # Every header the server received is in the request record, with the same value.
    request = next(r for r in records(rec["package_location"]) if r.type == "request")
    recorded = {(k.lower(), v) for k, v in request.http_headers}
    received = {(k.lower(), v) for k, v in site.received[since][1]}
    assert received <= recorded, received - recorded


@pytest.mark.e2e
def test_plain_http_sends_the_configured_agent(isnad, site):
    agent = "IsnadTest/1.0 (+mailto:desk@example.org)"
    since = len(site.received)
    rec = isnad.capture("--no-browser", site.url("/agent.html"),
                        env={"ISNAD_CAPTURE__USER_AGENT": agent, **NO_MEDIA})
    assert _check_agent(site, since, rec) == agent


@pytest.mark.e2e
def test_followed_links_are_sent_like_a_click(isnad, site):
    """A link followed with --depth: the browser's agent, and the Referer a click sends."""
    since = len(site.received)
    rec = isnad.capture("--depth", "1", site.url("/links.html"), env=NO_MEDIA)
    assert rec["state"] in (CaptureState.COMPLETE, CaptureState.PARTIAL), rec
    got = {path: dict((k.lower(), v) for k, v in headers)
           for path, headers in site.received[since:]}
    followed = got["/crawl/a.html"]
    assert followed["referer"] == site.url("/links.html")
    assert followed["user-agent"] == got["/links.html"]["user-agent"]
    assert "Scrapy" not in followed["user-agent"]


def test_default_agent_is_desktop_chrome_of_the_installed_version(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'Chromium 142.0.7444.59 built on Debian GNU/Linux 13'\n")
    fake.chmod(0o755)
    assert default_user_agent(str(fake)) == DESKTOP_AGENT.format(major="142")
    # No browser to ask: a desktop Chrome agent still, never Scrapy's.
    missing = default_user_agent(str(tmp_path / "absent"))
    assert missing == DESKTOP_AGENT.format(major=FALLBACK_MAJOR)


def test_another_agent_sent_is_a_warning():
    job = SimpleNamespace(limits=SimpleNamespace(user_agent="Agent/1"), use_browser=True,
                          user_agents_sent={"Agent/1": 7, "Scrapy/2.19.0": 1, "": 2},
                          user_agent="Agent/1 HeadlessChrome")
    warnings = _agent_warnings(job)
    assert len(warnings) == 3
    assert "1 request(s)" in warnings[0] and "'Scrapy/2.19.0'" in warnings[0]
    assert "'(none)'" in warnings[1]
    assert "scripts saw" in warnings[2]
    job.user_agents_sent, job.user_agent = {"Agent/1": 7}, "Agent/1"
    assert _agent_warnings(job) == []
