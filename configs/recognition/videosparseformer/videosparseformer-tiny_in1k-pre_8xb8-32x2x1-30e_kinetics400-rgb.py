# VideoSparseFormer-Tiny on Kinetics-400: ImageNet-1K SparseFormer v1 tiny
# inflated to 8 tubes per token, 32x2x1 clips, 8 GPUs x 8 clips, 30 epochs.
# Model: configs/_base_/models/video_sparseformer_tiny.py; recipe and the
# source of every number: configs/_base_/recipes/kinetics400_in1k-pre_8xb8-
# 32x2x1-30e.py. Train on GPUs with --amp (see docs/kinetics400.md).
_base_ = [
    '../../_base_/models/video_sparseformer_tiny.py',
    '../../_base_/recipes/kinetics400_in1k-pre_8xb8-32x2x1-30e.py'
]

# The ImageNet-1K SparseFormer v1 tiny checkpoint [paper]: any official layout
# (library "converted" files or the ImageNet-release files) or a converted
# one; it is inflated to replicates=8 when loaded. The backbone loads it, and
# the head takes its final norm (the 1000-class classifier is dropped).
# This variable is resolved when the file is read, so --cfg-options
# pretrained=... changes nothing; override both users instead:
#   --cfg-options model.backbone.pretrained=PATH \
#                 model.cls_head.init_cfg.checkpoint=PATH
# and to train from scratch:
#   --cfg-options model.backbone.pretrained=None model.cls_head.init_cfg=None
pretrained = 'checkpoints/sparseformer_v1_tiny.pth'
model = dict(
    backbone=dict(pretrained=pretrained),
    cls_head=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

# weight decay of MMAction2's Swin-tiny K400 config [swin]
optim_wrapper = dict(optimizer=dict(weight_decay=0.02))
