"""Operating it: the worker's metrics and health endpoint, its log lines, traces,
`orders health`, and the Grafana dashboard against a real scrape.

One embedded server and one worker.py process of their own for the module: the counts
scraped are this module's orders' alone, and `orders health` sees only this worker.
"""

import asyncio
import json
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from benchmarks.http_burst import burst
from client import start_order
from connection.embedded_server import EmbeddedServer, free_local_port, start_embedded_server
from connection.temporal import client_options
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE, WORKFLOW_TYPE, workflow_id_for
from contract.metrics import DOMAIN_METRICS
from hosting import build_worker, has_live_worker
from observability.tracing import CORRELATION_ID, ORDER_ID, start_tracing, stop_tracing
from orders_cli.health import NO_WORKER
from programs.exits import ExitCode
from tests.commands import Ran, orders_here, orders_in_process, starter_in_process
from tests.integration.helpers import PROJECT, run_script, spawn_worker
from tests.orders import ORDER_001, one_line_order, renamed
from tests.waiting import wait_until

DASHBOARD = PROJECT / "ops" / "grafana" / "orders-dashboard.json"
CALLERS_CORRELATION_ID = "CART-42"


@dataclass
class Operated:
    server: EmbeddedServer
    env: dict[str, str]
    metrics_address: str
    worker: subprocess.Popen
    log: Path
    scrapes: dict[str, str] = field(default_factory=dict)

    def orders(self, *args: str, **env: str) -> Ran:
        return orders_here({**self.env, **env}, *args)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def samples(scrape: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample in Prometheus' text format."""
    found = []
    for line in scrape.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
        assert match, f"not a Prometheus sample: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        found.append((match.group(1), labels, float(match.group(3))))
    return found


def total(scrape: str, name: str, **labels: str) -> float:
    return sum(
        value
        for sample, have, value in samples(scrape)
        if sample == name and all(have.get(key) == wanted for key, wanted in labels.items())
    )


@pytest.fixture(scope="module")
async def operated(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("operated")
    server = await start_embedded_server(
        f"127.0.0.1:{free_local_port()}", "default", scratch / "server", SEARCH_ATTRIBUTES
    )
    metrics_address = f"127.0.0.1:{free_local_port()}"
    env = {"TEMPORAL_ADDRESS": server.address, "ORDERS_DATA_DIR": str(scratch / "data")}
    log = scratch / "worker.log"
    worker = spawn_worker(
        {
            **env,
            "ORDERS_METRICS_ADDRESS": metrics_address,
            "ORDERS_LOG_FORMAT": "json",
            "ORDERS_LOG_LEVEL": "DEBUG",
        },
        log,
    )
    operated = Operated(server, env, metrics_address, worker, log)
    try:
        await wait_until(lambda: has_live_worker(server.client, TASK_QUEUE), what="worker.py to poll")
        # The tutorial's three orders, as a user starts them (the starter in-process).
        started = await starter_in_process(env, "--no-wait")
        assert started.returncode == 0, started.stdout + started.stderr
        operated.scrapes["tutorial"] = get(f"http://{metrics_address}/metrics")[1]
        await _the_rest_of_an_orders_life(operated)
        operated.scrapes["everything"] = get(f"http://{metrics_address}/metrics")[1]
        yield operated
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(30)
        await server.stop()


async def _the_rest_of_an_orders_life(operated: Operated) -> None:
    """An approval, a cancellation with a refund, a refused decision: so every metric the
    dashboard draws has been recorded at least once."""
    client = operated.server.client
    big = one_line_order("ORDER-BIG", "PROD-001", 2, "30000.00")  # over the approval threshold
    held = renamed(ORDER_001, "HELD", cancellation_window=timedelta(minutes=5))
    correlated = renamed(ORDER_001, "CORRELATED", correlation_id=CALLERS_CORRELATION_ID)
    for order in (big, held, correlated):
        await start_order(client, order)

    async def status_of(order_id: str) -> str | None:
        return (await client.get_workflow_handle(workflow_id_for(order_id)).query("state"))["status"]

    await wait_until(lambda: _is(status_of(big.order_id), "PaymentPending"), what="the big order to wait")
    await wait_until(lambda: _is(status_of(held.order_id), "InventoryReserved"), what="the held order to wait")
    approved = await asyncio.to_thread(operated.orders, "approve", big.order_id, "--approver", "MANAGER-1")
    assert approved.returncode == 0, approved.stderr
    # Refused by the running order's validator: it has paid and waits to ship.
    refused = await asyncio.to_thread(operated.orders, "approve", held.order_id, "--approver", "MANAGER-1")
    assert refused.returncode == 1 and "not PaymentPending" in refused.stderr, refused.stderr
    cancelled = await asyncio.to_thread(operated.orders, "cancel", held.order_id, "--reason", "changed my mind")
    assert cancelled.returncode == 0, cancelled.stderr
    for order in (big, held, correlated):
        await client.get_workflow_handle(workflow_id_for(order.order_id)).result()


async def _is(status: Awaitable[str | None], wanted: str) -> bool:
    return await status == wanted


# -- Metrics -------------------------------------------------------------------------


def test_a_scrape_after_the_tutorial_orders_counts_them_and_their_events(operated):
    scrape = operated.scrapes["tutorial"]
    names = {name for name, _, _ in samples(scrape)}
    # The SDK's own, from the same endpoint.
    for sdk_metric in (
        "temporal_workflow_completed",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_activity_execution_latency_bucket",
        "temporal_worker_task_slots_available",
        "temporal_sticky_cache_size",
    ):
        assert sdk_metric in names, f"{sdk_metric} missing from {sorted(names)}"
    assert total(scrape, "temporal_workflow_completed", workflow_type=WORKFLOW_TYPE) == 3
    # Ours: three orders, two Fulfilled and one ValidationFailed, twelve domain events.
    assert total(scrape, "orders_started") == 3
    assert total(scrape, "orders_ended", outcome="Fulfilled") == 2
    assert total(scrape, "orders_ended", outcome="ValidationFailed") == 1
    assert total(scrape, "orders_ended") == 3
    assert total(scrape, "orders_domain_events") == 12
    by_type = {labels["event_type"]: value for name, labels, value in samples(scrape) if name == "orders_domain_events"}
    assert by_type == {
        "OrderReceived": 3,
        "OrderValidated": 3,
        "PaymentProcessed": 2,
        "InventoryReserved": 2,
        "OrderFulfilled": 2,
    }
    assert total(scrape, "orders_amount_charged_cents") == 15050 + 2500000  # 150.50 and 25,000.00


def test_an_approval_a_refund_and_a_refused_decision_are_counted(operated):
    scrape = operated.scrapes["everything"]
    assert total(scrape, "orders_started") == 6
    assert total(scrape, "orders_ended", outcome="Cancelled") == 1
    assert total(scrape, "orders_approval_wait_count") == 1
    assert total(scrape, "orders_amount_refunded_cents") == 15050
    assert total(scrape, "orders_compensations", step="give_the_money_back") == 1
    assert total(scrape, "orders_compensations", step="release_the_stock") == 1
    assert total(scrape, "orders_decisions_refused", decision="ApprovePayment", reason="not_payment_pending") == 1
    names = {name.removesuffix("_count").removesuffix("_bucket").removesuffix("_sum") for name, _, _ in samples(scrape)}
    assert set(DOMAIN_METRICS) <= names


def test_the_worker_answers_liveness_and_readiness(operated):
    assert get(f"http://{operated.metrics_address}/healthz") == (200, "alive\n")
    assert get(f"http://{operated.metrics_address}/readyz") == (200, "ready\n")
    assert get(f"http://{operated.metrics_address}/nothing")[0] == 404


# -- Logs ----------------------------------------------------------------------------


def test_every_log_line_of_an_order_names_it_and_info_has_one_line_an_order(operated):
    lines = [json.loads(line) for line in operated.log.read_text().splitlines() if line.startswith("{")]
    of_orders = [line for line in lines if "workflow" in line or "activity" in line]
    assert of_orders, "no log line from a workflow or an activity"
    for line in of_orders:
        assert line.get("order_id"), line
        assert line.get("correlation_id"), line
    # One correlation id an order, the same in its workflow's lines and its activities'.
    correlations: dict[str, set[str]] = {}
    for line in of_orders:
        correlations.setdefault(line["order_id"], set()).add(line["correlation_id"])
    assert all(len(ids) == 1 for ids in correlations.values()), correlations
    # A correlation id the caller brought reaches the activities' lines too.
    assert correlations[f"{ORDER_001.order_id}-CORRELATED"] == {CALLERS_CORRELATION_ID}
    assert any(
        line["order_id"] == f"{ORDER_001.order_id}-CORRELATED" and line["logger"] == "temporalio.activity"
        for line in of_orders
    )
    assert any("activity" in line for line in of_orders)
    events = [line for line in of_orders if re.match(r"Order \S+ v\d+ ", line["message"])]
    assert events and all(line.get("event_version") == int(line["message"].split()[2][1:]) for line in events)
    # At INFO, the default: one line an order, its outcome.
    at_info = Counter(line["order_id"] for line in of_orders if line["level"] == "INFO")
    assert at_info == dict.fromkeys(correlations, 1), at_info


def test_a_burst_of_two_thousand_scrapes_is_answered_in_full(operated):
    """500 at a time: a listen backlog of socketserver's default 5 left hundreds unanswered."""
    answered, _ = burst(f"http://{operated.metrics_address}/metrics", None, 2000, 500)
    assert answered == 2000


# -- Health --------------------------------------------------------------------------


def test_orders_health_is_healthy_with_a_worker_running(operated):
    checked = operated.orders("health", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["status"] == "healthy" and report["reasons"] == []
    assert report["server"]["reachable"] and report["server"]["version"]
    assert report["search_attributes"]["missing"] == []
    assert report["workers"]["polling"] >= 1
    assert report["running"]["count"] == 0
    assert report["failing_workflow_tasks"]["count"] == 0


async def test_orders_health_names_what_is_wrong_without_a_worker(own_client, own_settings):
    # An order no worker will take (none polls in this namespace): it runs, and its first workflow task waits.
    order = renamed(ORDER_001, "WAITING")
    await start_order(own_client, order)
    checked = await orders_in_process(own_settings, "health", "--json")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["status"] == "degraded"
    assert "no worker polling orders" in report["reasons"]
    assert report["running"]["count"] == 1
    assert report["running"]["oldest"]["order_id"] == order.order_id
    plain = await orders_in_process(own_settings, "health")
    assert plain.returncode == 1
    assert plain.stdout.startswith("DEGRADED\n  - no worker polling orders\n"), plain.stdout


def test_orders_health_with_the_read_models_unreachable_still_reports_everything_else(operated, tmp_path):
    garbage = tmp_path / "projections.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    for dsn in (str(garbage), f"postgresql://postgres@127.0.0.1:{free_local_port()}/nowhere"):
        checked = operated.orders("health", "--json", ORDERS_PROJECTIONS_DSN=dsn)
        assert checked.returncode == ExitCode.FAILED, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert report["status"] == "degraded"
        assert any(reason.startswith("read models unreachable: ") for reason in report["reasons"]), report["reasons"]
        assert "error" in report["projector"]
        assert report["server"]["reachable"] and report["workers"]["polling"] >= 1
        for section in ("namespace", "backlog", "failing_workflow_tasks", "awaiting_approval", "running"):
            assert report[section] and "error" not in report[section], section


async def test_orders_health_on_a_namespace_lacking_search_attributes_is_degraded_naming_them(tmp_path):
    """A server with only the three oldest attributes and no worker: the checks that filter
    by the missing ones are skipped with a note, every other check is reported."""
    oldest_three = SEARCH_ATTRIBUTES[:3]
    server = await start_embedded_server(f"127.0.0.1:{free_local_port()}", "default", tmp_path / "server", oldest_three)
    try:
        env = {"TEMPORAL_ADDRESS": server.address, "ORDERS_DATA_DIR": str(tmp_path)}
        checked = await orders_in_process(env, "health", "--json")
        assert checked.returncode == 1, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert report["status"] == "degraded"
        assert "unreachable" not in checked.stdout.lower()
        assert report["search_attributes"]["missing"] == ["OrderVersion", "OrderUpdatedAt"]
        missing = next(reason for reason in report["reasons"] if "search attributes not registered" in reason)
        assert "OrderVersion" in missing and "OrderUpdatedAt" in missing
        assert "temporal operator search-attribute create --namespace default --name OrderVersion --type Int" in missing
        assert "OrderUpdatedAt" in report["awaiting_approval"]["skipped"]
        assert report["workers"]["polling"] == 0 and NO_WORKER in report["reasons"]
        assert report["namespace"]["name"] == "default" and report["running"]["count"] == 0
        plain = await orders_in_process(env, "health")
        assert plain.returncode == 1 and plain.stdout.startswith("DEGRADED\n"), plain.stdout + plain.stderr
        assert "approvals  skipped: needs the search attribute(s) OrderUpdatedAt" in plain.stdout, plain.stdout
    finally:
        await server.stop()


def test_orders_health_exits_3_where_nothing_answers():
    started = time.monotonic()
    refused = orders_here({"TEMPORAL_ADDRESS": f"127.0.0.1:{free_local_port()}"}, "health", "--json")
    assert refused.returncode == ExitCode.UNAVAILABLE, refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["status"] == "unreachable"
    assert time.monotonic() - started < 10

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        unanswered = orders_here(
            {"TEMPORAL_ADDRESS": f"127.0.0.1:{silent.getsockname()[1]}", "ORDERS_CONNECT_TIMEOUT": "2"}, "health"
        )
        waited = time.monotonic() - started
    assert unanswered.returncode == ExitCode.UNAVAILABLE, unanswered.stdout + unanswered.stderr
    assert unanswered.stdout.startswith("UNREACHABLE\n")
    assert "did not answer within 2 s (ORDERS_CONNECT_TIMEOUT)" in unanswered.stdout
    assert waited < 10, waited  # the documented timeout, not the SDK's own 30 s


# -- Traces --------------------------------------------------------------------------


async def test_one_order_makes_one_connected_trace_with_its_activities(dev_env, ledger, unique):
    exporter = InMemorySpanExporter()
    provider = start_tracing("orders-test", exporter)
    try:
        address = dev_env.client.service_client.config.target_host
        client = await Client.connect(address, **client_options())
        task_queue = f"traced-{unique}"
        order = renamed(ORDER_001, unique)
        async with build_worker(client, task_queue, activities=ledger.activities()):
            handle = await start_order(client, order, task_queue=task_queue)
            await handle.result()
        provider.force_flush()
    finally:
        stop_tracing()
    spans = exporter.get_finished_spans()
    names = Counter(span.name for span in spans)
    assert names["StartWorkflow:OrderWorkflow"] == 1
    assert names["RunWorkflow:OrderWorkflow"] == 1
    for activity in ("validate_order", "process_payment", "reserve_inventory", "fulfill_order"):
        assert names[f"RunActivity:{activity}"] == 1, names
    assert names["StartActivity:process_payment"] == 1, names
    # One trace, every span reachable from the client's start.
    assert len({span.context.trace_id for span in spans}) == 1
    by_id = {span.context.span_id: span for span in spans}
    roots = [span for span in spans if span.parent is None]
    assert [root.name for root in roots] == ["StartWorkflow:OrderWorkflow"]
    for span in spans:
        assert span.parent is None or span.parent.span_id in by_id, f"{span.name} hangs from a span not exported"
        assert span.attributes[ORDER_ID] == order.order_id, span.name
    describe = await handle.describe()
    for span in spans:
        if span.name != "StartWorkflow:OrderWorkflow":  # sent before the run id existed
            assert span.attributes[CORRELATION_ID] == describe.run_id, span.name


async def test_with_an_otlp_endpoint_the_worker_and_the_starter_export_one_trace_an_order(tmp_path, unique):
    """Real processes, a real OTLP/HTTP receiver: the starter's start and the worker's
    workflow and activities arrive as one trace per order, each span naming its order."""
    received: list[bytes] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    server = await start_embedded_server(
        f"127.0.0.1:{free_local_port()}", "default", tmp_path / "server", SEARCH_ATTRIBUTES
    )
    env = {
        "TEMPORAL_ADDRESS": server.address,
        "ORDERS_DATA_DIR": str(tmp_path / "data"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
    }
    worker = spawn_worker(env)
    try:
        await wait_until(lambda: has_live_worker(server.client, TASK_QUEUE), what="worker.py to poll")
        orders_file = tmp_path / "orders.json"
        order = renamed(ORDER_001, unique, correlation_id=CALLERS_CORRELATION_ID)
        orders_file.write_text(order.model_dump_json())
        started = await asyncio.to_thread(run_script, "starter.py", "--file", str(orders_file), "--no-wait", env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        worker.terminate()  # a worker that stops sends what it has buffered
        assert await asyncio.to_thread(worker.wait, 30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
        await server.stop()
        collector.shutdown()
    spans = []
    for body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
            for scoped in resource.scope_spans:
                spans += [(service, span) for span in scoped.spans]
    ours = [
        (service, span)
        for service, span in spans
        if any(a.key == ORDER_ID and a.value.string_value == order.order_id for a in span.attributes)
    ]
    services = Counter(service for service, _ in ours)
    assert services["orders-starter"] >= 1 and services["orders-worker"] >= 5, services
    assert len({span.trace_id for _, span in ours}) == 1
    names = {span.name for _, span in ours}
    assert {"StartWorkflow:OrderWorkflow", "RunWorkflow:OrderWorkflow", "RunActivity:fulfill_order"} <= names
    # The caller's correlation id, sent as baggage by the starter, on every span of the order.
    for _, span in ours:
        correlation = [a.value.string_value for a in span.attributes if a.key == CORRELATION_ID]
        assert correlation == [CALLERS_CORRELATION_ID], span.name


# -- The dashboard -------------------------------------------------------------------


def test_every_metric_the_dashboard_draws_is_in_a_real_scrape(operated):
    dashboard = json.loads(DASHBOARD.read_text())
    scraped = {name for name, _, _ in samples(operated.scrapes["everything"])}
    panels = [panel for panel in dashboard["panels"] if panel.get("type") != "row"]
    assert len(panels) >= 10
    drawn = set()
    for panel in panels:
        used = {
            name
            for target in panel["targets"]
            for name in re.findall(r"\b((?:temporal|orders)_[a-z0-9_]+)", target["expr"])
        }
        assert used, f"panel {panel['title']!r} draws no metric of ours or the SDK's"
        missing = used - scraped
        assert not missing, f"panel {panel['title']!r} draws {sorted(missing)}, which no scrape shows"
        drawn |= used
    # Every domain metric has a panel.
    assert {name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for name in drawn} >= set(
        DOMAIN_METRICS
    )
