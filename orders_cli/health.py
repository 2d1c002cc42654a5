"""`orders health`: whether the system is healthy, and if not, each reason by name.

Asks the server alone, never a worker, and never starts the embedded server: a health
check that started what it checks would always say healthy. Every check is a count or a
bounded listing, so it costs the same over ten orders and over a hundred thousand.

Each check fills its own section: one that needs a search attribute the namespace lacks
is skipped with a note, one that fails is a reason of its own, and the rest are still
reported. Exit 0 healthy; 1 degraded (each reason named); 3 Temporal unreachable (after
ORDERS_CONNECT_TIMEOUT, 10 s by default), as for every program.
"""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    GetSystemInfoRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from activities import LedgerDatabase, LedgerError
from connection import (
    TemporalUnavailable,
    call_timeout,
    connect,
    is_temporal_cloud,
    search_attribute_commands,
    silence_of,
)
from contract import ORDER_STATUS, ORDER_UPDATED_AT, SEARCH_ATTRIBUTES, TASK_QUEUE, WORKFLOW_TYPE, as_text, order_id_of
from eventstore import ArchiveError, open_archive, unarchived_closed_before
from hosting import live_pollers
from orders_cli.arguments import Subcommands
from orders_cli.deploying import describe_deployment
from orders_cli.health_report import (
    ArchiveSection,
    AwaitingApproval,
    Backlog,
    Build,
    CountedOrders,
    Deployment,
    HealthReport,
    LedgerSection,
    Namespace,
    Oldest,
    Projector,
    Running,
    SearchAttributes,
    Section,
    Server,
    TaskBacklog,
    Workers,
)
from orders_cli.sources import first_line
from programs import ExitCode
from projections import ProjectionError, lag, open_read_models
from storage import DatabaseError, where_of

NO_WORKER = f"no worker polling {TASK_QUEUE}"
_REPORTED_PROBLEMS = "TemporalReportedProblems"
_RUNNING = f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus='Running'"
_AWAITING_APPROVAL = "PaymentPending"
_LISTED = 10  # order ids named under a reason, at most
# Closed orders not archived this close to their deletion by retention are a reason.
_ARCHIVE_WARNING = timedelta(days=1)


async def health_command(args: argparse.Namespace) -> int:
    settings = args.settings
    report = HealthReport(status="healthy", reasons=[], server=Server(address=settings.address))
    try:
        client = await connect(settings)
        checkup = await _Checkup.of(client, report, args)
        await checkup.run()
    except TemporalUnavailable as err:
        _unreachable(report, str(err), args.json)
        raise
    except RPCError as err:
        silent = silence_of(err, settings)
        _unreachable(
            report,
            str(silent) if silent else f"Temporal at {settings.address} failed a check: {err.message}",
            args.json,
        )
        raise silent or TemporalUnavailable(report.reasons[0]) from None
    await checkup.section("archive", ArchiveSection, lambda: _archive(client, settings.archive, checkup))
    report.ledger = await asyncio.to_thread(_ledger, settings.ledger, checkup)
    projections = settings.projections
    if not isinstance(projections, Path) or projections.exists():
        await checkup.section("projector", Projector, lambda: _read_models(client, projections, checkup), needs=_CLOCK)
    else:
        report.projector = Projector(read_models=None, note="no read models here: the projector has not run")
    if report.reasons:
        report.status = "degraded"
    _print(report, args.json)
    return ExitCode.FAILED if report.reasons else ExitCode.OK


def _unreachable(report: HealthReport, reason: str, as_json: bool) -> None:
    """The report of a Temporal that does not answer, printed as any report is; the runner
    then says why in one line and exits 3."""
    report.status, report.reasons = "unreachable", [reason]
    report.server.reachable = False
    _print(report, as_json)


# The checks that filter by a search attribute, and the attributes each needs.
_CLOCK = (ORDER_UPDATED_AT,)
_STATUS_AND_CLOCK = (ORDER_STATUS, ORDER_UPDATED_AT)


