# VideoSparseFormer bootstrapped from the AugReg ViT-L/16 on Kinetics-400:
# the btsp-augreg-base config with the large arch (widths 512 / 1024, 16 ViT
# blocks) and its checkpoint [btsp].
_base_ = [
    './videosparseformer-btsp-augreg-base_in21k-pre_8xb8-32x2x1-55e_kinetics400-rgb.py'  # noqa: E501
]

pretrained = 'checkpoints/sparseformer_btsp_augreg_large.pth'
model = dict(
    backbone=dict(arch='btsp-augreg-large', pretrained=pretrained),
    cls_head=dict(
        in_channels=1024,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
