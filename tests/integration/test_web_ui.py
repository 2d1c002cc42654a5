"""The Web UI, one of the three ways this project is used, in a real browser: Debian's
Chromium, headless, driven by Playwright (nothing downloaded), against the embedded
server's Web UI, with encryption on and `orders codec-server` decoding for the browser.

What a person looking after orders does there: filter the list by OrderStatus, open an
order and read its input and result, its domain events in its Event History, the
activities' summaries, and the current details of an order still running.
"""

import asyncio
import json
import re
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from client import start_order
from connection.embedded_server import EmbeddedServer, free_local_port, start_embedded_server
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE, workflow_id_for
from encryption import ERASED, Keyring
from hosting import has_live_worker
from tests.commands import orders_in_process
from tests.integration.helpers import run_script, spawn_codec_server, spawn_worker, stop_processes
from tests.orders import one_line_order
from tests.waiting import wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's notes say: no sandbox as root, and nothing that reaches for the internet.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
KEYS = f"UI={Keyring.new_key()}"
WAITING = one_line_order("ORDER-BIG-UI", "PROD-002", 2, "30000.00", customer_id="CUSTOMER-BIG")
UI_TIMEOUT_MS = 30_000


@dataclass
class Shown:
    server: EmbeddedServer
    browser: Browser

    def url(self, path: str) -> str:
        return f"{self.server.ui_url}/namespaces/default/{path}"

    async def page(self, path: str) -> Page:
        page = await self.browser.new_page(viewport={"width": 1600, "height": 1200})
        page.set_default_timeout(UI_TIMEOUT_MS)
        await page.goto(self.url(path))
        return page


