"""The worker's HTTP endpoint: liveness and readiness say why, and /metrics passes the
SDK's exporter on (or says it did not answer)."""

import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from connection.embedded_server import free_local_port
from contract import host_and_port
from observability.endpoint import STUCK_AFTER_SECONDS, Health, serve


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_readiness_needs_polling_a_server_that_answers_and_a_loop_that_turns():
    health = Health()
    assert health.liveness() == (True, "alive")
    assert health.readiness() == (False, "not polling the task queue yet")
    health.polling = True
    assert health.readiness() == (False, "Temporal has not answered a health check lately")
    health.server_answered_at = time.monotonic()
    assert health.readiness() == (True, "ready")
    health.stopping = True
    assert health.readiness() == (False, "stopping")
    health.stopping = False
    health.loop_turned_at = time.monotonic() - STUCK_AFTER_SECONDS - 5
    alive, why = health.liveness()
    assert not alive and "has not turned for" in why
    assert health.readiness()[0] is False


def test_the_endpoint_answers_503_with_the_reason_and_passes_metrics_on():
    class Exporter(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"temporal_request 3\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    Thread(target=exporter.serve_forever, daemon=True).start()
    health = Health()
    address = f"127.0.0.1:{free_local_port()}"
    stop = serve(address, f"127.0.0.1:{exporter.server_address[1]}", health)
    try:
        assert get(f"http://{address}/readyz") == (503, "not polling the task queue yet\n")
        assert get(f"http://{address}/metrics") == (200, "temporal_request 3\n")
        health.loop_turned_at -= STUCK_AFTER_SECONDS + 5
        status, why = get(f"http://{address}/healthz")
        assert status == 503 and "has not turned" in why
    finally:
        stop()
        exporter.shutdown()
    silent = f"127.0.0.1:{free_local_port()}"
    stop = serve(silent, f"127.0.0.1:{free_local_port()}", Health())
    try:
        status, why = get(f"http://{silent}/metrics")
        assert status == 503 and "the SDK's metrics did not answer" in why
    finally:
        stop()


@pytest.mark.parametrize("text", ["9464", ":9464", "host:", "host:99999", "host:port", "[]:7233", "nonsense"])
def test_a_malformed_address_is_refused(text):
    with pytest.raises(ValueError, match="is not host:port"):
        host_and_port(text)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),
        ("[::1]:7233", ("::1", 7233)),
        ("ns.acct.tmprl.cloud:7233", ("ns.acct.tmprl.cloud", 7233)),
    ],
)
def test_every_address_setting_reads_host_and_port_one_way(text, parts):
    assert host_and_port(text) == parts
