"""Temporal workflows. Workflow code is deterministic: see workflows/order_workflow.py."""
