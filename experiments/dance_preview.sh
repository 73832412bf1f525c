#!/usr/bin/env bash
# Issue 45's preview goal: the one command on a 60 s 30 fps target (the synthetic dancer made
# into an ordinary mp4 with sound: no real target of minutes is available offline) and a real
# source, timed stage by stage. The source used in docs/everybody_dance_now.md is Sports2D's
# demo clip (PyPI sports2d 0.8.34, Sports2D/Demo/demo.mp4: 7.7 s outdoors, two people, sound),
# following the woman in the foreground (--person=1400,700).
#   bash experiments/dance_preview.sh SOURCE.mp4 [RUNS] [PERSON]   (about half an hour, 2 cores)
set -euo pipefail
SOURCE=${1:?usage: experiments/dance_preview.sh SOURCE.mp4 [RUNS] [PERSON]}
RUNS=${2:-runs/dance_preview}
PERSON=${3:-largest}
mkdir -p "$RUNS"
[ -f "$RUNS/target_60s.mp4" ] || python experiments/make_dance_target.py "$RUNS/target_60s.mp4" \
  --seconds=60 --fps=30
/usr/bin/time -v python -m jaxvid.dance --target="$RUNS/target_60s.mp4" \
  --source="$SOURCE" --person="$PERSON" --preset=preview \
  --workdir="$RUNS/work" --output="$RUNS/dancing.mp4" --noprogress 2>&1 | tee "$RUNS/log.txt"
