"""Runs the shutdown steps one after the other on one deadline, and reports on them.

Knows nothing of Django: a step is a name and a coroutine function that takes the
deadline and returns the names of whatever it had to force (empty when all finished).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .deadline import Deadline

logger = logging.getLogger("graceful_django")

StepRun = Callable[[Deadline], Awaitable[list[str]]]


@dataclass
class Step:
    name: str
    run: StepRun


@dataclass
class StepOutcome:
    name: str
    seconds: float
    forced: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def finished(self) -> bool:
        return not self.forced and self.error is None


class Progress:
    """Where the sequence is now, read from any thread: the watchdog names it at the deadline.

    Each field is replaced whole, never mutated in place, so a reader in another thread
    sees either the old value or the new one.
    """

    def __init__(self) -> None:
        self.step: str | None = None
        # What the step is doing now (the hook runner says which hook, and which follow).
        self.detail: str | None = None
        self.pending: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.step is None:
            return "before the first step"
        where = f"during step {self.step!r}" + (f" ({self.detail})" if self.detail else "")
        if self.pending:
            where += f"; steps not run: {', '.join(self.pending)}"
        return where


@dataclass
class Report:
    """What finished and what was forced; logged at the end and sent with `shutdown_finished`."""

    timeout: float
    outcomes: list[StepOutcome] = field(default_factory=list)
    deadline_reached: bool = False
    # Steps never started because the deadline was reached first.
    skipped: list[str] = field(default_factory=list)

    @property
    def forced(self) -> list[str]:
        return [f"{outcome.name}: {name}" for outcome in self.outcomes for name in outcome.forced]

    @property
    def seconds(self) -> float:
        return sum(outcome.seconds for outcome in self.outcomes)

    def as_dict(self) -> dict[str, object]:
        return {
            "timeout": self.timeout,
            "seconds": round(self.seconds, 3),
            "deadline_reached": self.deadline_reached,
            "skipped": self.skipped,
            "steps": [
                {
                    "name": outcome.name,
                    "seconds": round(outcome.seconds, 3),
                    "finished": outcome.finished,
                    "forced": outcome.forced,
                    "error": outcome.error,
                }
                for outcome in self.outcomes
            ],
        }

    def summary(self) -> str:
        steps = ", ".join(
            f"{outcome.name} {outcome.seconds * 1000:.0f}ms"
            + ("" if outcome.finished else f" (forced {len(outcome.forced)})")
            + (f" (error: {outcome.error})" if outcome.error else "")
            for outcome in self.outcomes
        )
        skipped = f"; skipped: {', '.join(self.skipped)}" if self.skipped else ""
        return f"graceful shutdown took {self.seconds:.3f}s of {self.timeout:g}s: {steps}{skipped}"


async def run_steps(
    steps: list[Step], deadline: Deadline, progress: Progress | None = None
) -> Report:
    report = Report(timeout=deadline.seconds)
    progress = progress or Progress()
    for index, step in enumerate(steps):
        started = time.monotonic()
        outcome = StepOutcome(step.name, 0.0)
        report.outcomes.append(outcome)
        progress.detail = None
        progress.pending = tuple(later.name for later in steps[index + 1 :])
        progress.step = step.name
        logger.info("shutdown step: %s", step.name)
        try:
            # The step is told its share; this bound only catches a step that ignores it.
            outcome.forced = await asyncio.wait_for(step.run(deadline), deadline.remaining() + 0.05)
        except TimeoutError:
            outcome.forced = [f"{step.name} did not finish before the deadline"]
        except Exception as error:  # a broken step must not stop the ones after it
            logger.exception("shutdown step %s failed", step.name)
            outcome.error = f"{type(error).__name__}: {error}"
        outcome.seconds = time.monotonic() - started
        for name in outcome.forced:
            logger.warning("shutdown step %s forced: %s", step.name, name)
        if deadline.expired:
            report.deadline_reached = True
            report.skipped = list(progress.pending)
            if report.skipped:
                logger.error(
                    "deadline reached after step %s; not run: %s",
                    step.name,
                    ", ".join(report.skipped),
                )
            break
    return report