@dataclass
class _Checkup:
    """Each check fills a section of the report and names its reasons; a check that needs
    a search attribute the namespace lacks is skipped with a note, one that fails is a
    reason of its own, and the others are still reported. Only a server that stops
    answering ends the checkup (unreachable)."""

    client: Client
    report: HealthReport
    args: argparse.Namespace
    missing: set[str]
    reports_problems: bool  # the server has the TemporalReportedProblems search attribute

    @classmethod
    async def of(cls, client: Client, report: HealthReport, args: argparse.Namespace) -> "_Checkup":
        timeout = call_timeout(client)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timeout)
        report.server.reachable, report.server.version = True, info.server_version
        # One listing: ours that are missing, and whether the server reports failing tasks.
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace), timeout=timeout
        )
        missing = [key.name for key in SEARCH_ATTRIBUTES if key.name not in listed.custom_attributes]
        registered = [key.name for key in SEARCH_ATTRIBUTES if key.name not in missing]
        report.search_attributes = SearchAttributes(registered=registered, missing=missing)
        if missing:
            absent = [key for key in SEARCH_ATTRIBUTES if key.name in missing]
            commands = search_attribute_commands(
                absent, client.namespace, cloud=is_temporal_cloud(report.server.address)
            )
            report.search_attributes.create_with = commands
            report.reasons.append(
                f"search attributes not registered: {', '.join(missing)} (every order publishes them, so its "
                f"workflow tasks fail without them); create them with: {' && '.join(commands)}"
            )
        return cls(client, report, args, set(missing), _REPORTED_PROBLEMS in listed.system_attributes)

    @property
    def reasons(self) -> list[str]:
        return self.report.reasons

    async def run(self) -> None:
        await self.section("namespace", Namespace, self._namespace)
        await self.section("workers", Workers, self._workers)
        await self.section("deployment", Deployment, self._deployment, needs=(ORDER_STATUS,))
        await self.section("backlog", Backlog, self._backlog)
        await self.section("failing_workflow_tasks", CountedOrders, self._failing)
        await self.section("awaiting_approval", AwaitingApproval, self._awaiting_approval, needs=_STATUS_AND_CLOCK)
        await self.section("running", Running, lambda: _running(self.client))

    async def section(
        self,
        name: str,
        kind: type[Section],
        check: Callable[[], Awaitable[Section]],
        needs: Sequence[SearchAttributeKey[Any]] = (),
    ) -> None:
        lacking = [key.name for key in needs if key.name in self.missing]
        if lacking:
            setattr(
                self.report, name, kind(skipped=f"needs the search attribute(s) {', '.join(lacking)}, not registered")
            )
            return
        try:
            setattr(self.report, name, await check())
        except RPCError as err:
            if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
            setattr(self.report, name, kind(error=err.message))
            self.reasons.append(f"{name.replace('_', ' ')} could not be checked: {err.message}")

    async def _namespace(self) -> Namespace:
        described = await self.client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=self.client.namespace), timeout=call_timeout(self.client)
        )
        return Namespace(
            name=self.client.namespace,
            state=described.namespace_info.state,
            retention_days=described.config.workflow_execution_retention_ttl.ToTimedelta().days,
        )

    async def _workers(self) -> Workers:
        pollers = await live_pollers(self.client, TASK_QUEUE)
        if not pollers:
            self.reasons.append(NO_WORKER)
        return Workers(
            polling=len(pollers),
            last_seen=max(pollers.values()).isoformat() if pollers else None,
            identities=sorted(pollers)[:_LISTED],
        )

    async def _deployment(self) -> Deployment:
        """Under Worker Versioning: a build that holds open orders, or takes new ones, with
        no worker polling: those orders wait until one of its workers runs."""
        deployment = await describe_deployment(self.client, self.args.settings.deployment)
        versioned = [build for build in deployment.builds if build.build_id is not None]
        for build in versioned:
            if build.workers:
                continue
            if build.open_orders:
                self.reasons.append(
                    f"build {build.build_id!r} holds {build.open_orders} open order(s) but no worker of it polls"
                    f" {TASK_QUEUE}: they wait until one does (python worker.py --build-id {build.build_id})"
                )
            elif build.routing is not None:
                self.reasons.append(
                    f"build {build.build_id!r} is {build.routing} but no worker of it polls {TASK_QUEUE}:"
                    f" the new orders it is sent wait (python worker.py --build-id {build.build_id})"
                )
        return Deployment(
            name=deployment.name,
            builds=[
                Build(build_id=b.build_id, state=b.state, workers=b.workers, open_orders=b.open_orders)
                for b in versioned
            ],
        )

    async def _backlog(self) -> Backlog:
        backlog = await _backlog(self.client)
        age = backlog.workflow_tasks.age_seconds if backlog.workflow_tasks else 0.0
        if age > self.args.backlog_warning:
            self.reasons.append(
                f"workflow tasks waiting {age:.0f} s for a worker (more than {self.args.backlog_warning:g} s)"
            )
        return backlog

    async def _failing(self) -> CountedOrders:
        if not self.reports_problems:
            return CountedOrders(count=None, note=f"this server has no {_REPORTED_PROBLEMS}")
        failing = await _count_and_name(self.client, f"{_RUNNING} AND {_REPORTED_PROBLEMS} IS NOT NULL")
        if failing.count:
            self.reasons.append(f"{failing.count} order(s) with a failing workflow task: {', '.join(failing.orders)}")
        return failing

    async def _awaiting_approval(self) -> AwaitingApproval:
        threshold = self.args.approval_warning
        waiting_since = as_text(datetime.now(UTC) - timedelta(seconds=threshold))
        awaiting = f"{_RUNNING} AND {ORDER_STATUS.name}='{_AWAITING_APPROVAL}'"
        long_waits = await _count_and_name(
            self.client,
            f"{awaiting} AND ({ORDER_UPDATED_AT.name} < '{waiting_since}' "
            f"OR ({ORDER_UPDATED_AT.name} IS NULL AND StartTime < '{waiting_since}'))",
        )
        if long_waits.count:
            self.reasons.append(
                f"{long_waits.count} order(s) waiting for approval longer than {threshold:g} s: "
                f"{', '.join(long_waits.orders)}"
            )
        return AwaitingApproval(
            count=(await self.client.count_workflows(awaiting)).count,
            longer_than_threshold=long_waits.count,
            threshold_seconds=threshold,
            orders=long_waits.orders,
        )


