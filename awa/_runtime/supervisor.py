"""The runtime: services and jobs in structured task groups, and the shutdown order.

Start order: listener, completer, heartbeater, leader (maintenance while
elected), snapshot reporter, then one dispatcher per queue. Shutdown
(DESIGN §6): stop the dispatchers -> wait for in-flight jobs up to the drain
timeout while heartbeats and completions go on -> cancel what is left and
hand those jobs back -> flush the completer -> release leadership -> close.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

import anyio
import attrs
from anyio.abc import TaskStatus

from awa._db.executor_async import AsyncExecutor
from awa._db.listener import Listener, ListenerConfig, listen_works
from awa._db.pool import AsyncPool
from awa._model.health import HealthCheck, QueueHealth
from awa._model.registry import Registry
from awa._model.runtime_config import QueueConfig, RuntimeConfig
from awa._runtime.cancel_watcher import CancelWatcher
from awa._runtime.completion import Completer
from awa._runtime.db import Db
from awa._runtime.dispatcher import Dispatcher
from awa._runtime.health_http import HealthServer
from awa._runtime.heartbeat import Heartbeater
from awa._runtime.hooks import HookRunner
from awa._runtime.job_runner import JobRunner
from awa._runtime.job_services import RuntimeJobServices
from awa._runtime.leader import Leader, LeaderConfig
from awa._runtime.lease import SHUTDOWN, InFlight
from awa._runtime.maintenance.aging import AgingConfig, PriorityAger
from awa._runtime.maintenance.cleaner import Cleaner, CleanerConfig
from awa._runtime.maintenance.cron import CronConfig, CronScheduler, CronSync
from awa._runtime.maintenance.depth import DepthMonitor
from awa._runtime.maintenance.gauges import QueueGauges
from awa._runtime.maintenance.promoter import Promoter, PromoterConfig
from awa._runtime.maintenance.rescuer import Rescuer, RescuerConfig
from awa._runtime.permits import FixedPermits, Permits, WeightedAllocator, WeightedPermits
from awa._runtime.rate_limit import FleetBucket, TokenBucket
from awa._runtime.reporter import Reporter
from awa._runtime.signals import Signals
from awa._runtime.spec_trace import SpecTrace
from awa._runtime.telemetry import RuntimeTelemetry
from awa._sql import Q
from awa.errors import AwaError

logger = logging.getLogger("awa.runtime")

HOOK_GRACE = 10.0


class Runtime:
    """One worker process's services and jobs. Use ``run()`` in a task group."""

    def __init__(
        self,
        *,
        conninfo: str,
        pool: AsyncPool,
        registry: Registry,
        config: RuntimeConfig,
        signals: Signals | None = None,
        telemetry: RuntimeTelemetry | None = None,
        pgbouncer: bool = False,
    ) -> None:
        self.conninfo = conninfo
        self.telemetry = telemetry
        self.registry = registry
        self.pool = pool
        self.pgbouncer = pgbouncer
        self.instance_id = uuid.uuid4()
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{self.instance_id.hex[:8]}"
        self.signals = signals or Signals()
        self.trace = SpecTrace(config.emit_spec_trace)
        self.state = "new"
        self.started = anyio.Event()
        self.finished = anyio.Event()
        self._stop: anyio.Event | None = None
        self._run_scope: anyio.CancelScope | None = None
        self._build(config)

    def _build(self, config: RuntimeConfig) -> None:
        """Make the services (again, before they start, if LISTEN turns out not to work)."""
        conninfo = self.conninfo
        registry = self.registry
        telemetry = self.telemetry
        self.config = config
        self.db = Db(self.pool)
        self.inflight = InFlight()
        # Without LISTEN (e.g. behind PgBouncer in transaction mode) dispatchers
        # poll and admin cancels reach handlers through the lease fence only.
        self.listener = Listener(ListenerConfig(conninfo=conninfo)) if config.listen else None
        self.hooks = HookRunner(registry)
        self.completer = Completer(
            self.db,
            batch_size=config.completion_batch_size,
            keep_completed=config.keep_completed,
            hooks=self.hooks,
            signals=self.signals,
            trace=self.trace,
            worker=self.worker,
        )
        self.heartbeater = Heartbeater(
            self.db,
            self.inflight,
            interval=config.heartbeat_interval,
            signals=self.signals,
            trace=self.trace,
            worker=self.worker,
            queued=lambda: list(self.completer.pending),
        )
        self.job_services = RuntimeJobServices(
            self.db, listener=self.listener, keep_completed=config.keep_completed
        )
        self.runner = JobRunner(
            registry=registry,
            inflight=self.inflight,
            completer=self.completer,
            services=self.job_services,
            signals=self.signals,
            finalize_timeout=config.finalize_timeout,
            thread_limiter=anyio.CapacityLimiter(
                config.global_max_workers or sum(q.max_workers for q in config.queues)
            ),
            telemetry=telemetry,
        )
        self.promoter = Promoter(
            self.db,
            PromoterConfig(
                batch_size=config.promote_batch_size,
                min_interval=config.promote_interval,
                max_idle=10.0 if config.listen else 1.0,
            ),
            listener=self.listener,
            signals=self.signals,
            trace=self.trace,
        )
        self.rescuer = Rescuer(
            self.db,
            RescuerConfig(
                interval=config.rescue_interval,
                staleness=config.heartbeat_staleness,
                batch_size=config.rescue_batch_size,
            ),
            inflight=self.inflight,
            hooks=self.hooks,
            signals=self.signals,
            trace=self.trace,
        )
        self.cleaner = Cleaner(
            self.db,
            CleanerConfig(
                interval=config.cleanup_interval,
                completed_retention=config.completed_retention,
                failed_retention=config.failed_retention,
                completed_overrides={
                    q.name: q.completed_retention
                    for q in config.queues
                    if q.completed_retention is not None
                },
                failed_overrides={
                    q.name: q.failed_retention
                    for q in config.queues
                    if q.failed_retention is not None
                },
            ),
            signals=self.signals,
        )
        cron_config = CronConfig(sync_interval=config.cron_sync_interval)
        self.cron_sync = CronSync(self.db, registry.periodic, cron_config)
        self.cron = CronScheduler(
            self.db, cron_config, listener=self.listener, signals=self.signals, trace=self.trace
        )
        self.depth = DepthMonitor(
            self.db, interval=config.depth_refresh_interval, signals=self.signals
        )
        self.allocator = (
            WeightedAllocator(config.global_max_workers, config.queues)
            if config.global_max_workers is not None
            else None
        )
        self.ager = PriorityAger(
            self.db,
            AgingConfig(interval=config.aging_interval),
            config.queues,
            signals=self.signals,
        )
        leader_services = [
            self.promoter.run,
            self.rescuer.run,
            self.cleaner.run,
            self.ager.run,
            self.cron.run,
            self.depth.run,
        ]
        gauge_interval = None if telemetry is None else telemetry.gauge_interval
        if gauge_interval is not None:
            gauges = QueueGauges(self.db, interval=gauge_interval, signals=self.signals)
            leader_services.append(gauges.run)
        self.leader = Leader(
            LeaderConfig(
                conninfo=conninfo,
                election_interval=config.leader_election_interval,
                check_interval=config.leader_check_interval,
                transaction_lock=self.pgbouncer,
            ),
            leader_services,
            signals=self.signals,
            trace=self.trace,
            worker=self.worker,
        )
        self.reporter = Reporter(
            self.db, self.instance_id, interval=config.snapshot_interval, snapshot=self.snapshot
        )
        self.health_server = (
            HealthServer(
                host=config.health_host,
                port=config.health_port,
                health=self.health,
                state=lambda: self.state,
            )
            if config.health_port is not None
            else None
        )
        self.dispatchers: dict[str, Dispatcher] = {}
        self._drain_timeout = config.drain_timeout

    def _permits(self, queue: QueueConfig) -> Permits:
        if self.allocator is not None:
            return WeightedPermits(self.allocator, queue.name)
        return FixedPermits(queue.max_workers)

    def _limiter(self, queue: QueueConfig) -> TokenBucket | FleetBucket | None:
        if queue.rate_limit is None:
            return None
        rate, burst = queue.rate_limit
        if queue.rate_limit_scope == "fleet":
            return FleetBucket(self.db, queue.name, rate, burst)
        return TokenBucket(rate, burst)

    # -- lifecycle -------------------------------------------------------

    def request_stop(self, drain_timeout: float | None = None) -> None:
        """Begin the graceful shutdown (returns at once)."""
        if drain_timeout is not None:
            self._drain_timeout = drain_timeout
        if self._stop is not None:
            self._stop.set()
        elif self.state == "new":
            self.state = "stopped"

    def force_stop(self) -> None:
        """Cancel everything now; unfinished jobs are left to be rescued."""
        logger.warning("forced shutdown: cancelling running jobs without handing them back")
        for attempt in self.inflight:
            attempt.abandon_thread()
        if self._run_scope is not None:
            self._run_scope.cancel()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until ``request_stop()`` (graceful) or cancellation (forced)."""
        self._stop = anyio.Event()
        detach = None if self.telemetry is None else self.telemetry.attach(self)
        try:
            with anyio.CancelScope() as self._run_scope:
                if self.state == "stopped":
                    task_status.started()
                    return
                self.state = "starting"
                async with self.pool.connection() as conn:
                    await AsyncExecutor(conn).require_schema()
                await self._check_listen()
                await self._run(task_status)
        finally:
            self.state = "stopped"
            if detach is not None:
                detach()
            self.finished.set()

    async def _check_listen(self) -> None:
        """Fall back to polling when NOTIFY does not reach LISTEN (transaction pooling)."""
        timeout = self.config.listen_probe_timeout
        if not self.config.listen or timeout == 0:
            return
        if await listen_works(self.conninfo, timeout=timeout):
            return
        logger.warning(
            "LISTEN/NOTIFY does not work on this connection (a NOTIFY did not arrive within"
            " %.1fs; PgBouncer in transaction mode?): falling back to polling every"
            " poll_interval. Pass listen=False to skip this check.",
            timeout,
        )
        self.signals.emit("listen_unavailable", worker=self.worker)
        self._build(attrs.evolve(self.config, listen=False))

    async def _run(self, task_status: TaskStatus[None]) -> None:
        """Services up, work, then the shutdown order.

        Spec: AwaShutdown!FlushCompleter
        Spec: AwaShutdown!FinalHeartbeat -- nothing is in flight once the
        completer is flushed; heartbeats end with the services.
        """
        if self.health_server is not None:
            await self.health_server.bind()
        async with anyio.create_task_group() as services:
            if self.health_server is not None:  # first up, last down
                await services.start(self.health_server.run)
            watcher = None
            if self.listener is not None:
                await services.start(self.listener.run)
                watcher = CancelWatcher(
                    self.listener, self.inflight, self.signals, db=self.db, tasks=services
                )
            async with anyio.create_task_group() as hooks:
                self.hooks.attach(hooks)
                await services.start(self.completer.run)
                await services.start(self.heartbeater.run)
                await services.start(self.leader.run)
                await services.start(self.reporter.run)
                await services.start(self.cron_sync.run)
                await self._work(task_status)
                # Spec: AwaShutdown!FlushCompleter -- every outcome is written first.
                self.completer.close()
                await self.completer.finished.wait()
                if watcher is not None:
                    watcher.close()
                with anyio.move_on_after(HOOK_GRACE) as grace:
                    await self.hooks.wait_idle()
                if grace.cancelled_caught:
                    hooks.cancel_scope.cancel()
            # Leadership, LISTEN, heartbeats and the snapshot end with the services.
            services.cancel_scope.cancel()
        logger.info("runtime stopped")

    async def _work(self, task_status: TaskStatus[None]) -> None:
        """Dispatchers and jobs; on stop: stop claiming, drain, hand back the rest.

        Spec: AwaShutdown!StopClaiming
        Spec: AwaShutdown!Drain
        Spec: AwaShutdown!EndDrain
        Spec: AwaShutdown!HandBackRest
        Spec: AwaShutdown!Abandon
        Spec: AwaShutdown!EndHandBack
        """
        assert self._stop is not None
        async with anyio.create_task_group() as jobs:
            async with anyio.create_task_group() as dispatch:
                for queue in self.config.queues:
                    dispatcher = Dispatcher(
                        queue,
                        db=self.db,
                        runner=self.runner,
                        listener=self.listener,
                        jobs=jobs,
                        permits=self._permits(queue),
                        limiter=self._limiter(queue),
                        signals=self.signals,
                        trace=self.trace,
                        worker=self.worker,
                    )
                    if self.allocator is not None:
                        self.allocator.register(queue.name, dispatcher.wake)
                    self.dispatchers[queue.name] = dispatcher
                # All registered before any claims, so weighted shares hold from the start.
                for dispatcher in self.dispatchers.values():
                    await dispatch.start(dispatcher.run)
                self.state = "running"
                self.started.set()
                self.signals.emit("runtime_started", worker=self.worker)
                task_status.started()
                await self._stop.wait()
                # Spec: AwaShutdown!StopClaiming
                self.state = "draining"
                self.signals.emit("draining", worker=self.worker)
                self.reporter.shutting_down = True
                logger.info("shutting down: no more claims; draining %d job(s)", len(self.inflight))
                dispatch.cancel_scope.cancel()
            # Spec: AwaShutdown!Drain -- heartbeats and the completer keep running.
            with anyio.move_on_after(self._drain_timeout):
                await self.inflight.wait_empty()
            if len(self.inflight):
                # Spec: AwaShutdown!HandBackRest
                logger.info("drain timeout: handing back %d job(s)", len(self.inflight))
                self.inflight.cancel_all(SHUTDOWN)
                with anyio.move_on_after(self._drain_timeout) as grace:
                    await self.inflight.wait_empty()
                if grace.cancelled_caught:
                    for attempt in self.inflight:
                        attempt.abandon_thread()

    # -- observation -----------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.leader.is_leader

    def snapshot(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "state": self.state,
            "leader": self.leader.is_leader,
            "queues": [
                {
                    "name": q.name,
                    "in_flight": self.inflight.count(q.name),
                    "max_workers": q.max_workers,
                    "claimed": self.dispatchers[q.name].claimed
                    if q.name in self.dispatchers
                    else 0,
                }
                for q in self.config.queues
            ],
            "completer": {
                "written": self.completer.stats.written,
                "stale": self.completer.stats.stale,
            },
        }

    async def health(self) -> HealthCheck:
        try:
            with anyio.fail_after(5):
                await self.db.one(Q["health_ping"])
            postgres = True
        except (AwaError, TimeoutError):
            postgres = False
        dispatchers = list(self.dispatchers.values())
        running = self.state == "running"
        checks = {
            "postgres_connected": postgres,
            "listener_connected": self.listener is None or self.listener.stats.connected,
            "dispatchers_alive": bool(dispatchers) and all(d.alive for d in dispatchers),
            "heartbeat_alive": self.heartbeater.alive,
            "completer_alive": self.completer.alive,
            "leader_loop_alive": self.leader.alive,
        }
        return HealthCheck(
            healthy=running and all(checks.values()),
            leader=self.leader.is_leader,
            running=running,
            shutting_down=self.state == "draining",
            queues={
                q.name: QueueHealth(
                    in_flight=self.inflight.count(q.name),
                    max_workers=(
                        self.dispatchers[q.name].permits.limit
                        if q.name in self.dispatchers
                        else q.max_workers
                    ),
                    claimed=self.dispatchers[q.name].claimed if q.name in self.dispatchers else 0,
                    dispatcher_alive=q.name in self.dispatchers and self.dispatchers[q.name].alive,
                )
                for q in self.config.queues
            },
            **checks,
        )
