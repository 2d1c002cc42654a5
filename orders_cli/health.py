"""`orders health`: whether the system is healthy, and if not, each reason by name.

Asks the server alone, never a worker, and never starts the embedded server: a health
check that started what it checks would always say healthy. Every check is a count or a
bounded listing, so it costs the same over ten orders and over a hundred thousand.

Exit 0 healthy; 1 degraded (each reason named); 2 Temporal unreachable (after
ORDERS_CONNECT_TIMEOUT, 10 s by default).
"""

import argparse
import json
import sys
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
from temporalio.service import RPCError

from connection import TemporalUnavailable, load_settings
from connection.deadlines import call_timeout
from connection.temporal import connect, live_pollers
from contract import ORDER_STATUS, ORDER_UPDATED_AT, SEARCH_ATTRIBUTES, TASK_QUEUE, WORKFLOW_TYPE, order_id_of
from projections import ReadModels, lag

EXIT_HEALTHY, EXIT_DEGRADED, EXIT_UNREACHABLE = 0, 1, 2
NO_WORKER = f"no worker polling {TASK_QUEUE}"
_REPORTED_PROBLEMS = "TemporalReportedProblems"
_RUNNING = f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus='Running'"
_AWAITING_APPROVAL = "PaymentPending"
_LISTED = 10  # order ids named under a reason, at most


async def health_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    report: dict[str, Any] = {"status": "healthy", "reasons": [], "server": {"address": settings.address}}
    try:
        client = await connect(settings)
    except TemporalUnavailable as err:
        report.update(status="unreachable", reasons=[str(err)])
        report["server"]["reachable"] = False
        _print(report, args.json)
        return EXIT_UNREACHABLE
    try:
        await _check(client, report, args)
    except RPCError as err:
        report.update(status="unreachable", reasons=[f"Temporal at {settings.address} failed a check: {err.message}"])
        _print(report, args.json)
        return EXIT_UNREACHABLE
    projections = settings.projections
    if not isinstance(projections, Path) or projections.exists():
        await _check_the_read_models(client, ReadModels(projections), report, args.lag_warning)
    else:
        report["projector"] = {"read_models": None, "note": "no read models here: the projector has not run"}
    if report["reasons"]:
        report["status"] = "degraded"
    _print(report, args.json)
    return EXIT_DEGRADED if report["reasons"] else EXIT_HEALTHY


async def _check(client: Client, report: dict[str, Any], args: argparse.Namespace) -> None:
    reasons: list[str] = report["reasons"]
    timeout = call_timeout(client)
    service = client.workflow_service
    info = await service.get_system_info(GetSystemInfoRequest(), timeout=timeout)
    report["server"].update(reachable=True, version=info.server_version)

    namespace = await service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace), timeout=timeout)
    report["namespace"] = {
        "name": client.namespace,
        "state": namespace.namespace_info.state,
        "retention_days": namespace.config.workflow_execution_retention_ttl.ToTimedelta().days,
    }

    attributes = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace), timeout=timeout
    )
    missing = [key.name for key in SEARCH_ATTRIBUTES if key.name not in attributes.custom_attributes]
    report["search_attributes"] = {
        "registered": [key.name for key in SEARCH_ATTRIBUTES if key.name not in missing],
        "missing": missing,
    }
    if missing:
        reasons.append(f"search attributes not registered: {', '.join(missing)}")

    pollers = await live_pollers(client, TASK_QUEUE)
    report["workers"] = {
        "polling": len(pollers),
        "last_seen": max(pollers.values()).isoformat() if pollers else None,
        "identities": sorted(pollers)[:_LISTED],
    }
    if not pollers:
        reasons.append(NO_WORKER)

    report["backlog"] = await _backlog(client)
    age = report["backlog"]["workflow_tasks"]["age_seconds"]
    if age > args.backlog_warning:
        reasons.append(f"workflow tasks waiting {age:.0f} s for a worker (more than {args.backlog_warning:g} s)")

    if _REPORTED_PROBLEMS in attributes.system_attributes:
        failing = await _count_and_name(client, f"{_RUNNING} AND {_REPORTED_PROBLEMS} IS NOT NULL")
        report["failing_workflow_tasks"] = failing
        if failing["count"]:
            reasons.append(f"{failing['count']} order(s) with a failing workflow task: {', '.join(failing['orders'])}")
    else:
        report["failing_workflow_tasks"] = {"count": None, "note": f"this server has no {_REPORTED_PROBLEMS}"}

    waiting_since = datetime.now(UTC) - timedelta(seconds=args.approval_warning)
    long_waits = await _count_and_name(
        client,
        f"{_RUNNING} AND {ORDER_STATUS.name}='{_AWAITING_APPROVAL}' AND "
        f"({ORDER_UPDATED_AT.name} < '{_at(waiting_since)}' "
        f"OR ({ORDER_UPDATED_AT.name} IS NULL AND StartTime < '{_at(waiting_since)}'))",
    )
    awaiting = await client.count_workflows(f"{_RUNNING} AND {ORDER_STATUS.name}='{_AWAITING_APPROVAL}'")
    report["awaiting_approval"] = {
        "count": awaiting.count,
        "longer_than_threshold": long_waits["count"],
        "threshold_seconds": args.approval_warning,
        "orders": long_waits["orders"],
    }
    if long_waits["count"]:
        reasons.append(
            f"{long_waits['count']} order(s) waiting for approval longer than {args.approval_warning:g} s: "
            f"{', '.join(long_waits['orders'])}"
        )

    report["running"] = await _running(client)