async def _backlog(client: Client) -> Backlog:
    """Tasks waiting for a worker, of each kind, and how long the oldest has waited."""
    backlog = Backlog()
    for name, kind in (
        ("workflow_tasks", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        ("activity_tasks", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=TASK_QUEUE),
                task_queue_type=kind,
                report_stats=True,
            ),
            timeout=call_timeout(client),
        )
        stats = described.stats
        waiting = TaskBacklog(
            count=stats.approximate_backlog_count,
            age_seconds=stats.approximate_backlog_age.ToTimedelta().total_seconds(),
        )
        setattr(backlog, name, waiting)
    return backlog


async def _count_and_name(client: Client, query: str) -> CountedOrders:
    count = await client.count_workflows(query)
    orders = (
        [order_id_of(execution.id) or execution.id async for execution in client.list_workflows(query, limit=_LISTED)]
        if count.count
        else []
    )
    return CountedOrders(count=count.count, orders=orders)


async def _running(client: Client) -> Running:
    """How many orders run, and the oldest of them: visibility on SQL servers cannot
    order by start time, so the oldest start is found by counting, halving the window
    each time (some forty counts however many orders run), then listing the few left."""
    running = (await client.count_workflows(_RUNNING)).count
    if not running:
        return Running(count=0, oldest=None)
    now = datetime.now(UTC)

    async def any_started_before(at: datetime) -> bool:
        return (await client.count_workflows(f"{_RUNNING} AND StartTime < '{as_text(at)}'")).count > 0

    reach = timedelta(minutes=1)
    while reach < timedelta(days=3650) and await any_started_before(now - reach):
        reach *= 2
    newer, older = now - reach / 2 if reach > timedelta(minutes=1) else now, now - reach
    while newer - older > timedelta(seconds=1):
        middle = older + (newer - older) / 2
        if await any_started_before(middle):
            newer = middle
        else:
            older = middle
    candidates = [
        execution
        async for execution in client.list_workflows(f"{_RUNNING} AND StartTime < '{as_text(newer)}'", limit=100)
    ]
    oldest = min(candidates, key=lambda execution: execution.start_time, default=None)
    if oldest is None:
        return Running(count=running, oldest=None)
    started = Oldest(
        order_id=order_id_of(oldest.id) or oldest.id,
        started_at=oldest.start_time.isoformat(),
        running_seconds=round((now - oldest.start_time).total_seconds(), 1),
    )
    return Running(count=running, oldest=started)


