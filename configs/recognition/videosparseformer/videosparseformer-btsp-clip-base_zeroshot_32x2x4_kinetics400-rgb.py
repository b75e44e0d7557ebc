# Zero-shot Kinetics-400 test of VideoSparseFormer btsp-clip-base: the
# SparseFormer bootstrapped from OpenAI CLIP ViT-B/16, inflated to video, with
# no video training at all. A video's embedding (class token, final norm and
# the checkpoint's CLIP projection) is compared with CLIP text embeddings of
# the 400 class names (docs/zero_shot.md). Test only:
#
#   python tools/zeroshot/build_text_classifier.py \
#       tools/data/kinetics/label_map_k400.txt --clip ViT-B-16 \
#       --model-path checkpoints/clip-vit-base-patch16 \
#       --out data/k400_clip-b16_classes.pt
#   python tools/test.py THIS_CONFIG \
#       checkpoints/sparseformer_btsp_clip_base_converted.pth
#
# The checkpoint is the official image file: tools/test.py converts it and
# inflates it to 8 replicates when it loads it; a converted file
# (tools/convert/sparseformer_official.py) works too. The btsp-clip-large
# config inherits this one. Another label set:
#   --cfg-options model.cls_head.classifier=FILE model.cls_head.num_classes=K
#
# Where the numbers come from: the btsp-clip-base Kinetics-400 config this
# one inherits (arch, CLIP normalisation, the 4 clips x 3 crops test
# protocol, each sourced there), and
#   [clip]  CLIP (Radford et al., 2021): the Kinetics prompt templates and
#           the logit scale 100 (stored in the classifier file);
#   [project] choices of this project, explained where they are made.
_base_ = [
    './videosparseformer-btsp-clip-base_clip-pre_8xb8-32x2x1-55e_kinetics400-rgb.py'  # noqa: E501
]

model = dict(
    # CHECKPOINT of tools/test.py provides the weights
    backbone=dict(pretrained=None),
    cls_head=dict(
        _delete_=True,
        type='ZeroShotHead',
        num_classes=400,  # Kinetics-400
        in_channels=768,  # token width of btsp-clip-base
        proj_dims=512,  # CLIP ViT-B/16 embedding width
        # [project] built by tools/zeroshot/build_text_classifier.py with
        # --clip ViT-B-16 from tools/data/kinetics/label_map_k400.txt
        classifier='data/k400_clip-b16_classes.pt',
        average_clips='prob'))

# test only: nothing is trained or validated
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
val_dataloader = val_cfg = val_evaluator = auto_scale_lr = None
