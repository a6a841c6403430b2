"""The public exception tree. Every error awa raises on purpose is an ``AwaError``."""

from __future__ import annotations

__all__ = (
    "AwaError",
    "CallbackNotFound",
    "ClientClosed",
    "ConfigError",
    "ConnectionFailed",
    "CronNotFound",
    "DatabaseError",
    "InvalidStateError",
    "JobNotFound",
    "LeaseLost",
    "PoolTimeout",
    "QueueFull",
    "RowNotFound",
    "SchemaNotMigrated",
    "SchemaTooNew",
    "TerminalError",
    "UniqueConflict",
    "UnknownJobKind",
    "ValidationError",
)


class AwaError(Exception):
    """Base class of every error raised by awa."""


class ValidationError(AwaError, ValueError):
    """Input was rejected before anything was written.

    Attributes:
        field: the name of the offending argument or option, when known.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConfigError(ValidationError):
    """A client, queue or service configuration is invalid."""


class UniqueConflict(AwaError):
    """A job with the same unique key already holds the key.

    Attributes:
        constraint: the database constraint that refused the row.
        existing_job_id: the id of the job holding the key, when known.
        unique_key: the 16-byte key, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        constraint: str | None = None,
        existing_job_id: int | None = None,
        unique_key: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.constraint = constraint
        self.existing_job_id = existing_job_id
        self.unique_key = unique_key


class JobNotFound(AwaError, LookupError):
    """No job with this id (or callback id) exists."""

    def __init__(self, message: str, *, job_id: int | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class RowNotFound(AwaError, LookupError):
    """``fetch_one`` found no row."""


class CallbackNotFound(AwaError, LookupError):
    """No job waits on this callback id: unknown, already resolved, or stale
    (its attempt was rescued, cancelled or registered another callback)."""


class LeaseLost(AwaError):
    """The attempt no longer holds its job (rescued, cancelled, or resolved
    externally): what it tried to write was refused."""


class CallbackTimeout(AwaError, TimeoutError):
    """A handler waited in ``wait_for_callback`` past the callback's timeout
    (``register_callback(timeout_seconds=...)``, pushed out by
    ``heartbeat_callback``). Raised out of the handler, it retries the job
    with backoff, or fails it when its attempts are used up."""


class CronNotFound(AwaError, LookupError):
    """No periodic schedule has this name."""


class InvalidStateError(AwaError):
    """The job exists but its state does not allow the operation."""

    def __init__(self, message: str, *, job_id: int, state: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.state = state


class QueueFull(AwaError):
    """The queue is past its ``max_depth`` (policy ``reject``): nothing was inserted.

    Attributes:
        queue: the queue.
        depth: the last measured depth (an estimate, refreshed by the leader).
        max_depth: the configured limit.
    """

    def __init__(
        self, message: str, *, queue: str, depth: int | None, max_depth: int | None
    ) -> None:
        super().__init__(message)
        self.queue = queue
        self.depth = depth
        self.max_depth = max_depth


class UnknownJobKind(AwaError):
    """A job's kind has no registered handler."""


class SchemaNotMigrated(AwaError):
    """The database has no awa schema, or an older one: run ``awa migrate``."""


class SchemaTooNew(SchemaNotMigrated):
    """The database schema is newer than this version of awa knows."""


class DatabaseError(AwaError):
    """PostgreSQL refused an operation, or the connection failed.

    Attributes:
        sqlstate: the five-character SQLSTATE, when the server sent one.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class ConnectionFailed(DatabaseError):
    """The database could not be reached, or the connection was lost."""


class PoolTimeout(DatabaseError):
    """No connection became free within the acquire timeout."""


class ClientClosed(AwaError):
    """The client was closed; it can't be used any more."""


class TerminalError(AwaError):
    """Raise (a subclass of) this in a handler to fail the job without retrying."""