async def _backlog(client: Client) -> dict[str, Any]:
    """Tasks waiting for a worker, of each kind, and how long the oldest has waited."""
    backlog: dict[str, Any] = {}
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
        backlog[name] = {
            "count": stats.approximate_backlog_count,
            "age_seconds": stats.approximate_backlog_age.ToTimedelta().total_seconds(),
        }
    return backlog


async def _count_and_name(client: Client, query: str) -> dict[str, Any]:
    count = await client.count_workflows(query)
    orders = (
        [order_id_of(execution.id) or execution.id async for execution in client.list_workflows(query, limit=_LISTED)]
        if count.count
        else []
    )
    return {"count": count.count, "orders": orders}


async def _running(client: Client) -> dict[str, Any]:
    """How many orders run, and the oldest of them: visibility on SQL servers cannot
    order by start time, so the oldest start is found by counting, halving the window
    each time (some forty counts however many orders run), then listing the few left."""
    running = (await client.count_workflows(_RUNNING)).count
    if not running:
        return {"count": 0, "oldest": None}
    now = datetime.now(UTC)

    async def any_started_before(at: datetime) -> bool:
        return (await client.count_workflows(f"{_RUNNING} AND StartTime < '{_at(at)}'")).count > 0

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
        execution async for execution in client.list_workflows(f"{_RUNNING} AND StartTime < '{_at(newer)}'", limit=100)
    ]
    oldest = min(candidates, key=lambda execution: execution.start_time, default=None)
    if oldest is None:
        return {"count": running, "oldest": None}
    return {
        "count": running,
        "oldest": {
            "order_id": order_id_of(oldest.id) or oldest.id,
            "started_at": oldest.start_time.isoformat(),
            "running_seconds": round((now - oldest.start_time).total_seconds(), 1),
        },
    }


async def _check_the_read_models(
    client: Client, models: ReadModels, report: dict[str, Any], lag_warning: float
) -> None:
    behind = await lag(client, models)
    report["projector"] = {
        "read_models": models.where,
        "orders_behind": behind.orders,
        "events_behind": behind.events,
        "seconds_behind": round(behind.seconds, 1),
        "caught_up_at": behind.caught_up_at.isoformat() if behind.caught_up_at else None,
    }
    if behind.seconds > lag_warning:
        report["reasons"].append(
            f"read models {behind.seconds:.0f} s behind the histories ({behind.orders} order(s), "
            f"{behind.events} event(s)): is `orders projector` running?"
        )


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    print(f"{report['status'].upper()}", file=sys.stdout)
    for reason in report["reasons"]:
        print(f"  - {reason}")
    server = report["server"]
    if server.get("reachable"):
        print(f"server     {server['address']}, Temporal {server.get('version', '?')}")
    if namespace := report.get("namespace"):
        print(f"namespace  {namespace['name']} (retention {namespace['retention_days']} days)")
    if workers := report.get("workers"):
        print(f"workers    {workers['polling']} polling {TASK_QUEUE}, last seen {workers['last_seen'] or 'never'}")
    if backlog := report.get("backlog"):
        tasks = backlog["workflow_tasks"]
        print(
            f"backlog    {tasks['count']} workflow task(s), oldest {tasks['age_seconds']:.1f} s; "
            f"{backlog['activity_tasks']['count']} activity task(s)"
        )
    if waiting := report.get("awaiting_approval"):
        print(
            f"approvals  {waiting['count']} waiting, {waiting['longer_than_threshold']} for longer than "
            f"{waiting['threshold_seconds']:g} s"
        )
    if running := report.get("running"):
        oldest = running["oldest"]
        since = f", the oldest {oldest['order_id']} for {oldest['running_seconds']:.0f} s" if oldest else ""
        print(f"running    {running['count']} order(s){since}")
    if projector := report.get("projector"):
        if projector.get("read_models"):
            print(
                f"projector  {projector['orders_behind']} order(s), {projector['seconds_behind']} s behind "
                f"({projector['read_models']})"
            )
        else:
            print(f"projector  {projector['note']}")


def add_health_arguments(health: argparse.ArgumentParser) -> None:
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
