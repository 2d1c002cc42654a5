"""`orders deploy` and `orders deployments`: new workflow code without breaking open orders.

Workers started with `--build-id` are versions of the Worker Deployment ORDERS_DEPLOYMENT
(`orders`). The server sends new orders to the deployment's current build (and a ramp's
share to the ramping one); each order stays on the build that started it until it ends
(workflows.order_workflow.VERSIONING_BEHAVIOR). A build that is neither current nor
ramping and holds no open order has drained: its workers can be stopped.
"""

import argparse
import json
import shlex
import sys
from dataclasses import asdict, dataclass, field

from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

import views
from connection import call_timeout
from contract import TASK_QUEUE, WORKFLOW_TYPE
from domain import OrderStatus
from hosting import live_builds
from orders_cli.arguments import Subcommands
from orders_cli.sources import temporal
from programs import CommandError, ExitCode, percentage
from programs import build_id as a_build_id

_OPEN = f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus='Running'"


class DeployRefused(CommandError):
    """A deploy that would strand orders; the message says why and what to do."""


@dataclass
class Build:
    build_id: str | None  # None: the orders and workers that run unversioned
    routing: str | None  # "current", "ramping", or None: no new orders go to it
    ramp_percent: float | None
    workers: int
    open_orders: int
    by_status: dict[str, int] = field(default_factory=dict)
    ever_routed: bool = True  # False: never current nor ramping (the server's INACTIVE)

    @property
    def state(self) -> str:
        """current, ramping; draining (open orders left), drained (none: stop its
        workers); inactive (never sent orders); or unversioned."""
        if self.build_id is None:
            return "unversioned"
        if self.routing is not None:
            return self.routing
        if self.open_orders:
            return "draining"
        return "drained" if self.ever_routed else "inactive"


@dataclass
class Deployment:
    name: str
    current: str | None
    ramping: str | None
    ramp_percent: float | None
    builds: list[Build]


async def describe_deployment(client: Client, name: str) -> Deployment:
    """Every build the server knows of deployment `name`, and the unversioned ones."""
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name),
            timeout=call_timeout(client),
        )
        info = described.worker_deployment_info
        routing = info.routing_config
        current = routing.current_deployment_version.build_id or None
        ramping = routing.ramping_deployment_version.build_id or None
        percent = routing.ramping_version_percentage if ramping else None
        build_ids = [summary.deployment_version.build_id for summary in info.version_summaries]
        inactive = {
            summary.deployment_version.build_id
            for summary in info.version_summaries
            if summary.status == WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE
        }
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        current = ramping = None
        percent = None
        build_ids, inactive = [], set()
    workers = await live_builds(client, TASK_QUEUE, name)
    # A build polling before the server lists it (a moment after it starts) is new.
    polling = sorted(build for build in workers if build is not None and build not in build_ids)
    build_ids, inactive = [*build_ids, *polling], inactive | set(polling)
    builds = []
    for build_id in [*build_ids, None]:
        routed = (
            None
            if build_id is None
            else "current"
            if build_id == current
            else "ramping"
            if build_id == ramping
            else None
        )
        where = (
            f"TemporalWorkerDeploymentVersion='{name}:{build_id}'"
            if build_id is not None
            else "TemporalWorkerDeploymentVersion IS NULL"
        )
        by_status = await _open_by_status(client, f"{_OPEN} AND {where}")
        builds.append(
            Build(
                build_id,
                routed,
                percent if routed == "ramping" else None,
                workers.get(build_id, 0),
                sum(by_status.values()),
                by_status,
                ever_routed=build_id not in inactive,
            )
        )
    return Deployment(name, current, ramping, percent, builds)


async def _open_by_status(client: Client, query: str) -> dict[str, int]:
    """The open orders `query` selects, counted by the status they published."""
    total = (await client.count_workflows(query)).count
    if not total:
        return {}
    counts: dict[str, int] = {}
    for status in OrderStatus:
        if sum(counts.values()) == total:
            break
        if count := (await client.count_workflows(f"{query} AND OrderStatus='{status.value}'")).count:
            counts[status.value] = count
    if (rest := total - sum(counts.values())) > 0:
        counts["(no status yet)"] = rest
    return counts


