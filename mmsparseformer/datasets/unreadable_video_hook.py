"""Counts the unreadable videos of a run and writes them to the log."""
from typing import Iterable, List, Optional, Sequence

from mmengine.dist import all_gather_object
from mmengine.hooks import Hook

from mmaction.registry import HOOKS
from .robust_video_dataset import UNREADABLE_VIDEOS_KEY

#: Message-hub keys of the run totals (saved in checkpoints, restored by
#: ``--resume`` only, not by ``load_from``).
TOTAL_READS_KEY = 'unreadable_video_reads'
TOTAL_FILES_KEY = 'unreadable_video_files'


def replaced_videos(data_samples: Optional[Iterable]) -> List[str]:
    """The unreadable videos that the samples of a batch replaced."""
    found: List[str] = []
    for sample in data_samples or ():
        metainfo = getattr(sample, 'metainfo', None) or {}
        found.extend(metainfo.get(UNREADABLE_VIDEOS_KEY, ()))
    return found


def format_names(names: Sequence[str], limit: int = 20) -> str:
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += f', ... ({len(names) - limit} more)'
    return shown


@HOOKS.register_module()
class UnreadableVideoHook(Hook):
    """Logs and counts the videos that could not be read.

    Training: :class:`~mmsparseformer.datasets.RobustVideoDataset` replaces
    an unreadable video by another sample and records it in the sample's
    metainfo; this hook collects those records from every batch (so the
    count is right with dataloader worker processes), sums them over
    distributed ranks and logs per epoch and in total:
    ``Unreadable videos in epoch 3: 2 files (2 reads) replaced by other
    samples; run total: 5 files (6 reads)``. The totals live in the
    runner's message hub, so checkpoints keep them and ``--resume``
    continues them.

    Validation and testing: lists the videos that ``skip_unreadable`` left
    out of the evaluation, after the metrics.
    """

    priority = 'LOW'  # after LoggerHook: the skip list follows the metrics

    def __init__(self) -> None:
        self._epoch_reads: List[str] = []
        self.total_reads = 0
        self.total_files: set = set()

    # ------------------------------------------------------------- training
    def before_train(self, runner) -> None:
        hub = runner.message_hub  # restored from the checkpoint on resume
        self.total_reads = int(hub.get_info(TOTAL_READS_KEY, 0))
        self.total_files = set(hub.get_info(TOTAL_FILES_KEY, ()))

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if not isinstance(data_batch, dict):
            return
        found = replaced_videos(data_batch.get('data_samples'))
        if found:
            self._epoch_reads.extend(found)
            runner.logger.warning(
                f'Iter {runner.iter + 1}: {len(found)} unreadable video(s) '
                f'replaced by other samples: {format_names(found)}')

    def _summarise(self, runner, period: str, quiet_if_none=False) -> None:
        """Gather the reads since the last summary over ranks and log.
        Every rank must call it (it is a collective)."""
        reads = [
            name for part in all_gather_object(self._epoch_reads)
            for name in part
        ]
        self._epoch_reads = []
        if quiet_if_none and not reads:
            return
        files = sorted(set(reads))
        self.total_reads += len(reads)
        self.total_files.update(files)
        message = (f'Unreadable videos in {period}: {len(files)} files '
                   f'({len(reads)} reads) replaced by other samples; run '
                   f'total: {len(self.total_files)} files '
                   f'({self.total_reads} reads)')
        if files:
            message += f'. Files: {format_names(files)}'
            runner.logger.warning(message)
        else:
            runner.logger.info(message)
        runner.message_hub.update_info(TOTAL_READS_KEY, self.total_reads)
        runner.message_hub.update_info(TOTAL_FILES_KEY,
                                       sorted(self.total_files))

    def after_train_epoch(self, runner) -> None:
        self._summarise(runner, f'epoch {runner.epoch + 1}')

    def after_train(self, runner) -> None:
        # iteration-based loops have no epochs: summarise what is left (on
        # every rank, even one with nothing left: it is a collective)
        self._summarise(
            runner, f'iterations up to {runner.iter}', quiet_if_none=True)

    # --------------------------------------------------- validation / test
    def _list_skipped(self, runner, loop, mode: str) -> None:
        dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
        skipped = getattr(dataset, 'skipped_videos', None)
        if getattr(dataset, 'skip_unreadable', False) is False:
            return
        if not skipped:
            runner.logger.info(
                f'{mode}: skip_unreadable left no video out; the metrics '
                f'cover all {len(dataset)} videos')
            return
        runner.logger.warning(
            f'{mode}: the metrics cover {len(dataset)} videos; '
            f'{len(skipped)} unreadable videos were left out '
            '(skip_unreadable):\n' +
            '\n'.join(f'  {name}: {reason}' for name, reason in skipped))

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._list_skipped(runner, runner.val_loop, 'Validation')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._list_skipped(runner, runner.test_loop, 'Test')
