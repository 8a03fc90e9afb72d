"""The web app and HTTP API (``isnad serve``): server-rendered pages for investigators and a
JSON API under ``/api/v1``, both over the use cases of :mod:`isnad.app` (never past them).

FastAPI, Jinja2 and uvicorn are imported here only: the CLI loads this package inside
``isnad serve``, so no other command pays for them.
"""
