"""Evaluation: the engine (pure functions over plain dicts) and OFREP, the protocol applications use."""
