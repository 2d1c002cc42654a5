"""worker.py, serving build B's OrderWorkflow (tests/integration/build_b.py) in place of
today's; every flag and setting as worker.py takes them (`--build-id B`, or none)."""

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import hosting
import worker
from tests.integration.build_b import OrderWorkflowOfBuildB

if __name__ == "__main__":
    worker.build_worker = functools.partial(hosting.build_worker, workflows=[OrderWorkflowOfBuildB])
    worker.main()
