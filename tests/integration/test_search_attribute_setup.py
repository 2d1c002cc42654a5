"""A namespace that lacks search attributes the orders publish, where registering them is
refused as Temporal Cloud refuses it: the worker and the starter stop before serving or
starting anything, in one line naming what is missing and the commands that create it."""

import asyncio

from connection.embedded_server import free_local_port, start_embedded_server
from contract import SEARCH_ATTRIBUTES
from programs.exits import ExitCode
from tests.integration.helpers import run_script
from tests.integration.refusing_proxy import ADD_SEARCH_ATTRIBUTES, RefusingProxy

POLLS = ("PollWorkflowTaskQueue", "PollActivityTaskQueue", "PollNexusTaskQueue")


async def test_a_worker_that_may_not_register_missing_attributes_stops_before_polling(tmp_path):
    server = await start_embedded_server(
        f"127.0.0.1:{free_local_port()}", "default", tmp_path / "server", SEARCH_ATTRIBUTES[:3]
    )
    proxy = await RefusingProxy(server.address).start()
    try:
        env = {"TEMPORAL_ADDRESS": proxy.address, "ORDERS_DATA_DIR": str(tmp_path / "data")}
        worker = await asyncio.to_thread(run_script, "worker.py", env=env, timeout=60)
        assert worker.returncode == ExitCode.NOT_SET_UP, worker.stdout + worker.stderr
        assert ADD_SEARCH_ATTRIBUTES in proxy.calls  # it did try
        assert not [call for call in proxy.calls if call.endswith(POLLS)], proxy.calls
        said = [line for line in (worker.stdout + worker.stderr).splitlines() if "lacks the search attributes" in line]
        assert len(said) == 1, worker.stdout + worker.stderr
        line = said[0]
        assert "OrderVersion, OrderUpdatedAt" in line and "OrderStatus" not in line.split("create them once")[0]
        assert "temporal operator search-attribute create --namespace default --name OrderVersion --type Int" in line
        assert "--name OrderUpdatedAt --type Datetime" in line
        assert "Traceback" not in worker.stdout + worker.stderr

        starter = await asyncio.to_thread(run_script, "starter.py", "--no-wait", env=env, timeout=60)
        assert starter.returncode == ExitCode.NOT_SET_UP, starter.stdout + starter.stderr
        assert "lacks the search attributes OrderVersion, OrderUpdatedAt" in starter.stderr
        assert "No order was started." in starter.stderr
        assert not [call for call in proxy.calls if call.endswith("StartWorkflowExecution")]
    finally:
        await proxy.stop()
        await server.stop()
