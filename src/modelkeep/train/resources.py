"""Resource use of a piece of work: wall time, CPU seconds, peak memory.

The implementation moved to :mod:`modelkeep.energy.resources` (the serving and batch-scoring
paths use it too, and importing it from here would load the training stack); this module keeps
the names importable from their first home.
"""

from __future__ import annotations

from modelkeep.energy.resources import ResourceMeter, ResourceUse, peak_memory_mb

__all__ = ["ResourceMeter", "ResourceUse", "peak_memory_mb"]