async def _read_models(client: Client, projections: Path | str, checkup: _Checkup) -> Projector:
    """The projector's lag; read models that cannot be opened are a reason like any other."""
    where = where_of(projections)
    try:
        models = await open_read_models(client, projections, writing=False)
        behind = await lag(client, models)
    except DatabaseError as err:
        checkup.reasons.append(f"read models unreachable: {where}: {first_line(err)}")
        return Projector(read_models=where, error=first_line(err))
    except ProjectionError as err:
        checkup.reasons.append(f"read models unusable: {err}")
        return Projector(read_models=where, error=str(err))
    if behind.seconds > checkup.args.lag_warning:
        checkup.reasons.append(
            f"read models {behind.seconds:.0f} s behind the histories ({behind.orders} order(s), "
            f"{behind.events} event(s)): is `orders projector` running?"
        )
    return Projector(
        read_models=models.where,
        orders_behind=behind.orders,
        events_behind=behind.events,
        seconds_behind=round(behind.seconds, 1),
        caught_up_at=behind.caught_up_at.isoformat() if behind.caught_up_at else None,
    )


async def _archive(client: Client, target: Path | str, checkup: _Checkup) -> ArchiveSection:
    """Closed orders whose histories Temporal deletes within a day (their retention ends)
    and that the archive lacks: after that they are gone for good."""
    namespace = checkup.report.namespace
    if namespace is None or namespace.retention_days is None:
        return ArchiveSection(skipped="the namespace's retention could not be read")
    retention_days = namespace.retention_days
    where = where_of(target)
    try:
        archive = await asyncio.to_thread(open_archive, target)
        archived = await asyncio.to_thread(archive.count) if archive else 0
        horizon = datetime.now(UTC) - timedelta(days=retention_days) + _ARCHIVE_WARNING
        at_risk = await unarchived_closed_before(client, archive, horizon)
    except DatabaseError as err:
        checkup.reasons.append(f"archive unreachable: {where}: {first_line(err)}")
        return ArchiveSection(archive=where, error=first_line(err))
    except ArchiveError as err:
        checkup.reasons.append(f"archive unreadable: {err}")
        return ArchiveSection(archive=where, error=str(err))
    if at_risk:
        checkup.reasons.append(
            f"{at_risk} closed order(s) not archived, whose histories Temporal deletes within"
            f" {_ARCHIVE_WARNING.days} day (retention {retention_days} days): run `orders archive`"
        )
    return ArchiveSection(archive=where, archived=archived, unarchived_within_a_day_of_deletion=at_risk)


def _ledger(target: Path | str, checkup: "_Checkup") -> LedgerSection:
    """The ledger, named, and whether it can be read: one no worker has used yet is a note,
    one that cannot be read (unreachable, damaged, another program's) a reason."""
    where = where_of(target)
    if isinstance(target, Path) and not target.exists():
        return LedgerSection(ledger=where, note="no worker has used it yet")
    try:
        ledger = LedgerDatabase(target, read_only=True)
    except LedgerError as err:
        checkup.reasons.append(f"ledger unusable: {err}")
        return LedgerSection(ledger=where, error=str(err))
    try:
        return LedgerSection(ledger=where, payments=int(ledger.rows("SELECT COUNT(*) FROM payments")[0][0]))
    except DatabaseError as err:
        checkup.reasons.append(f"ledger unreadable: {where}: {first_line(err)}")
        return LedgerSection(ledger=where, error=first_line(err))
    finally:
        ledger.close()


