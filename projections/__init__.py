"""Read models kept current from the order histories, in three roles: the policy (what an
event does to each read model, pure), the store (schema, checkpoints, transactions, rows)
and the projector (what changed, read and applied).

The histories stay the only source of truth: every table here can be dropped and
rebuilt from them (`orders projector rebuild`), and from the archive for the orders whose
histories Temporal's retention has deleted.
"""

from projections.exports import CheckpointMismatch, ExportCheckpoint, export, export_schema, finish_output
from projections.policy import ProjectionError
from projections.projector import (
    OVERLAP,
    CatchUp,
    Change,
    Lag,
    ProjectedSummaries,
    catch_up,
    changed_since,
    include_archived,
    keep_current,
    lag,
    open_read_models,
    rebuild,
)
from projections.store import READ_MODELS, Applied, OrderCheckpoint, ReadModels

__all__ = [
    "OVERLAP",
    "READ_MODELS",
    "Applied",
    "CatchUp",
    "Change",
    "CheckpointMismatch",
    "ExportCheckpoint",
    "Lag",
    "OrderCheckpoint",
    "ProjectedSummaries",
    "ProjectionError",
    "ReadModels",
    "catch_up",
    "changed_since",
    "export",
    "export_schema",
    "finish_output",
    "include_archived",
    "keep_current",
    "lag",
    "open_read_models",
    "rebuild",
]
