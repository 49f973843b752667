"""What a settlement poller has done, as plain objects a service can export to its metrics."""

from __future__ import annotations

import dataclasses
import datetime
import time

__all__ = ["CreditorStats", "PollerStats"]


@dataclasses.dataclass
class CreditorStats:
    """One creditor's polling health.

    Attributes:
        delivered: Settlements handed to the consumer.
        consecutive_failures: Failed polls since the last success (the creditor is backed off).
        last_error: The most recent failure, if any, kept without its traceback and the chain
            of exceptions behind it (which can hold whole response bodies for months).
        last_success_at: Wall-clock time of the last successful poll (UTC).
    """

    delivered: int = 0
    consecutive_failures: int = 0
    last_error: Exception | None = None
    _started: float | None = dataclasses.field(default=None, repr=False)  # monotonic
    _last_success: float | None = dataclasses.field(default=None, repr=False)  # monotonic
    _last_success_wall: float | None = dataclasses.field(default=None, repr=False)

    @property
    def last_success_at(self) -> datetime.datetime | None:
        """Wall-clock time of the last successful poll (UTC)."""
        if self._last_success_wall is None:
            return None
        return datetime.datetime.fromtimestamp(self._last_success_wall, datetime.UTC)

    @property
    def lag(self) -> float | None:
        """Seconds since the last successful poll; for a creditor that never succeeded, since
        the poller started (``None`` before it starts). With a leasing store: since this worker
        acquired the creditor's lease, and ``None`` while it does not hold it."""
        since = self._last_success if self._last_success is not None else self._started
        if since is None:
            return None
        return time.monotonic() - since

    def started(self) -> None:
        """The poller started polling this creditor: its lag counts from now until a success."""
        if self._started is None:
            self._started = time.monotonic()

    def acquired(self) -> None:
        """This worker acquired the creditor's lease: its lag counts from now until a success."""
        self._started = time.monotonic()
        self._last_success = None

    def released(self) -> None:
        """The lease is gone: the creditor is another worker's, neither lagging nor failing here."""
        self._started = self._last_success = None
        self.consecutive_failures = 0

    def succeeded(self) -> None:
        """A poll of this creditor succeeded (called by the poller on every poll)."""
        # Two clock reads, no datetime objects: this runs on every poll.
        self._last_success = time.monotonic()
        self._last_success_wall = time.time()
        self.consecutive_failures = 0

    def failed(self) -> None:
        """A poll of this creditor failed (called by the poller; see ``keep_error``)."""
        self.consecutive_failures += 1

    def keep_error(self, error: Exception) -> None:
        """Keep ``error`` as ``last_error``, without the frames and chained exceptions it pins."""
        error.__traceback__ = None
        error.__cause__ = error.__context__ = None
        self.last_error = error


@dataclasses.dataclass
class PollerStats:
    """Counters of one [`SettlementPoller`][amili_async.SettlementPoller] since it started.

    Attributes:
        requests: Poll requests that got a response (retries inside one request not counted).
        retries: Retries the client made for the poller's requests.
        duplicates_dropped: Settlements the server sent again and the poller did not re-deliver.
        errors: Failed polls (after the client's retries), across all creditors.
        creditors: Per-creditor health, by creditor id.
        creditors_held: The creditors this poller polls now: all of them, except with a leasing
            store, where it is those whose leases this worker holds (its share of the fleet's).
        takeovers: With a leasing store: leases this worker acquired that another worker held
            since this poller last held them (or ever, for a creditor it never held): the lease
            epoch jumped by more than one. Each may re-deliver one settlement that the other
            worker delivered and did not ack.
    """

    requests: int = 0
    retries: int = 0
    duplicates_dropped: int = 0
    errors: int = 0
    creditors_held: int = 0
    takeovers: int = 0
    creditors: dict[str, CreditorStats] = dataclasses.field(default_factory=dict)

    @property
    def settlements_delivered(self) -> int:
        """Settlement events handed to the consumer, over all creditors."""
        return sum(c.delivered for c in self.creditors.values())

    def lag(self, creditor_id: str) -> float | None:
        """Seconds since ``creditor_id`` was last polled successfully (see
        [`CreditorStats.lag`][amili_async.CreditorStats.lag])."""
        return self.creditors[creditor_id].lag

    @property
    def max_lag(self) -> float | None:
        """The largest lag over all creditors, a creditor that never succeeded counting from
        the poller's start (``None`` before the poller starts)."""
        lags = [lag for lag in (c.lag for c in self.creditors.values()) if lag is not None]
        return max(lags, default=None)

    @property
    def failing(self) -> list[str]:
        """Creditors whose last poll failed."""
        return [cid for cid, c in self.creditors.items() if c.consecutive_failures]

    def summary(self) -> str:
        """One log line."""
        max_lag = self.max_lag
        lag = "n/a" if max_lag is None else f"{max_lag:.1f}s"
        return (
            f"{self.settlements_delivered} settlements delivered, {self.requests} requests, "
            f"{self.retries} retries, {self.errors} errors, {self.duplicates_dropped} duplicates "
            f"dropped, {len(self.failing)}/{len(self.creditors)} creditors failing, max lag {lag}, "
            f"{self.creditors_held} creditors held, {self.takeovers} takeovers"
        )
