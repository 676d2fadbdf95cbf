"""The audit trail: the action names, and the read-only API over recorded changes."""
