# VideoSparseFormer-Base on Kinetics-400: the tiny config (recipe, data and
# the sources of its numbers) with the base arch, its ImageNet-1K checkpoint
# and the weight decay of MMAction2's Swin-base Kinetics-400 config. The
# backbone's and head's pretrained paths are set again: the tiny config's
# were resolved when it was read.
_base_ = [
    './videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_kinetics400-rgb.py'
]

pretrained = 'checkpoints/sparseformer_v1_base.pth'
model = dict(
    backbone=dict(arch='base', pretrained=pretrained),
    cls_head=dict(
        in_channels=768,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

optim_wrapper = dict(optimizer=dict(weight_decay=0.05))
