"""Progress of a long LLM stage on the terminal and in the Dagster log: done, total, time left.

Every LLM stage reports through one of these (the describer, the namers, the classifier, the
grader, the reasoner, CJE's policies and judge), so no stage is silent for minutes. Safe to step
from the worker threads of `RoleClient.run_batch`.
"""

import threading
import time


class Progress:
    def __init__(self, context, stage: str, total: int, every: int = 5):
        self.context, self.stage, self.total, self.every = context, stage, total, every
        self.done, self.started = 0, time.monotonic()
        self._lock = threading.Lock()

    def step(self, *_) -> None:
        with self._lock:
            self.done += 1
            done = self.done
        if done % self.every == 0 or done == self.total:
            left = (time.monotonic() - self.started) / done * (self.total - done)
            self.context.log.info(f"{self.stage}: {done}/{self.total}, about {left:.0f} s left")
