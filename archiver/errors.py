"""Domain exceptions. Each message should tell the user what is wrong and what to do."""


class IsnadError(Exception):
    """Base class for errors a user can act on (printed as one line by the CLI)."""


class CaptureRefused(IsnadError):
    """The target may not be captured (bad URL, private address without permission)."""


class CaptureFailed(IsnadError):
    """The capture ran but produced nothing usable (DNS failure, TLS error, unreachable)."""


class PackageError(IsnadError):
    """A package could not be built or read."""


class StorageError(IsnadError):
    """A storage backend could not store or return an object."""


class NotFound(IsnadError):
    """No capture or object by that name."""


class SchemaError(IsnadError):
    """The catalog database is not at the schema this Isnad needs (run `isnad db upgrade`)."""
