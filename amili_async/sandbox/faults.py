"""Seeded fault injection, per route: the failures a client of a real network service must survive.

Two modes, combinable:

* random: ``FaultPlan(rate=0.2, kinds=(Fault.E503, Fault.DROP), seed=1)`` gives each request that
  chance of one of those faults, drawn from a seeded generator, so a failing run can be replayed;
* scripted: ``plan.script("batch", Fault.E503, Fault.E503)`` makes the next requests to that route
  fail in that order, then behave: what deterministic tests use.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import random
from collections.abc import Iterable

from .collection import ROUTES as COLLECTION_ROUTES

__all__ = ["ALL_FAULTS", "ROUTES", "Fault", "FaultPlan"]

ROUTES = (
    "batch",
    "batch_post",
    "ping",
    "attachment",
    *COLLECTION_ROUTES,  # ``token`` and ``collection_<resource>[_post]``
)


class Fault(enum.StrEnum):
    """What can go wrong with one response."""

    E500 = "500"
    E502 = "502"
    E503 = "503"
    E429 = "429"
    DROP = "drop"
    """Headers and part of the body are sent, then the connection is dropped."""
    TRUNCATE = "truncate"
    """Status 200 and a JSON body cut short, the connection closed cleanly."""
    SLOW = "slow"
    """The response is delayed by ``FaultPlan.slow_seconds``, then sent normally."""
    MALFORMED = "malformed"
    """Status 200 with a body that is not JSON."""
    HTML = "html"
    """Status 200 with a gateway's HTML error page."""


ALL_FAULTS: tuple[Fault, ...] = tuple(Fault)


@dataclasses.dataclass
class FaultPlan:
    """Which requests fail, and how. Off by default; mutable while the sandbox runs.

    Attributes:
        rate: The chance that a request gets a random fault (0 = never).
        kinds: The faults random draws choose from.
        routes: The routes random faults apply to (``batch``, ``batch_post``, ``ping``,
            ``attachment``, ``token``, ``collection_invoices``, ``collection_invoices_post``,
            ...: see ``ROUTES``); scripted faults name their route.
        seed: Seeds the random draws.
        retry_after: Seconds sent in ``Retry-After`` with 429 and 503.
        slow_seconds: The delay of ``slow``.
    """

    rate: float = 0.0
    kinds: Iterable[Fault] = ALL_FAULTS
    routes: Iterable[str] = ROUTES
    seed: int = 0
    retry_after: float = 0.01
    slow_seconds: float = 0.2
    _rng: random.Random = dataclasses.field(init=False, repr=False)
    _scripted: dict[str, collections.deque[Fault]] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.kinds = tuple(Fault(kind) for kind in self.kinds)
        self.routes = tuple(self.routes)
        self._rng = random.Random(self.seed)
        self._scripted = collections.defaultdict(collections.deque)

    def script(self, route: str, *faults: Fault | str) -> None:
        """The next requests to ``route`` get these faults, in order."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {ROUTES}")
        self._scripted[route].extend(Fault(fault) for fault in faults)

    def draw(self, route: str) -> Fault | None:
        """The fault for the next request to ``route``, if any."""
        scripted = self._scripted.get(route)
        if scripted:
            return scripted.popleft()
        if self.rate <= 0 or route not in tuple(self.routes):
            return None
        kinds = tuple(self.kinds)
        if self._rng.random() >= self.rate or not kinds:
            return None
        return self._rng.choice(kinds)
