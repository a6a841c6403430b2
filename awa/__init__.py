"""awa: a Postgres-only background job queue for asyncio and trio.

The public API lives here; everything under ``awa._*`` is private.
"""

from __future__ import annotations

from awa._db.transaction import Transaction as Transaction
from awa._db.transaction_async import AsyncTransaction as AsyncTransaction
from awa._model.callbacks import CallbackToken as CallbackToken
from awa._model.callbacks import ResolveResult as ResolveResult
from awa._model.callbacks import WaitForCallback as WaitForCallback
from awa._model.config import redact as redact_url
from awa._model.cron import CronJobInfo as CronJobInfo
from awa._model.cron import PeriodicJob as PeriodicJob
from awa._model.health import HealthCheck as HealthCheck
from awa._model.health import QueueHealth as QueueHealth
from awa._model.insert import InsertJob as InsertJob
from awa._model.insert import InsertManyResult as InsertManyResult
from awa._model.insert import PayloadLimits as PayloadLimits
from awa._model.insert import SkippedJob as SkippedJob
from awa._model.job import Job as Job
from awa._model.job import JobPage as JobPage
from awa._model.kinds import derive_kind as derive_kind
from awa._model.outcomes import Cancel as Cancel
from awa._model.outcomes import RetryAfter as RetryAfter
from awa._model.outcomes import Snooze as Snooze
from awa._model.registry import JobEvent as JobEvent
from awa._model.runtime_config import QueueConfig as QueueConfig
from awa._model.runtime_config import RuntimeConfig as RuntimeConfig
from awa._model.states import JobState as JobState
from awa._model.stats import MigrationStatus as MigrationStatus
from awa._model.stats import QueueDepth as QueueDepth
from awa._model.stats import QueueStat as QueueStat
from awa._model.stats import RetryFailedResult as RetryFailedResult
from awa._model.stats import RuntimeInstance as RuntimeInstance
from awa._model.stats import ThroughputBucket as ThroughputBucket
from awa._model.unique import UniqueOpts as UniqueOpts
from awa._runtime.context import JobContext as JobContext
from awa._runtime.lease import LeaseToken as LeaseToken
from awa._version import __version__ as __version__
from awa.client import Client as Client
from awa.client_async import AsyncClient as AsyncClient
from awa.errors import AwaError as AwaError
from awa.errors import CallbackNotFound as CallbackNotFound
from awa.errors import CallbackTimeout as CallbackTimeout
from awa.errors import ClientClosed as ClientClosed
from awa.errors import ConfigError as ConfigError
from awa.errors import ConnectionFailed as ConnectionFailed
from awa.errors import CronNotFound as CronNotFound
from awa.errors import DatabaseError as DatabaseError
from awa.errors import InvalidStateError as InvalidStateError
from awa.errors import JobNotFound as JobNotFound
from awa.errors import LeaseLost as LeaseLost
from awa.errors import PoolTimeout as PoolTimeout
from awa.errors import QueueFull as QueueFull
from awa.errors import RowNotFound as RowNotFound
from awa.errors import SchemaNotMigrated as SchemaNotMigrated
from awa.errors import SchemaTooNew as SchemaTooNew
from awa.errors import TerminalError as TerminalError
from awa.errors import UniqueConflict as UniqueConflict
from awa.errors import UnknownJobKind as UnknownJobKind
from awa.errors import ValidationError as ValidationError
from awa.schema import LATEST_SCHEMA_VERSION as LATEST_SCHEMA_VERSION
from awa.schema import migration_sql as migration_sql
from awa.schema import roles_sql as roles_sql

__all__ = (
    "LATEST_SCHEMA_VERSION",
    "AsyncClient",
    "AsyncTransaction",
    "AwaError",
    "CallbackNotFound",
    "CallbackTimeout",
    "CallbackToken",
    "Cancel",
    "Client",
    "ClientClosed",
    "ConfigError",
    "ConnectionFailed",
    "CronJobInfo",
    "CronNotFound",
    "DatabaseError",
    "HealthCheck",
    "InsertJob",
    "InsertManyResult",
    "InvalidStateError",
    "Job",
    "JobContext",
    "JobEvent",
    "JobNotFound",
    "JobPage",
    "JobState",
    "LeaseLost",
    "LeaseToken",
    "MigrationStatus",
    "PayloadLimits",
    "PeriodicJob",
    "PoolTimeout",
    "QueueConfig",
    "QueueDepth",
    "QueueFull",
    "QueueHealth",
    "QueueStat",
    "RetryAfter",
    "ResolveResult",
    "RetryFailedResult",
    "RowNotFound",
    "RuntimeConfig",
    "RuntimeInstance",
    "SchemaNotMigrated",
    "SchemaTooNew",
    "SkippedJob",
    "Snooze",
    "TerminalError",
    "ThroughputBucket",
    "Transaction",
    "UniqueConflict",
    "UniqueOpts",
    "UnknownJobKind",
    "WaitForCallback",
    "ValidationError",
    "__version__",
    "derive_kind",
    "migration_sql",
    "redact_url",
    "roles_sql",
)

# Report private homes as the public one (reprs, docs, pickles of values).
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("awa._"):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):  # pragma: no cover - builtins
            pass
del _name, _obj
