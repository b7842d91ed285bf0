"""Print one Markdown table comparing several evaluations (folders written by `sagan-edit eval`).

    python scripts/compare_evaluations.py runs/eval/compare-attention runs/eval/compare-none \\
        runs/eval/compare-residual --names SaGAN "whole image" residual

Rows are the metrics (adding / removing the attribute), columns the evaluations.
"""

from __future__ import annotations

import argparse

from sagan_edit.evaluate import EvaluationReport

ROWS = [
    ("editing accuracy (judge), add / remove", "editing_accuracy", "{:.1%}"),
    ("judge accuracy on the inputs, add / remove", "judge_accuracy_on_inputs", "{:.1%}"),
    ("attribute preservation, add / remove", "attribute_preservation", "{:.1%}"),
    ("mean abs. change, whole image (levels)", "mean_abs_change", "{:.2f}"),
    ("PSNR, whole image (dB)", "psnr", "{:.1f}"),
    ("mean abs. change outside the box (levels)", "mean_abs_change_outside", "{:.2f}"),
    ("PSNR outside the box (dB)", "psnr_outside", "{:.1f}"),
    ("mask mean", "mask_mean", "{:.3f}"),
    ("mask mass inside the box", "mask_mass_inside_box", "{:.1%}"),
]


def _fmt(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--names", nargs="+", help="column names (default: the folders)")
    args = parser.parse_args()
    reports = [EvaluationReport.load(f) for f in args.folders]
    names = args.names or args.folders
    print("| metric | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, key, fmt in ROWS:
        cells = [
            f"{_fmt(getattr(r.add, key), fmt)} / {_fmt(getattr(r.remove, key), fmt)}"
            for r in reports
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for label, key, fmt in [
        ("Fréchet classifier distance (FCD)", "frechet_classifier_distance", "{:.2f}"),
        ("reconstruction PSNR (dB)", "reconstruction_psnr", "{:.1f}"),
    ]:
        print(f"| {label} | " + " | ".join(_fmt(getattr(r, key), fmt) for r in reports) + " |")


if __name__ == "__main__":
    main()
