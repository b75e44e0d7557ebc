# VideoSparseFormer-Small: the tiny model with the small arch.
_base_ = ['./video_sparseformer_tiny.py']

model = dict(backbone=dict(arch='small'), cls_head=dict(in_channels=640))