def register(commands: Subcommands) -> None:
    parser = commands.add(
        "deploy",
        deploy_command,
    )
    parser.add_argument("build_id", type=a_build_id, metavar="BUILD_ID", help="the build that new orders go to")
    parser.add_argument(
        "--ramp",
        type=percentage,
        metavar="PERCENT",
        help="send only this share of new orders to it (0 < PERCENT < 100); the rest go to the current build",
    )
    commands.add(
        "deployments",
        deployments_command,
    )


async def deploy_command(args: argparse.Namespace) -> int:
    name = args.settings.deployment
    async with temporal(args.settings) as client:
        before = await describe_deployment(client, name)
        build = next((b for b in before.builds if b.build_id == args.build_id), None)
        if build is None or not build.workers:
            raise DeployRefused(
                f"build {args.build_id!r} of deployment {name!r} has no worker polling {TASK_QUEUE!r}: orders sent"
                f" to it would wait; start its workers first (python worker.py --build-id {shlex.quote(args.build_id)})"
            )
        said = await _route_new_orders(client, name, args.build_id, args.ramp, before.current)
        others = [b for b in before.builds if b.build_id not in (None, args.build_id) and b.open_orders]
        if args.json:
            print(
                json.dumps(
                    {
                        "deployment": name,
                        "build_id": args.build_id,
                        "routing": "ramping" if args.ramp is not None else "current",
                        "ramp_percent": args.ramp,
                        "keep_their_orders": {b.build_id: b.open_orders for b in others},
                    },
                    indent=2,
                )
            )
        else:
            print(said)
            for other in others:
                print(f"Build {other.build_id!r} keeps its {other.open_orders} open order(s) until they end.")
        unversioned = next(b for b in before.builds if b.build_id is None)
        if unversioned.open_orders:
            print(
                f"warning: {unversioned.open_orders} open order(s) were started by unversioned workers; their next"
                f" steps now run on the deployment's builds, which must be able to replay them"
                f" (see docs/deploying.md).",
                file=sys.stderr,
            )
    return ExitCode.OK


async def _route_new_orders(client: Client, name: str, build_id: str, ramp: float | None, current: str | None) -> str:
    """Make `build_id` current, or ramp `ramp` percent of new orders to it; what was done."""
    identity = f"orders deploy ({client.identity})"
    if ramp is not None:
        await client.workflow_service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=client.namespace, deployment_name=name, build_id=build_id, percentage=ramp, identity=identity
            ),
            timeout=call_timeout(client),
        )
        return (
            f"Build {build_id!r} takes {ramp:g}% of new orders; the rest go to {current or 'the unversioned workers'}."
        )
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace, deployment_name=name, build_id=build_id, identity=identity
        ),
        timeout=call_timeout(client),
    )
    return f"Build {build_id!r} is current: new orders go to it."


async def deployments_command(args: argparse.Namespace) -> int:
    name = args.settings.deployment
    async with temporal(args.settings) as client:
        deployment = await describe_deployment(client, name)
    if args.json:
        print(
            json.dumps(
                {**asdict(deployment), "builds": [{**asdict(b), "state": b.state} for b in deployment.builds]},
                indent=2,
            )
        )
        return ExitCode.OK
    print(f"Deployment {name!r} on task queue {TASK_QUEUE!r}")
    rows = [
        (
            build.build_id or "(unversioned)",
            build.state + (f" {build.ramp_percent:g}%" if build.ramp_percent is not None else ""),
            build.workers,
            build.open_orders,
            ", ".join(f"{count} {status}" for status, count in build.by_status.items()) or "-",
        )
        for build in deployment.builds
    ]
    print(views.table(("BUILD", "STATE", "WORKERS", "OPEN ORDERS", "BY STATUS"), rows))
    drained = [b.build_id for b in deployment.builds if b.state == "drained" and b.workers]
    if drained:
        print(f"\nDrained, its workers can be stopped: {', '.join(str(build) for build in drained)}")
    return ExitCode.OK
