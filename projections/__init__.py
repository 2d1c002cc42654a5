"""Read models kept current from the order histories, and snapshots of order states.

The histories stay the only source of truth: every table here can be dropped and
rebuilt from them (`orders projector rebuild`), and from the archive for the orders whose
histories Temporal's retention has deleted.
"""

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
)
from projections.read_models import (
    DEFAULT_SNAPSHOT_EVERY,
    READ_MODELS,
    Applied,
    ProjectionError,
    ReadModels,
    Stored,
)

__all__ = [
    "DEFAULT_SNAPSHOT_EVERY",
    "OVERLAP",
    "READ_MODELS",
    "Applied",
    "CatchUp",
    "Change",
    "Lag",
    "ProjectedSummaries",
    "ProjectionError",
    "ReadModels",
    "Stored",
    "catch_up",
    "changed_since",
    "include_archived",
    "keep_current",
    "lag",
    "open_read_models",
]
