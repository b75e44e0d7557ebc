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
# Both splits run in one Python process (mmsparseformer/cli/prepare_k400.py:
# build_video_list.py, then check_videos.py, per split).
set -euo pipefail

PYTHON=${PYTHON:-python}
exec "$PYTHON" -m mmsparseformer.cli.prepare_k400 "$@"
