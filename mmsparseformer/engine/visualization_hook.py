"""MMAction2's VisualizationHook, working for clip recognizers.

Two things stop MMAction2 1.2.0's ``VisualizationHook`` (and with it
``tools/test.py --show-dir``) for a ``Recognizer3D``:

* it reads each sample's input as one ``C x T x H x W`` video, but such a
  batch holds ``views x C x T x H x W`` per sample
  (``format_shape='NCTHW'``), so ``permute`` fails;
* it passes ``show=`` to ``ActionVisualizer.add_datasample``, which takes
  ``show_frames=``.

This hook draws the first view of each sample and passes ``show_frames``;
otherwise it is MMAction2's hook.
"""
from typing import Optional, Sequence

from mmaction.engine.hooks import VisualizationHook
from mmaction.registry import HOOKS
from mmaction.structures import ActionDataSample


@HOOKS.register_module()
class ClipVisualizationHook(VisualizationHook):
    """``VisualizationHook`` that draws the first view of 5-D inputs."""

    def __init__(self,
                 enable: bool = False,
                 interval: int = 5000,
                 show: bool = False,
                 out_dir: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(enable, interval, show, out_dir, **kwargs)
        self.draw_args = {**kwargs, 'show_frames': show}

    def _draw_samples(self,
                      batch_idx: int,
                      data_batch: dict,
                      data_samples: Sequence[ActionDataSample],
                      step: int = 0) -> None:
        inputs = [
            video[0] if video.dim() == 5 else video
            for video in data_batch['inputs']
        ]
        super()._draw_samples(batch_idx, dict(data_batch, inputs=inputs),
                              data_samples, step)
