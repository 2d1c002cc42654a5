"""`orders`: audit and time-travel orders from Temporal's history (see `orders --help`)."""
