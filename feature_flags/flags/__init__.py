"""Flags: the API to create, read, change, toggle and delete them, their models, rules and write path."""
