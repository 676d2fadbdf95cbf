"""Change requests: in the environments FF_APPROVALS names, a change to a flag waits for someone else's approval."""
