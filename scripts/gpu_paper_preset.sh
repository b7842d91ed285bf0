#!/usr/bin/env bash
# Train the paper preset (CelebA-HQ 128, batch 16, base 32, Adam 2e-4, 3 D steps per G step) on
# one GPU for about MINUTES minutes, and bring back steps/s, GPU memory, samples and the weights.
#
# Prepare on the CPU machine, from the repository root (the pack is ~50 MB and must travel with
# the working tree, so keep it in an ignored folder and name it in the device tool's `carry`):
#   echo /.gpu-data/ >> .git/info/exclude
#   python -c "from sagan_edit.data import pack_dataset; pack_dataset('../shared/data/celebahq128',
#              '.gpu-data/hq128', image_size=128, split='train', encoding='webp', quality=60)"
# Run on the GPU machine (torch etc. are installed there; the project runs from src/):
#   OUT=$OUT bash scripts/gpu_paper_preset.sh
# Bring back: the weights are converted to bf16 (24 MB for the paper's generator) and split into
# 15 MiB parts (the tool returns files of at most 16 MiB); join them with
#   cat model.safetensors.part-* > model.safetensors
# Settings: DATA (pack folder), ATTR, MINUTES, PRECISION (bf16|fp32), EXTRA (more train options,
# e.g. "--image-size 64 --base-channels 8" for a smoke test on a CPU).
set -euo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu-paper-preset}
DATA=${DATA:-.gpu-data/hq128}
ATTR=${ATTR:-eyeglasses}
MINUTES=${MINUTES:-10}
PRECISION=${PRECISION:-bf16}
EXTRA=${EXTRA:-}
mkdir -p "$OUT"
work=$(mktemp -d)

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
    nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv -l 5 >"$OUT/gpu_usage.csv" &
    monitor=$!
    trap 'kill $monitor 2>/dev/null || true' EXIT
fi

# 1. A short run measures steps/s, so that the real run's length (and its learning-rate decay,
#    which depends on --steps) fits the time budget.
# shellcheck disable=SC2086
python -m sagan_edit train --data "$DATA" --attr "$ATTR" --out "$work/probe" --steps 60 \
    --log-every 20 --sample-every 0 --checkpoint-every 0 --precision "$PRECISION" \
    --channels-last --quiet $EXTRA >/dev/null
steps=$(python - "$work/probe/log.jsonl" "$MINUTES" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
rate = records[-1]["steps_per_s"]
print(max(60, int(rate * 60 * float(sys.argv[2]))))
PY
)
echo "probe: $(tail -n 1 "$work/probe/log.jsonl" | cut -c1-200); training $steps steps"

# 2. The run itself.
# shellcheck disable=SC2086
python -m sagan_edit train --data "$DATA" --attr "$ATTR" --out "$work/run" --steps "$steps" \
    --log-every 50 --sample-every 0 --checkpoint-every 0 --precision "$PRECISION" \
    --channels-last --quiet $EXTRA

# 3. What comes back: log, last sample grid, model card, config and the weights in bf16 parts.
cp "$work/run/log.jsonl" "$OUT/log.jsonl"
cp "$(ls "$work"/run/samples/*.png | tail -n 1)" "$OUT/samples.png"
python - "$work/run/model" "$work/export" <<'PY'
import sys, torch
from sagan_edit import SaGAN
SaGAN.from_pretrained(sys.argv[1], device="cpu", dtype=torch.bfloat16).save_pretrained(sys.argv[2])
PY
cp "$work/run/model/README.md" "$work/run/model/config.json" "$OUT/"
split -b 15m "$work/export/model.safetensors" "$OUT/model.safetensors.part-"
ls -l "$OUT"
