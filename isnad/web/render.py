"""Pages: the Jinja2 environment over ``isnad/web/templates/`` and :func:`render`, which gives
every template the translation function ``t``, the language and its direction, the CSRF field
and who is signed in. Autoescaping is on for every template: text from a capture (a title, a
note, an Arabic post) is always shown as text."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from isnad import __version__
from isnad.web import i18n
from isnad.web.auth import Principal, csrf_field, principal_of

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def environment() -> Environment:
    """The one Jinja2 environment of the app (templates are read once, then cached)."""
    return Environment(loader=FileSystemLoader(TEMPLATES),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def language(request: Request) -> str:
    """The interface language of ``request`` (see :func:`isnad.web.i18n.choose`)."""
    return i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                       request.headers.get("accept-language"))


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           principal: Principal | None = None, *, status_code: int = 200) -> HTMLResponse:
    """The template ``name`` as an HTML response, with ``t``, ``lang``, ``dir``,
    ``csrf_field``, ``principal`` and ``request`` beside ``context``. A ``?lang=`` choice is
    kept in the ``lang`` cookie."""
    lang = language(request)
    values = {
        "request": request,
        "t": lambda key, **fields: i18n.translate(lang, key, **fields),
        "lang": lang,
        "dir": i18n.direction(lang),
        "languages": i18n.languages(),
        # The same page in each language (its other query parameters kept).
        "lang_url": lambda code: _with_lang(request, code),
        "csrf_field": lambda: csrf_field(request),
        "principal": principal or principal_of(request),
        "version": __version__,
        **(context or {}),
    }
    html = environment().get_template(name).render(values)
    response = HTMLResponse(html, status_code=status_code)
    chosen = request.query_params.get("lang")
    if chosen and chosen == lang:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="strict",
                            secure=request.url.scheme == "https", httponly=True)
    return response


def _with_lang(request: Request, code: str) -> str:
    url = request.url.include_query_params(lang=code)
    return f"{url.path}?{url.query}"
