# VideoSparseFormer-Base: the tiny model with the base arch.
_base_ = ['./video_sparseformer_tiny.py']

model = dict(backbone=dict(arch='base'), cls_head=dict(in_channels=768))
