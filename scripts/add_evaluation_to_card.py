"""Put an evaluation's headline figures into a model folder's config and model card.

    sagan-edit eval --weights MODEL_DIR --data DATA --out EVAL_DIR
    python scripts/add_evaluation_to_card.py MODEL_DIR EVAL_DIR

Rewrites MODEL_DIR's config.json (``extra["evaluation"]``), README.md and model.safetensors
(the same tensors, in their stored dtype) atomically.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from safetensors.torch import load_file

from sagan_edit import SaGAN
from sagan_edit.evaluate import EvaluationReport


def main(model_dir: str, eval_dir: str) -> None:
    report = EvaluationReport.load(eval_dir)
    dtype = next(iter(load_file(str(Path(model_dir) / "model.safetensors")).values())).dtype
    model = SaGAN.from_pretrained(model_dir, device="cpu", dtype=dtype)
    model.config.extra["evaluation"] = report.summary()
    model.save_pretrained(model_dir)
    print(json.dumps(model.config.extra["evaluation"], indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:3])
