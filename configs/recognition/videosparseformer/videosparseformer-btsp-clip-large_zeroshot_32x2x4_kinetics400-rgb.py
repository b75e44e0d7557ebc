# Zero-shot Kinetics-400 test of VideoSparseFormer btsp-clip-large: the
# SparseFormer bootstrapped from OpenAI CLIP ViT-L/14, inflated to video, with
# no video training. The btsp-clip-base zero-shot config (protocol, data and
# the sources of its numbers) with the large arch [btsp]: 63 + 1 tokens of
# 1024 channels and CLIP ViT-L/14's 768-d projection without bias, scored
# against a classifier built with the same CLIP:
#
#   python tools/zeroshot/build_text_classifier.py \
#       tools/data/kinetics/label_map_k400.txt --clip ViT-L-14 \
#       --model-path checkpoints/clip-vit-large-patch14 \
#       --out data/k400_clip-l14_classes.pt
#   python tools/test.py THIS_CONFIG \
#       checkpoints/sparseformer_btsp_clip_large_converted.pth
#
# (The official library's download table names the base file for the large
# model; a wrong file is refused, naming the keys and shapes that do not
# fit.)
_base_ = ['./videosparseformer-btsp-clip-base_zeroshot_32x2x4_kinetics400-rgb.py']

model = dict(
    backbone=dict(arch='btsp-clip-large'),
    cls_head=dict(
        in_channels=1024,
        proj_dims=768,
        classifier='data/k400_clip-l14_classes.pt'))
