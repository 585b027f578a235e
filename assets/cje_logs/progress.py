"""Progress of a long LLM stage in the Dagster log: done, total and the time left."""

import time


class Progress:
    def __init__(self, context, stage: str, total: int, every: int = 5):
        self.context, self.stage, self.total, self.every = context, stage, total, every
        self.done, self.started = 0, time.monotonic()

    def step(self) -> None:
        self.done += 1
        if self.done % self.every == 0 or self.done == self.total:
            left = (time.monotonic() - self.started) / self.done * (self.total - self.done)
            self.context.log.info(f"{self.stage}: {self.done}/{self.total}, about {left:.0f} s left")
