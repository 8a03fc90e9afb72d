"""Isnad: evidence-grade web archiving for open-source investigators."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("isnad-archiver")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
