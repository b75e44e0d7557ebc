# VideoSparseFormer-Small on Kinetics-400: the tiny config (recipe, data and
# the sources of its numbers) with the small arch and its ImageNet-1K
# checkpoint. The backbone's and head's pretrained paths are set again:
# the tiny config's were resolved when it was read.
_base_ = [
    './videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_kinetics400-rgb.py'
]

pretrained = 'checkpoints/sparseformer_v1_small.pth'
model = dict(
    backbone=dict(arch='small', pretrained=pretrained),
    cls_head=dict(
        in_channels=640,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
