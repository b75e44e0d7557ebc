"""Test-only hooks for the tool tests (imported through ``custom_imports``
with this directory on ``PYTHONPATH``).

``RecordSamplesHook`` writes, per rank and epoch, the dataset indices the
rank trained on and a checksum of its parameters to
``<work_dir>/samples/rank{r}_epoch{e}.json``. ``CrashAfterEpochHook`` kills
its own process with SIGKILL right after the checkpoint of an epoch is
written, like a job killed at that point.
"""
import json
import os
import os.path as osp
import signal
from typing import Optional

from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmaction.registry import HOOKS


@HOOKS.register_module()
class RecordSamplesHook(Hook):
    """Record what this rank read in every training epoch."""

    priority = 'LOW'

    def before_train_epoch(self, runner) -> None:
        self._samples = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._samples += [
            int(sample.metainfo['sample_idx'])
            for sample in data_batch['data_samples']
        ]

    def after_train_epoch(self, runner) -> None:
        model = runner.model
        model = getattr(model, 'module', model)
        checksum = float(sum(p.detach().double().abs().sum()
                             for p in model.parameters()))
        out_dir = osp.join(runner.work_dir, 'samples')
        os.makedirs(out_dir, exist_ok=True)
        record = dict(rank=get_rank(), epoch=runner.epoch + 1,
                      samples=self._samples, param_checksum=checksum)
        name = f'rank{get_rank()}_epoch{runner.epoch + 1}.json'
        with open(osp.join(out_dir, name), 'w') as f:
            json.dump(record, f)


@HOOKS.register_module()
class CrashAfterEpochHook(Hook):
    """SIGKILL this process after epoch ``epoch`` (1-based) and its
    checkpoint; ``epoch=None`` never does."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW)

    def __init__(self, epoch: Optional[int] = None) -> None:
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if self.epoch is not None and runner.epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
