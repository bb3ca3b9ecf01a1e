"""Generated tables for the data tests (``conftest.py`` cannot be imported).

:func:`clean_frame` has none of the problems ``find_problems`` looks for: every feature carries
some signal but none predicts the target on its own, classes are near balanced, nothing is
missing, repeated, constant or a row key. The tests inject one problem at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def clean_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(loc=5.0, scale=2.0, size=n)
    x3 = rng.uniform(0.0, 10.0, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = x1 + 0.3 * (x2 - 5.0) + rng.normal(scale=1.5, size=n)
    y = (logit > 0).astype(np.int64)
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "color": color, "y": y})
