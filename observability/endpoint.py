"""The worker's HTTP address (ORDERS_METRICS_ADDRESS): Prometheus metrics at /metrics,
liveness at /healthz and readiness at /readyz, for Prometheus, process supervisors and
Kubernetes.

The metrics are the SDK's: its runtime serves them (`temporal_` metrics and ours, made
through its meter) on a loopback port of its own; this server passes them on, so one
address answers everything. Liveness: the worker's event loop has turned within the last
few seconds. Readiness: the worker polls, and the server answered a health check lately.
"""

import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from contract import host_and_port

# A loop that has not turned for this long is stuck: a supervisor should restart it.
STUCK_AFTER_SECONDS = 10.0


@dataclass
class Health:
    """What the worker tells the endpoint; updated by the worker's own tasks."""

    loop_turned_at: float = field(default_factory=time.monotonic)
    server_answered_at: float | None = None
    polling: bool = False
    stopping: bool = False

    def liveness(self) -> tuple[bool, str]:
        stuck = time.monotonic() - self.loop_turned_at
        if stuck > STUCK_AFTER_SECONDS:
            return False, f"the worker's event loop has not turned for {stuck:.0f} s"
        return True, "alive"

    def readiness(self) -> tuple[bool, str]:
        alive, why = self.liveness()
        if not alive:
            return False, why
        if self.stopping:
            return False, "stopping"
        if not self.polling:
            return False, "not polling the task queue yet"
        if self.server_answered_at is None or time.monotonic() - self.server_answered_at > 3 * STUCK_AFTER_SECONDS:
            return False, "Temporal has not answered a health check lately"
        return True, "ready"


class _Server(ThreadingHTTPServer):
    # Connections waiting to be accepted: socketserver's default of 5 drops a burst of
    # scrapes and probes; this one answers them.
    request_queue_size = 1024
    daemon_threads = True


def serve(address: str, metrics_from: str, health: Health) -> Callable[[], None]:
    """Serve on `address` in a thread of its own; returns what stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._metrics()
            elif path in ("/healthz", "/livez"):
                self._answer(*health.liveness())
            elif path == "/readyz":
                self._answer(*health.readiness())
            else:
                self._send(404, b"not found: /metrics, /healthz or /readyz\n", "text/plain")

        def _metrics(self) -> None:
            try:
                with urllib.request.urlopen(f"http://{metrics_from}/metrics", timeout=5) as answer:
                    body = answer.read()
                    kind = answer.headers.get("Content-Type", "text/plain; version=0.0.4")
            except OSError as err:
                self._send(503, f"the SDK's metrics did not answer: {err}\n".encode(), "text/plain")
                return
            self._send(200, body, kind)

        def _answer(self, ok: bool, why: str) -> None:
            self._send(200 if ok else 503, f"{why}\n".encode(), "text/plain")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every few seconds is not news

    host, port = host_and_port(address)
    server = _Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="orders-endpoint", daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
