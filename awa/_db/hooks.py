"""Callable types shared by a transaction and its sync twin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager

from awa._db.executor import Executor
from awa._db.executor_async import AsyncExecutor

AsyncExecutorOpener = Callable[[], AbstractAsyncContextManager[AsyncExecutor]]
ExecutorOpener = Callable[[], AbstractContextManager[Executor]]
AsyncTransactionHook = Callable[[AsyncExecutor], Awaitable[None]]
TransactionHook = Callable[[Executor], None]
