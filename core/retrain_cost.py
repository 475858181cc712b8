"""What retraining without Df would cost, estimated in the job itself: a few steps of the checkpoint's own
recipe on Dr, timed under the same load as the method, extrapolated to the recipe's whole run.

A gold model's cached training time was taken under whatever load there was when it ran, so a time ratio
against it flips between identical runs on an idle and a busy machine; a ratio of two times measured in the
same process a moment apart does not.
"""

from __future__ import annotations

import statistics
import time

from .cards import fresh_model
from .methods import UnlearnTask
from .runtime import iter_batches
from .train import optimizer, step, steps_per_run

# Steps run untimed first (allocator and kernel warm-up), then steps timed. The median step is used: on a
# shared machine a step now and then waits for a core, and a mean of a few steps amplifies that wait into
# the whole run's estimate (seen here: 105 s estimated for a 16 s retraining with the other core busy).
WARMUP_STEPS = 2
TIMED_STEPS = 15


def estimate_retrain_seconds(task: UnlearnTask, *, timed_steps: int = TIMED_STEPS, seed: int = 0) -> float:
    """Seconds a retraining of the checkpoint's recipe on Dr would take on this machine, now."""
    cfg = task.train_config
    model = fresh_model(task.card, seed).to(task.device).train()
    opt = optimizer(model, cfg)
    batches = iter_batches(task.retain, cfg.batch_size)
    times = []
    for k in range(WARMUP_STEPS + timed_steps):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter_batches(task.retain, cfg.batch_size)
            x, y = next(batches)
        t0 = time.perf_counter()
        step(model, opt, x.to(task.device), y.to(task.device))
        if task.device.type == "cuda":
            import torch

            torch.cuda.synchronize(task.device)
        if k >= WARMUP_STEPS:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * steps_per_run(cfg, len(task.retain.tensors[0]))
