"""A per-provider circuit breaker, so a dead provider is skipped at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    """Closed: calls go through. Open: calls are skipped. Half-open: one trial call goes through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one trial through after `cooldown`."""

    def __init__(self, *, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._trial_running = False
        # The sync client calls from its own thread; keep transitions atomic.
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        """Return the state, moving from open to half-open once the cool-down has passed."""
        with self._lock:
            if (
                self._state is BreakerState.OPEN
                and self._clock() >= self._opened_at + self._cooldown
            ):
                self._state = BreakerState.HALF_OPEN
                self._trial_running = False
            return self._state

    def allow(self) -> bool:
        """Return whether a call may go out now (claiming the trial when half-open)."""
        state = self.state
        with self._lock:
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        """Close the breaker."""
        with self._lock:
            self._failures = 0
            self._state = BreakerState.CLOSED
            self._trial_running = False

    def record_failure(self) -> None:
        """Count a failure; open after `threshold` in a row, or at once when half-open."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._trial_running = False
