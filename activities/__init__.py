"""The order's side effects as Temporal activities, and the systems they talk to."""
