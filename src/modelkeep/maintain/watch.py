"""``watch_policies``: monitoring and policies on a schedule, until stopped.

Each cycle monitors every model that has a stored policy (one window of its champion's
inference log, stored as a monitoring run with its alerts) and then evaluates the policies.
Everything the loop knows lives in the store (monitoring runs, decision records with their
keys), so a loop that is stopped and started again picks up where it was: an evaluation that
finished is not repeated and one that was cut short is resumed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError, NotFoundError
from modelkeep.maintain.decisions import DecisionRecord
from modelkeep.maintain.policy import stored_policies
from modelkeep.maintain.runner import run_policies
from modelkeep.tracking import Client

__all__ = ["watch_policies"]

_log = logging.getLogger("modelkeep.maintain")


def watch_policies(
    *,
    every_s: float = 300.0,
    times: int | None = None,
    window: str = "1h",
    tracking_uri: str | None = None,
    settings: Settings | None = None,
    server_url: str | None = None,
    progress: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> list[DecisionRecord]:
    """Monitor, then evaluate the stored policies, every ``every_s`` seconds.

    Args:
        times: stop after this many cycles (None: until ``stop`` is set or interrupted).
        window: the monitoring window of each cycle.
        stop: set it from another thread to end the loop after the current cycle.

    Returns:
        The decision records of every cycle, in order.
    """
    settings = settings or Settings()
    uri = tracking_uri or settings.resolved_tracking_uri()
    say = progress or (lambda line: _log.info("%s", line))
    stop = stop or threading.Event()
    records: list[DecisionRecord] = []
    done = 0
    while not stop.is_set() and (times is None or done < times):
        started = time.monotonic()
        _monitor_all(uri, settings, window, say)
        records += run_policies(tracking_uri=uri, settings=settings, server_url=server_url,
                                progress=say)  # fmt: skip
        done += 1
        if times is not None and done >= times:
            break
        stop.wait(max(0.0, every_s - (time.monotonic() - started)))
    return records


def _monitor_all(uri: str, settings: Settings, window: str, say: Callable[[str], None]) -> None:
    from modelkeep.monitor.runner import run_monitor

    with Client(uri, settings=settings) as client:
        policies = stored_policies(client)
    for policy in policies:
        model_uri = f"models:/{policy.model}@{policy.champion_alias}"
        try:
            result = run_monitor(model_uri, window, tracking_uri=uri, settings=settings)
        except (InvalidInputError, NotFoundError) as exc:
            say(f"{policy.model}: not monitored this cycle: {exc}")
            continue
        say(f"{policy.model}: monitored {result.rows} rows, drift share "
            f"{result.metrics.get('drift.share', float('nan')):.2f}, "
            f"{len(result.alerts)} alert(s)")  # fmt: skip