@pytest.fixture(scope="module")
async def shown(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("web-ui")
    codec = f"127.0.0.1:{free_local_port()}"
    server = await start_embedded_server(
        f"127.0.0.1:{free_local_port()}", "default", scratch / "server", SEARCH_ATTRIBUTES,
        keyring=Keyring.parse(KEYS), codec_endpoint=f"http://{codec}",
    )  # fmt: skip
    env = {"TEMPORAL_ADDRESS": server.address, "ORDERS_DATA_DIR": str(scratch / "data"), "ORDERS_ENCRYPTION_KEYS": KEYS}
    worker = spawn_worker(env)
    # Its default origins are the Web UI of TEMPORAL_ADDRESS: the embedded server's.
    codec_server = await spawn_codec_server(codec, env)
    try:
        await wait_until(lambda: has_live_worker(server.client, TASK_QUEUE), what="worker.py to poll")
        started = await asyncio.to_thread(run_script, "starter.py", "--no-wait", env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        # Two customers with personal data, one of them then forgotten (docs/privacy.md).
        started = await asyncio.to_thread(run_script, "starter.py", "--file", str(_personal_orders(scratch)), env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        forgotten = await orders_in_process(env, "forget", "C-UI-GONE", "--requested-by", "dpo")
        assert forgotten.returncode == 0, forgotten.stderr
        # One order left waiting for approval: running, with current details to show.
        await start_order(server.client, WAITING)

        async def waiting_for_approval() -> bool:
            handle = server.client.get_workflow_handle(workflow_id_for(WAITING.order_id))
            return (await handle.query("state"))["status"] == "PaymentPending"

        await wait_until(waiting_for_approval, what="the big order to wait for approval")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield Shown(server, browser)
            finally:
                await browser.close()
    finally:
        await stop_processes(worker, codec_server)
        await server.stop()


PERSONAL = {"C-UI-KEPT": "Ottilie Kept-Visible", "C-UI-GONE": "Gustav Gone-Forgotten"}


def _personal_orders(scratch: Path) -> Path:
    path = scratch / "personal-orders.json"
    orders = [
        one_line_order(f"ORDER-{customer}", "PROD-001", 1, "10.00", customer_id=customer).model_dump(mode="json")
        | {"personal": {"name": name}}
        for customer, name in PERSONAL.items()
    ]
    path.write_text(json.dumps(orders))
    return path


async def test_a_forgotten_customers_fields_show_as_erased_and_the_others_in_clear(shown):
    """Through `orders codec-server`, which opens personal data with the key store."""
    gone = await shown.page("workflows/order-ORDER-C-UI-GONE")
    await expect(gone.get_by_text(ERASED).first).to_be_visible()
    await expect(gone.get_by_text(PERSONAL["C-UI-GONE"])).to_have_count(0)
    kept = await shown.page("workflows/order-ORDER-C-UI-KEPT")
    await expect(kept.get_by_text(PERSONAL["C-UI-KEPT"]).first).to_be_visible()


async def test_the_orders_list_filters_by_order_status(shown):
    fulfilled = await shown.page("workflows?query=" + quote('OrderStatus="Fulfilled"'))
    rows = fulfilled.locator("table tbody tr")
    await expect(rows).to_have_count(2 + len(PERSONAL))  # the tutorial's two, and the personal-data orders
    await expect(fulfilled.get_by_role("link", name="order-ORDER-001")).to_be_visible()
    await expect(fulfilled.get_by_role("link", name="order-ORDER-002")).to_be_visible()
    await expect(fulfilled.get_by_role("link", name="order-ORDER-003")).to_have_count(0)

    failed = await shown.page("workflows?query=" + quote('OrderStatus="ValidationFailed"'))
    await expect(failed.locator("table tbody tr")).to_have_count(1)
    await expect(failed.get_by_role("link", name="order-ORDER-003")).to_be_visible()


async def test_an_order_page_shows_its_input_and_result_decoded_through_the_codec_server(shown):
    page = await shown.page("workflows/order-ORDER-001")
    # Decoded in the browser by `orders codec-server`: the server holds only ciphertext.
    await expect(page.get_by_text('"customer_id": "CUSTOMER-123"').first).to_be_visible()
    await expect(page.get_by_text('"total_amount": "150.50"').first).to_be_visible()
    await expect(page.get_by_text('"status": "Fulfilled"').first).to_be_visible()
    await expect(page.get_by_text("Codec Server could not connect")).to_have_count(0)


async def test_the_event_history_shows_each_activitys_summary(shown):
    page = await shown.page("workflows/order-ORDER-001")
    await page.get_by_role("tab", name=re.compile("^Event History")).click()
    for summary in ("Charge 150.50 to CUSTOMER-123", "Reserve stock for 1 line(s)", "Ship 1 reservation(s)"):
        await expect(page.get_by_text(summary).first).to_be_visible()


async def test_the_event_history_shows_each_domain_event_plain_decoded_through_the_codec_server(shown):
    page = await shown.page("workflows/order-ORDER-001")
    await page.get_by_role("tab", name=re.compile("^Event History")).click()
    # Each step's result is its event, envelope and all: shipping's is OrderFulfilled, v5.
    await page.locator("tr", has_text="Activity Task Completed").first.click()
    await expect(page.get_by_text('"event_type": "OrderFulfilled"').first).to_be_visible()
    await expect(page.get_by_text('"version": 5').first).to_be_visible()
    await expect(page.get_by_text('"tracking_number": "TRK').first).to_be_visible()
    # Validation's local activity: its marker carries the order's first two events.
    await page.locator("tr", has_text="Local Activity").first.click()
    await expect(page.get_by_text('"event_type": "OrderReceived"').first).to_be_visible()
    await expect(page.get_by_text('"customer_id": "CUSTOMER-123"').first).to_be_visible()
    # The viewer draws the lines in view: scroll the result to its second event.
    result = page.locator(".cm-scroller", has_text='"event_type": "OrderReceived"').first
    await result.evaluate("element => { element.scrollTop = element.scrollHeight }")
    await expect(page.get_by_text('"event_type": "OrderValidated"').first).to_be_visible()
    await expect(page.get_by_text("Codec Server could not connect")).to_have_count(0)


async def test_a_running_order_shows_its_summary_and_current_details(shown):
    page = await shown.page(f"workflows/{workflow_id_for(WAITING.order_id)}")
    await page.get_by_role("tab", name="User Metadata").click()
    # The UI renders the summary and the current details (markdown) in frames of their own.
    summary, current = page.frame_locator("iframe").nth(0), page.frame_locator("iframe").nth(1)
    total = Decimal("60000.00")
    await expect(summary.get_by_text(f"Order {WAITING.order_id} for CUSTOMER-BIG, total {total}")).to_be_visible()
    await expect(current.get_by_text("PaymentPending").first).to_be_visible()
    await expect(current.get_by_text(f"Customer CUSTOMER-BIG, total {total}")).to_be_visible()
