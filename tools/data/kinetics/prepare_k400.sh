#!/usr/bin/env bash
# Build the Kinetics-400 annotation lists and check every video.
#
#   bash tools/data/kinetics/prepare_k400.sh [DATA_ROOT] [NPROC]
#
# DATA_ROOT (default data/kinetics400) must hold the official CSV files
# annotations/{train,val}.csv and the downloaded clips in videos_{train,val}/
# (flat or in class folders, named {youtube_id}_{start:06d}_{end:06d}.<ext>).
# Writes, in DATA_ROOT:
#   kinetics400_{train,val}_list_videos.txt  the lists the configs read
#   missing_{train,val}.txt                  clips of the CSV not on disk
#   unreadable_{train,val}.txt               clips that do not decode
set -euo pipefail

DATA_ROOT=${1:-data/kinetics400}
NPROC=${2:-8}
PYTHON=${PYTHON:-python}
TOOLS=$(dirname "$0")

for SPLIT in train val; do
    "$PYTHON" "$TOOLS/build_video_list.py" \
        "$DATA_ROOT/annotations/$SPLIT.csv" "$DATA_ROOT/videos_$SPLIT" \
        "$DATA_ROOT/kinetics400_${SPLIT}_list_videos.txt" \
        --missing-out "$DATA_ROOT/missing_$SPLIT.txt"
    # check_videos.py exits with 1 when it finds unreadable videos
    STATUS=0
    "$PYTHON" "$TOOLS/check_videos.py" \
        "$DATA_ROOT/kinetics400_${SPLIT}_list_videos.txt" \
        "$DATA_ROOT/videos_$SPLIT" \
        --out "$DATA_ROOT/unreadable_$SPLIT.txt" --nproc "$NPROC" || STATUS=$?
    if [ "$STATUS" -gt 1 ]; then
        exit "$STATUS"
    fi
done
echo "Done. Training replaces unreadable videos; validation skips them."
echo "To leave the unreadable ones out of a test run (they are then listed):"
echo "  --cfg-options test_dataloader.dataset.skip_unreadable=$DATA_ROOT/unreadable_val.txt"
