"""The order's side effects as Temporal activities (activities.order_activities), their
requests (activities.requests), and the systems they talk to: the gateways' interfaces
(activities.gateways) and the ledger that simulates them in a database every worker of
a fleet shares (activities.ledger)."""

from activities.gateways import (
    Charge,
    FraudScreen,
    FraudScreening,
    Inventory,
    OutOfStock,
    PaymentGateway,
    PaymentNotFound,
    Refund,
    Shipment,
    Shipping,
)
from activities.ledger import (
    LedgerDatabase,
    LedgerError,
    LedgerFraudScreen,
    LedgerInventory,
    LedgerPaymentGateway,
    LedgerShipping,
    OrderEffects,
    effects_by_workflow_id,
    workflow_ids_with_effects,
)
from activities.order_activities import OrderActivities
from activities.requests import (
    FulfillOrder,
    ProcessPayment,
    Recording,
    RefundPayment,
    ReleaseInventory,
    ReserveInventory,
    ScreenForFraud,
    SettlePayment,
    ValidateOrder,
)

__all__ = [
    "Charge", "FraudScreen", "FraudScreening", "FulfillOrder", "Inventory", "LedgerDatabase", "LedgerError",
    "LedgerFraudScreen", "LedgerInventory", "LedgerPaymentGateway", "LedgerShipping", "OrderActivities",
    "OrderEffects", "OutOfStock", "PaymentGateway", "PaymentNotFound", "ProcessPayment", "Recording", "Refund",
    "RefundPayment", "ReleaseInventory", "ReserveInventory", "ScreenForFraud", "SettlePayment", "Shipment",
    "Shipping", "ValidateOrder", "effects_by_workflow_id", "workflow_ids_with_effects",
]  # fmt: skip
