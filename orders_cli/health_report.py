"""What `orders health` reports, typed: one model per section. A section that could not
be checked holds only why (`skipped`, `error`); the JSON is each model as it was filled,
nothing unset added (`HealthReport.to_json`)."""

from pydantic import BaseModel


class Section(BaseModel):
    skipped: str | None = None  # a search attribute it needs is not registered
    error: str | None = None  # the check itself failed: a reason of its own
    note: str | None = None


class Server(BaseModel):
    address: str
    reachable: bool | None = None
    version: str | None = None


class SearchAttributes(BaseModel):
    registered: list[str]
    missing: list[str]
    create_with: list[str] | None = None


class Namespace(Section):
    name: str | None = None
    state: int | None = None
    retention_days: int | None = None


class Workers(Section):
    polling: int | None = None
    last_seen: str | None = None
    identities: list[str] = []


class Build(BaseModel):
    build_id: str | None
    state: str
    workers: int
    open_orders: int


class Deployment(Section):
    name: str | None = None
    builds: list[Build] = []


class TaskBacklog(BaseModel):
    count: int
    age_seconds: float


class Backlog(Section):
    workflow_tasks: TaskBacklog | None = None
    activity_tasks: TaskBacklog | None = None


class CountedOrders(Section):
    count: int | None = None
    orders: list[str] = []


class AwaitingApproval(Section):
    count: int | None = None
    longer_than_threshold: int | None = None
    threshold_seconds: float | None = None
    orders: list[str] = []


class Oldest(BaseModel):
    order_id: str
    started_at: str
    running_seconds: float


class Running(Section):
    count: int | None = None
    oldest: Oldest | None = None


class Projector(Section):
    read_models: str | None = None
    orders_behind: int | None = None
    events_behind: int | None = None
    seconds_behind: float | None = None
    caught_up_at: str | None = None


class ArchiveSection(Section):
    archive: str | None = None
    archived: int | None = None
    unarchived_within_a_day_of_deletion: int | None = None


class LedgerSection(Section):
    """The ledger the workers' payment gateway, inventory and shipping write (ORDERS_LEDGER),
    as this process finds it: the one a fleet shares, or this host's own."""

    ledger: str | None = None
    payments: int | None = None
    note: str | None = None


class HealthReport(BaseModel):
    status: str = "healthy"
    reasons: list[str] = []
    server: Server
    search_attributes: SearchAttributes | None = None
    namespace: Namespace | None = None
    workers: Workers | None = None
    deployment: Deployment | None = None
    backlog: Backlog | None = None
    failing_workflow_tasks: CountedOrders | None = None
    awaiting_approval: AwaitingApproval | None = None
    running: Running | None = None
    archive: ArchiveSection | None = None
    projector: Projector | None = None
    ledger: LedgerSection | None = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_unset=True)
