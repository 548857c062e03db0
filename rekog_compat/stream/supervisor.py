"""Each server process's supervisor of stream processors: it claims every processor that should run and
that no live worker holds, and runs each in a worker of its own (worker.py).

With several processes or servers on one store, a processor runs in one of them at a time (the store's
lease); a RUNNING processor whose server stopped, or was killed, resumes in whichever claims it next.
On shutdown each worker ends promptly and hands its processor back, still to run.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ..leases import holder_gone, holder_name
from .output import KinesisWriter
from .sources import Source
from .worker import LEASE_S, ProcessorWorker

if TYPE_CHECKING:
    from ..context import Services

log = logging.getLogger("rekog_compat.stream")

CLAIM_EVERY_S = 1.0


class StreamSupervisor:
    """Claims processors to run and keeps one worker per processor it holds."""

    def __init__(self, services: Services, sources: dict[str, Source], sample_rate: float) -> None:
        self.services, self.sources, self.sample_rate = services, sources, sample_rate
        self.kinesis = KinesisWriter(services.config.kinesis_endpoint_url)
        self._owner = holder_name()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self.workers: dict[str, ProcessorWorker] = {}  # by processor ARN
        self._thread = threading.Thread(target=self._loop, name="stream-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A processor was started: look for it now."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        for worker in list(self.workers.values()):
            worker.stop.set()
        for worker in list(self.workers.values()):
            worker.thread.join(timeout)
        self._thread.join(timeout)

    def _abandoned(self, holder: str) -> bool:
        return holder != self._owner and holder_gone(holder)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            for arn, worker in list(self.workers.items()):
                if not worker.thread.is_alive():
                    del self.workers[arn]
            try:
                while (processor := self.services.store.stream_processors.claim(
                        self._owner, LEASE_S, self._abandoned)) is not None:
                    if processor.arn in self.workers:  # still ending here; its lease was ours already
                        continue
                    source = self.sources.get(processor.definition["Input"]["KinesisVideoStream"]["Arn"])
                    worker = ProcessorWorker(self.services, processor, self._owner, source, self.kinesis,
                                             self.sample_rate, self._stopping)
                    self.workers[processor.arn] = worker
                    log.info("stream processor %s started", processor.name)
                    worker.thread.start()
            except Exception:
                log.exception("stream processors: the store could not be read; retrying")
            self._wake.wait(CLAIM_EVERY_S)
            self._wake.clear()
