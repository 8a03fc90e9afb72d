"""The web app: screens and the HTTP API (FastAPI)."""
