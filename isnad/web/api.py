"""The HTTP API, ``/api/v1``: JSON over the use cases of :mod:`isnad.app`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from isnad.web.auth import Principal, csrf_token, require

router = APIRouter(prefix="/api/v1", tags=["api"])

Reader = Annotated[Principal, Depends(require("read"))]
Submitter = Annotated[Principal, Depends(require("submit"))]


@router.get("/me")
def me(request: Request, principal: Reader) -> dict[str, Any]:
    """Who is asking: user, role, scopes, how authenticated; for a session, its CSRF token
    (for the pages' own scripts: send it back as ``X-CSRF-Token``)."""
    return {"user": principal.name, "role": principal.role,
            "scopes": sorted(principal.scopes), "via": principal.via,
            "token_id": principal.token_id,
            "csrf_token": csrf_token(request) if principal.via == "session" else None}
