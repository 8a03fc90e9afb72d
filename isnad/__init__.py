"""Isnad: evidence-grade web archiving for open-source investigators."""

# The one place the version is written: pyproject.toml reads it from here (setuptools'
# dynamic version), so the installed metadata and this agree. Not looked up through
# importlib.metadata, whose import alone is a tenth of the start-up of `isnad list`.
__version__ = "0.1.0"
