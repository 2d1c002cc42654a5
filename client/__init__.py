"""The client door: how orders are read from files, started, followed until they settle,
and summed up. The starter composes it; the benchmarks and the tests start orders
through it too."""

from client.following import Outcome, PastOrders, Run, UnreadableOrder, follow, past_orders, warn_if_nothing_settles
from client.order_files import TUTORIAL_ORDERS, OrderFileError, load_orders, parse_orders
from client.progress import ProgressDisplay
from client.run_report import DETAIL_UP_TO, RunReport, RunSummary, detail, render_summary, report, summarize
from client.starting import kept_private, sealed_personal, start_order

__all__ = [
    "DETAIL_UP_TO",
    "TUTORIAL_ORDERS",
    "OrderFileError",
    "Outcome",
    "PastOrders",
    "ProgressDisplay",
    "Run",
    "RunReport",
    "RunSummary",
    "UnreadableOrder",
    "detail",
    "follow",
    "kept_private",
    "load_orders",
    "parse_orders",
    "past_orders",
    "render_summary",
    "report",
    "sealed_personal",
    "start_order",
    "summarize",
    "warn_if_nothing_settles",
]
