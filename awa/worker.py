"""Running workers from a client: handler registration, start, shutdown, health.

``AsyncWorkerMixin`` gives ``AsyncClient`` its worker half. Its runtime runs
in the client's task group when the client is used as ``async with
AsyncClient(url) as client:`` (the structured form, and the only one under
trio); under asyncio ``client.start()`` also works without it, as the seed's
example does, by starting a background task. ``WorkerMixin`` gives the sync
``Client`` the same methods, with the runtime on an event loop in a
background thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Literal, TypeVar

import anyio
import anyio.from_thread
from anyio.abc import TaskGroup

from awa import observability
from awa._db.listener import Listener, ListenerConfig
from awa._db.pool import AsyncPool, PoolConfig
from awa._db.waiting import SyncFinishedHub
from awa._model.cron import PeriodicJob, make_periodic
from awa._model.health import HealthCheck
from awa._model.job import Job
from awa._model.registry import Registry
from awa._model.runtime_config import RuntimeConfig, parse_runtime
from awa._model.states import JobState
from awa._runtime.finished import FinishedHub
from awa._runtime.signals import Signals
from awa._runtime.supervisor import Runtime
from awa.errors import AwaError, ConfigError, ValidationError

__all__ = ("AsyncWorkerMixin", "WorkerMixin")

logger = logging.getLogger("awa")

F = TypeVar("F", bound=Callable[..., Any])

_SETTLED = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.WAITING_EXTERNAL}
)

_NO_LOOP = (
    "start() needs a running event loop. Under trio, open the client as"
    " `async with awa.AsyncClient(url) as client:` (or use `await client.run(...)`);"
    " from sync code, use awa.Client"
)


class _Registration:
    """Handler and hook registration, shared by both clients."""

    _registry: Registry
    _signals: Signals

    def _init_worker_state(self) -> None:
        self._registry = Registry()
        self._signals = Signals()

    def worker(
        self, args_type: Any, *, queue: str = "default", kind: str | None = None
    ) -> Callable[[F], F]:
        """Register the decorated function as the handler of ``args_type``'s kind.

        The handler receives the running job (``job.args`` is an
        ``args_type`` instance) and may be ``async def`` or plain ``def``
        (run in a worker thread). It returns ``None`` to complete, or
        ``awa.RetryAfter``, ``awa.Snooze``, ``awa.Cancel``; raising retries
        with backoff, raising ``awa.TerminalError`` fails at once.
        """

        def register(fn: F) -> F:
            self._registry.add_handler(args_type, fn, queue=queue, kind=kind)
            return fn

        return register

    task = worker

    def on(
        self, event: str, hook: Callable[..., Any] | None = None, *, kind: str | None = None
    ) -> Any:
        """Call ``hook(awa.JobEvent)`` after a job's ``event`` committed.

        Events: completed, retried, failed, cancelled, snoozed, rescued.
        Usable as ``client.on("failed", fn)`` or as a decorator. A hook that
        raises is logged and never affects the worker.
        """
        if hook is not None:
            self._registry.add_hook(event, hook, kind=kind)
            return hook

        def register(fn: F) -> F:
            self._registry.add_hook(event, fn, kind=kind)
            return fn

        return register

    def periodic(
        self,
        name: str,
        cron_expr: str,
        args_type: Any,
        args: Any,
        *,
        timezone: str = "UTC",
        queue: str = "default",
        priority: int = 2,
        max_attempts: int = 25,
        tags: Iterable[str] | None = None,
        metadata: dict[str, Any] | None = None,
        missed_fire_policy: str = "coalesce",
        kind: str | None = None,
    ) -> PeriodicJob:
        """Declare a job enqueued on a cron schedule (validated now).

        ``cron_expr`` has 5 fields, or 6 with seconds first; ``timezone`` is an
        IANA name (DST handled). Declarations reach the database when this
        process starts workers (and every minute after), or on
        ``sync_periodic()``; the elected leader fires them, each fire exactly
        once, by the database clock. ``missed_fire_policy``: after downtime or
        a pause, ``"coalesce"`` enqueues only the latest missed fire,
        ``"catch_up"`` each of them (up to 1000 per pass).

        Raises:
            ValidationError: a bad expression, zone, option or args.
        """
        job = make_periodic(
            name,
            cron_expr,
            args_type,
            args,
            timezone=timezone,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            tags=tags,
            metadata=metadata,
            missed_fire_policy=missed_fire_policy,
            kind=kind,
        )
        return self._registry.add_periodic(job)

    def _runtime_config(
        self, queues: Iterable[Any] | None, options: dict[str, Any]
    ) -> RuntimeConfig:
        if not self._registry.handlers:
            raise ConfigError(
                "register at least one handler (@client.worker(...)) before starting workers",
                field="queues",
            )
        return parse_runtime(self._registry.queues() if queues is None else queues, options)


class AsyncWorkerMixin(_Registration):
    _pool: AsyncPool
    database_url: str
    pgbouncer: bool

    def _init_worker_state(self) -> None:
        super()._init_worker_state()
        self._runtime: Runtime | None = None
        self._runtime_error: BaseException | None = None
        self._task_group: TaskGroup | None = None
        self._task_group_cm: Any = None
        self._hub = FinishedHub()
        self._hub_listener: Listener | None = None
        self._hub_task: asyncio.Task[None] | None = None

    _close_pool: Callable[[], Any]  # provided by the client

    def start(self, queues: Iterable[Any] | None = None, **options: Any) -> None:
        """Start working ``queues`` in the background and return at once.

        ``queues`` holds names, ``(name, max_workers)`` tuples or dicts of
        ``awa.QueueConfig`` fields; by default the queues of the registered
        handlers. Options are ``RuntimeConfig`` fields (seconds for times).
        Use ``await client.wait_started()`` to know it is claiming, and
        ``await client.shutdown()`` to stop.

        Raises:
            ConfigError: bad queues or options, no handlers, already started.
            AwaError: no way to run in the background (see ``_NO_LOOP``).
        """
        if self._runtime is not None and not self._runtime.finished.is_set():
            raise ConfigError("the workers are already started", field="queues")
        config = self._runtime_config(queues, options)
        if self._task_group is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise AwaError(_NO_LOOP) from None
        runtime = Runtime(
            conninfo=self.database_url,
            pool=self._pool,
            registry=self._registry,
            config=config,
            signals=self._signals,
            telemetry=observability.runtime_telemetry(config),
            pgbouncer=self.pgbouncer,
        )
        self._runtime = runtime
        self._runtime_error = None
        if self._task_group is not None:
            self._task_group.start_soon(self._run_runtime, runtime, name="awa runtime")
        else:
            task = loop.create_task(self._run_runtime(runtime), name="awa runtime")
            self._background = task  # keep a reference while it runs

    async def _run_runtime(self, runtime: Runtime) -> None:
        try:
            await runtime.run()
        except Exception as exc:
            self._runtime_error = exc
            logger.error("the awa runtime stopped with an error: %s", exc, exc_info=exc)
            if self._task_group is not None:
                raise

    async def wait_started(self, timeout: float = 30.0) -> None:
        """Return once the workers claim jobs; raise if starting failed."""
        runtime = self._require_runtime()
        with anyio.fail_after(timeout):
            async with anyio.create_task_group() as tg:

                async def stop_when_finished() -> None:
                    await runtime.finished.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(stop_when_finished)
                await runtime.started.wait()
                tg.cancel_scope.cancel()
        self._raise_runtime_error()

    def _require_runtime(self) -> Runtime:
        if self._runtime is None:
            raise AwaError("the workers are not started: call start() first")
        return self._runtime

    def _raise_runtime_error(self) -> None:
        if self._runtime_error is not None:
            error, self._runtime_error = self._runtime_error, None
            raise error

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop gracefully: no more claims, let running jobs finish for up to
        ``timeout`` seconds (default: the ``drain_timeout`` option), then
        cancel the rest and hand their jobs back at once, flush outcomes and
        release leadership. The connection pool stays open.

        Cancellation: the shutdown goes on shielded, bounded by twice the
        timeout; past that the runtime is forced down.
        """
        runtime = self._runtime
        if runtime is None:
            return
        drain = runtime.config.drain_timeout if timeout is None else timeout
        runtime.request_stop(drain)
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(2 * drain + 10) as waited:
                await runtime.finished.wait()
            if waited.cancelled_caught:
                runtime.force_stop()
                await runtime.finished.wait()
        self._runtime = None
        self._raise_runtime_error()

    async def join(self) -> None:
        """Wait until the workers stop (after ``shutdown()`` or an error, re-raised)."""
        runtime = self._require_runtime()
        await runtime.finished.wait()
        self._raise_runtime_error()

    async def run(self, queues: Iterable[Any] | None = None, **options: Any) -> None:
        """Work ``queues`` until cancelled or shut down (works under asyncio and trio).

        Cancelling ``run()`` stops the runtime at once (jobs are rescued
        later); call ``shutdown()`` from another task for a graceful stop.
        """
        config = self._runtime_config(queues, options)
        runtime = Runtime(
            conninfo=self.database_url,
            pool=self._pool,
            registry=self._registry,
            config=config,
            signals=self._signals,
            telemetry=observability.runtime_telemetry(config),
            pgbouncer=self.pgbouncer,
        )
        self._runtime = runtime
        try:
            await runtime.run()
        finally:
            if self._runtime is runtime:
                self._runtime = None

    async def health_check(self) -> HealthCheck:
        """Database reachable, loops alive, leadership, per-queue load."""
        return await self._require_runtime().health()

    async def wait_for(self, job_id: int, *, timeout: float | None = None) -> Job:
        """Wait until the job is finished (completed, failed, cancelled) or
        parked (waiting_external), and return it. Woken by NOTIFY: waiters
        share one LISTEN connection (the runtime's, or the client's own while
        it is open with ``async with``; under asyncio also without it).

        Raises:
            JobNotFound: no such job.
            TimeoutError: still unfinished after ``timeout`` seconds.
        """
        if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1:
            raise ValidationError(
                f"job_id: expected a positive int, got {job_id!r}", field="job_id"
            )
        settled: Job | None = None
        failure: Exception | None = None
        # The task group only hosts a listener started for this wait; errors
        # are raised after it, unwrapped.
        async with anyio.create_task_group() as tg:
            hub = await self._finished_hub(tg)
            try:
                with anyio.fail_after(math.inf if timeout is None else timeout):
                    while settled is None:
                        event = hub.arm(job_id)
                        try:
                            job: Job = await self.get_job(job_id)  # type: ignore[attr-defined]
                            if job.state in _SETTLED:
                                settled = job
                            else:
                                await event.wait()
                        finally:
                            hub.disarm(job_id, event)
            except Exception as exc:
                failure = exc
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        assert settled is not None  # the loop only ends with a settled job
        return settled

    async def _finished_hub(self, tg: TaskGroup) -> FinishedHub:
        """The hub on a running listener: the runtime's, the client's own, or
        (trio without ``async with``) one started for this wait."""
        runtime = self._runtime
        if runtime is not None and runtime.listener is not None and not runtime.finished.is_set():
            self._hub.attach(runtime.listener)
            return self._hub
        if self._hub_listener is None:
            listener = Listener(ListenerConfig(conninfo=self.database_url))
            if self._task_group is not None:
                await self._task_group.start(listener.run)
            else:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    hub = FinishedHub()
                    await tg.start(listener.run)
                    hub.attach(listener)
                    return hub
                started = anyio.Event()

                async def run_listener() -> None:
                    async with anyio.create_task_group() as own:
                        await own.start(listener.run)
                        started.set()

                self._hub_task = loop.create_task(run_listener())
                await started.wait()
            self._hub_listener = listener
        self._hub.attach(self._hub_listener)
        return self._hub

    @property
    def runtime(self) -> Runtime | None:
        return self._runtime

    async def __aenter__(self) -> Any:
        if self._task_group_cm is not None:
            raise AwaError("this client is already open in an `async with` block")
        self._task_group_cm = anyio.create_task_group()
        self._task_group = await self._task_group_cm.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._runtime is not None:
                if exc_type is None or not issubclass(exc_type, Exception):
                    await self.shutdown()
                else:
                    self._runtime.force_stop()
        finally:
            cm, group = self._task_group_cm, self._task_group
            self._task_group_cm = self._task_group = None
            if group is not None and self._hub_task is None and self._hub_listener is not None:
                # wait_for()'s listener runs in this task group until stopped
                group.cancel_scope.cancel()
                self._hub_listener = None
            try:
                if cm is not None:
                    await cm.__aexit__(exc_type, exc, traceback)
            finally:
                await self._close_pool()

    async def close(self) -> None:
        """Shut the workers down (if started) and close the connection pool."""
        try:
            await self.shutdown()
        finally:
            if self._hub_task is not None:
                self._hub_task.cancel()
                self._hub_task = None
            self._hub_listener = None
            await self._close_pool()