def _print(report: HealthReport, as_json: bool) -> None:
    if as_json:
        print(report.to_json())
        return
    print(f"{report.status.upper()}", file=sys.stdout)
    for reason in report.reasons:
        print(f"  - {reason}")
    if report.server.reachable:
        print(f"server     {report.server.address}, Temporal {report.server.version or '?'}")
    sections: list[tuple[str, Section | None]] = [
        ("namespace", report.namespace), ("workers", report.workers), ("builds", report.deployment),
        ("backlog", report.backlog), ("approvals", report.awaiting_approval), ("running", report.running),
        ("projector", report.projector), ("archive", report.archive), ("ledger", report.ledger),
    ]  # fmt: skip
    for label, section in sections:
        if section is None:
            continue
        if section.skipped is not None or section.error is not None:
            print(f"{label:<10} {'skipped: ' + section.skipped if section.skipped is not None else section.error}")
        else:
            print(f"{label:<10} {_line(section)}")


def _line(section: Section) -> str:
    """A checked section in one line of text."""
    match section:
        case Namespace(name=name, retention_days=days):
            return f"{name} (retention {_days(days or 0)})"
        case Workers(polling=polling, last_seen=last_seen):
            return f"{polling} polling {TASK_QUEUE}, last seen {last_seen or 'never'}"
        case Deployment():
            return _builds(section)
        case Backlog(workflow_tasks=TaskBacklog() as workflow, activity_tasks=TaskBacklog() as activity):
            oldest = f"oldest {workflow.age_seconds:.1f} s"
            return f"{workflow.count} workflow task(s), {oldest}; {activity.count} activity task(s)"
        case AwaitingApproval(count=count, longer_than_threshold=longer, threshold_seconds=threshold):
            return f"{count} waiting, {longer} for longer than {threshold or 0:g} s"
        case Running():
            return _oldest(section)
        case Projector():
            return _projector(section)
        case ArchiveSection(archive=where, archived=archived, unarchived_within_a_day_of_deletion=at_risk):
            return f"{archived} order(s) in {where}; {at_risk} closed order(s) not archived within a day of deletion"
        case LedgerSection(ledger=where, payments=payments, note=note):
            return f"{where}: {note}" if note else f"{where}: {payments} payment(s)"
    return ""


def _oldest(running: Running) -> str:
    oldest = running.oldest
    since = f", the oldest {oldest.order_id} for {oldest.running_seconds:.0f} s" if oldest else ""
    return f"{running.count} order(s){since}"


def _builds(deployment: Deployment) -> str:
    if not deployment.builds:
        return f"unversioned (no build of deployment {deployment.name} has polled)"
    return "; ".join(
        f"{b.build_id} {b.state}, {b.workers} worker(s), {b.open_orders} open order(s)" for b in deployment.builds
    )


def _projector(projector: Projector) -> str:
    if not projector.read_models:
        return str(projector.note)
    return f"{projector.orders_behind} order(s), {projector.seconds_behind} s behind ({projector.read_models})"


def _days(days: int) -> str:
    return f"{days} days, {days / 365:.0f} years" if days >= 365 else f"{days} days"


def register(commands: Subcommands) -> None:
    health = commands.add(
        "health",
        health_command,
    )
    health.add_argument(
        "--approval-warning",
        type=float,
        default=3600,
        metavar="S",
        help="orders waiting for approval longer than this are a reason (default 3600 s)",
    )
    health.add_argument(
        "--backlog-warning",
        type=float,
        default=60,
        metavar="S",
        help="workflow tasks waiting longer than this for a worker are a reason (default 60 s)",
    )
    health.add_argument(
        "--lag-warning",
        type=float,
        default=60,
        metavar="S",
        help="read models further behind than this are a reason (default 60 s)",
    )
