"""Every metric awa records: name, instrument, unit, attributes, meaning.

This table is the single source: the instruments are made from it, the docs
table and the Grafana dashboard are checked against it.
"""

from __future__ import annotations

from typing import Literal

import attrs

# Attribute keys.
QUEUE = "awa.job.queue"
KIND = "awa.job.kind"
OUTCOME = "awa.job.outcome"
STATE = "awa.job.state"
RESCUE_REASON = "awa.rescue.reason"
TASK = "awa.maintenance.task"
CRON_NAME = "awa.cron.name"

Instrument = Literal["counter", "histogram", "observable_updown_counter", "observable_gauge"]

SECONDS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
)  # fmt: skip
SIZE_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0)


@attrs.frozen
class MetricSpec:
    name: str
    instrument: Instrument
    unit: str
    attributes: tuple[str, ...]
    description: str
    buckets: tuple[float, ...] | None = None

    @property
    def prometheus_name(self) -> str:
        """The name the OpenTelemetry Prometheus exporter gives it (without
        ``_bucket``/``_sum``/``_count`` for histograms)."""
        name = self.name.replace(".", "_")
        suffix = {"s": "seconds", "By": "bytes"}.get(self.unit)
        if suffix and not name.endswith("_" + suffix):
            name += "_" + suffix
        if self.instrument == "counter":
            name += "_total"
        return name


_JOB = (QUEUE, KIND)

METRICS: tuple[MetricSpec, ...] = (
    # -- job lifecycle ---------------------------------------------------
    MetricSpec("awa.job.inserted", "counter", "{job}", _JOB,
               "Jobs inserted (client, transaction, insert_many/COPY, bridges)."),
    MetricSpec("awa.job.claimed", "counter", "{job}", (QUEUE,),
               "Jobs claimed by this process's dispatchers."),
    MetricSpec("awa.job.completed", "counter", "{job}", _JOB,
               "Attempts that completed (outcome written)."),
    MetricSpec("awa.job.failed", "counter", "{job}", _JOB,
               "Attempts that failed for good (terminal error or attempts used up)."),
    MetricSpec("awa.job.retried", "counter", "{job}", _JOB,
               "Attempts that raised or returned RetryAfter and will run again."),
    MetricSpec("awa.job.cancelled", "counter", "{job}", _JOB,
               "Attempts whose handler returned Cancel."),
    MetricSpec("awa.job.snoozed", "counter", "{job}", _JOB,
               "Attempts whose handler returned Snooze."),
    MetricSpec("awa.job.parked", "counter", "{job}", _JOB,
               "Attempts parked to wait for an external callback (WaitForCallback)."),
    MetricSpec("awa.job.handed_back", "counter", "{job}", _JOB,
               "Attempts handed back unfinished at shutdown (available again at once)."),
    MetricSpec("awa.job.rescued", "counter", "{job}", (*_JOB, RESCUE_REASON, STATE),
               "Jobs rescued by the leader: reason heartbeat (stale), deadline or"
               " callback_timeout; state retryable, or failed when attempts ran out."),
    MetricSpec("awa.job.stale", "counter", "{job}", _JOB,
               "Outcomes refused by the lease fence (the job was rescued, cancelled"
               " or claimed again meanwhile)."),
    MetricSpec("awa.job.lease_lost", "counter", "{job}", (QUEUE,),
               "Running attempts whose heartbeat found the lease gone (handler cancelled)."),
    MetricSpec("awa.job.duration", "histogram", "s", (*_JOB, OUTCOME),
               "Handler time of one attempt, by outcome.", SECONDS_BUCKETS),
    MetricSpec("awa.job.wait_duration", "histogram", "s", (QUEUE,),
               "From due (run_at) to claimed, by the database clock.", SECONDS_BUCKETS),
    MetricSpec("awa.job.in_flight", "observable_updown_counter", "{job}", (QUEUE,),
               "Attempts running in this process now."),
    # -- queues (published by the leader only) ---------------------------
    MetricSpec("awa.queue.depth", "observable_gauge", "{job}", (QUEUE, STATE),
               "Jobs per queue and live state (available, running, waiting_external,"
               " scheduled, retryable); published by the leader."),
    MetricSpec("awa.queue.lag", "observable_gauge", "s", (QUEUE,),
               "Age of the queue's oldest due available job (0 when none);"
               " published by the leader."),
    # -- dispatch --------------------------------------------------------
    MetricSpec("awa.dispatch.claim_batch_size", "histogram", "{job}", (QUEUE,),
               "Jobs per claim statement (0 for an empty claim).", SIZE_BUCKETS),
    MetricSpec("awa.dispatch.claim_duration", "histogram", "s", (QUEUE,),
               "Time of one claim statement.", SECONDS_BUCKETS),
    MetricSpec("awa.dispatch.rate_limited", "counter", "{event}", (QUEUE,),
               "Claims skipped because the queue's rate limit had no token."),
    # -- completion and heartbeat ----------------------------------------
    MetricSpec("awa.completion.flush_batch_size", "histogram", "{outcome}", (),
               "Outcomes written per completer flush.", SIZE_BUCKETS),
    MetricSpec("awa.completion.flush_duration", "histogram", "s", (),
               "Time of one completer flush.", SECONDS_BUCKETS),
    MetricSpec("awa.heartbeat.batches", "counter", "{batch}", (),
               "Heartbeat statements written (one per up to 500 running jobs)."),
    # -- maintenance (leader) --------------------------------------------
    MetricSpec("awa.maintenance.duration", "histogram", "s", (TASK,),
               "Time of one pass of a leader task (promote, rescue, cleanup, aging,"
               " cron, queue_depth, queue_gauges).", SECONDS_BUCKETS),
    MetricSpec("awa.maintenance.promoted", "counter", "{job}", (),
               "Scheduled and retryable jobs made available when due."),
    MetricSpec("awa.maintenance.promotion_lateness", "histogram", "s", (),
               "Per promotion pass that promoted jobs: how late the latest-promoted"
               " job was (now - run_at).", SECONDS_BUCKETS),
    MetricSpec("awa.cron.fired", "counter", "{job}", (CRON_NAME,),
               "Periodic jobs enqueued by the leader's cron scheduler."),
)  # fmt: skip

BY_NAME = {m.name: m for m in METRICS}