class WorkerMixin(_Registration):
    """The sync ``Client``'s workers: the async runtime on a background event loop."""

    database_url: str
    pgbouncer: bool

    def _init_worker_state(self) -> None:
        super()._init_worker_state()
        self._runtime: Runtime | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._future: Future[Any] | None = None
        self._lock = threading.Lock()
        self._waits: SyncFinishedHub | None = None

    _close_pool: Callable[[], Any]  # provided by the client

    def start(
        self,
        queues: Iterable[Any] | None = None,
        *,
        backend: Literal["asyncio", "trio"] = "asyncio",
        **options: Any,
    ) -> None:
        """Start workers on an event loop in a background thread; return once claiming.

        Handlers may be plain ``def`` (run in worker threads) or ``async def``
        (run on that loop). See ``AsyncClient.start`` for queues and options.
        """
        with self._lock:
            if self._future is not None and not self._future.done():
                raise ConfigError("the workers are already started", field="queues")
            config = self._runtime_config(queues, options)
            self._portal_cm = anyio.from_thread.start_blocking_portal(backend)
            portal = self._portal_cm.__enter__()
            self._portal = portal
            try:
                self._future, _ = portal.start_task(self._main, config, name="awa runtime")
            except BaseException:
                self._close_portal()
                raise

    async def _main(self, config: RuntimeConfig, *, task_status: Any) -> None:
        pool = AsyncPool(
            PoolConfig(
                conninfo=self.database_url,
                max_size=max(4, len(config.queues) + 4),
                prepare=not self.pgbouncer,
            )
        )
        runtime = Runtime(
            conninfo=self.database_url,
            pool=pool,
            registry=self._registry,
            config=config,
            signals=self._signals,
            telemetry=observability.runtime_telemetry(config),
            pgbouncer=self.pgbouncer,
        )
        self._runtime = runtime
        try:
            await runtime.run(task_status=task_status)
        finally:
            await pool.close()

    def _close_portal(self) -> None:
        cm, self._portal_cm, self._portal = self._portal_cm, None, None
        if cm is not None:
            cm.__exit__(None, None, None)

    def wait_started(self, timeout: float = 30.0) -> None:
        """``start()`` already returns once claiming; this checks it is still running."""
        with self._lock:
            future = self._future
        if future is None:
            raise AwaError("the workers are not started: call start() first")
        if future.done():
            future.result()  # raises what stopped it
            raise AwaError("the workers have stopped")

    def shutdown(self, timeout: float | None = None) -> None:
        """Graceful stop, as ``AsyncClient.shutdown``; blocks until done."""
        with self._lock:
            portal, future, runtime = self._portal, self._future, self._runtime
            if portal is None or future is None or runtime is None:
                return
            drain = runtime.config.drain_timeout if timeout is None else timeout
            try:
                if not future.done():
                    portal.call(runtime.request_stop, drain)
                try:
                    future.result(timeout=2 * drain + 10)
                except TimeoutError:
                    portal.call(runtime.force_stop)
                    future.result()
            finally:
                self._future = None
                self._runtime = None
                self._close_portal()

    def join(self) -> None:
        """Block until the workers stop. Ctrl-C shuts them down gracefully (a
        second Ctrl-C forces it) and is re-raised."""
        with self._lock:
            future = self._future
        if future is None:
            raise AwaError("the workers are not started: call start() first")
        try:
            future.result()
        except KeyboardInterrupt:
            try:
                self.shutdown()
            except KeyboardInterrupt:  # a second interrupt: force
                self._force_stop()
            raise

    def run(self, queues: Iterable[Any] | None = None, **options: Any) -> None:
        """Start and work until interrupted (see ``join``)."""
        self.start(queues, **options)
        self.join()

    def _force_stop(self) -> None:
        portal, runtime, future = self._portal, self._runtime, self._future
        try:
            if portal is not None and runtime is not None:
                portal.call(runtime.force_stop)
                if future is not None:
                    future.result(timeout=30)
        finally:
            self._future = None
            self._runtime = None
            self._close_portal()

    def wait_for(self, job_id: int, *, timeout: float | None = None) -> Job:
        """``AsyncClient.wait_for``, blocking. Waiting threads share one
        LISTEN connection, held by a background thread until ``close()``."""
        if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1:
            raise ValidationError(
                f"job_id: expected a positive int, got {job_id!r}", field="job_id"
            )

        def settled() -> Job | None:
            job: Job = self.get_job(job_id)  # type: ignore[attr-defined]
            return job if job.state in _SETTLED else None

        with self._lock:
            if self._waits is None:
                self._waits = SyncFinishedHub(self.database_url)
            hub = self._waits
        return hub.wait(job_id, settled, timeout)

    def health_check(self) -> HealthCheck:
        with self._lock:
            portal, runtime = self._portal, self._runtime
        if portal is None or runtime is None:
            raise AwaError("the workers are not started: call start() first")
        return portal.call(runtime.health)

    @property
    def runtime(self) -> Runtime | None:
        return self._runtime

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Shut the workers down (if started) and close the connection pool."""
        try:
            self.shutdown()
        finally:
            waits, self._waits = self._waits, None
            if waits is not None:
                waits.close()
            self._close_pool()
