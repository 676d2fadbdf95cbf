"""Storage over PyMongo: the only package that imports it. Speaks plain dicts and the project's errors."""

from .batches import BatchWritten, ContextFieldWrite, FlagWrite, SegmentWrite
from .changes import ChangesLost, ChangesUnsupported, FlagChanges
from .client import StoreClosed, utcnow
from .flags import Written
from .store import Store, init_app

__all__ = [
    "BatchWritten",
    "ChangesLost",
    "ChangesUnsupported",
    "ContextFieldWrite",
    "FlagChanges",
    "FlagWrite",
    "SegmentWrite",
    "Store",
    "StoreClosed",
    "Written",
    "init_app",
    "utcnow",
]
