# VideoSparseFormer bootstrapped from the AugReg ViT-B/16 (ImageNet-21K) on
# Kinetics-400: the btsp-clip-base config (recipe, data and the sources of
# its numbers) with the AugReg arch, head and normalisation [btsp]. Its
# 1000-class classifier is replaced by a 400-class one on the normalised
# class token (no projection); the AugReg ViTs normalise with the Inception
# mean and std (0.5 / 0.5).
_base_ = [
    './videosparseformer-btsp-clip-base_clip-pre_8xb8-32x2x1-55e_kinetics400-rgb.py'  # noqa: E501
]

pretrained = 'checkpoints/sparseformer_btsp_augreg_base.pth'
model = dict(
    backbone=dict(arch='btsp-augreg-base', pretrained=pretrained),
    cls_head=dict(
        proj_dims=None,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]))
