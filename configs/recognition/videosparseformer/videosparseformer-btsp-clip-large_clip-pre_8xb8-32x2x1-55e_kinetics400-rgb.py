# VideoSparseFormer bootstrapped from OpenAI CLIP ViT-L/14 on Kinetics-400:
# the btsp-clip-base config (recipe, data and the sources of its numbers)
# with the large arch (63 tokens, widths 512 / 1024, 16 ViT blocks), its
# 1024 -> 768 CLIP projection and its checkpoint [btsp].
_base_ = [
    './videosparseformer-btsp-clip-base_clip-pre_8xb8-32x2x1-55e_kinetics400-rgb.py'  # noqa: E501
]

pretrained = 'checkpoints/sparseformer_btsp_openai_clip_large.pth'
model = dict(
    backbone=dict(arch='btsp-clip-large', pretrained=pretrained),
    cls_head=dict(
        in_channels=1024,
        proj_dims=768,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
