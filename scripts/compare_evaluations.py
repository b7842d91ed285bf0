"""Print one Markdown table comparing several evaluations (folders written by `sagan-edit eval`).

    python scripts/compare_evaluations.py runs/eval/compare-attention runs/eval/compare-none \\
        runs/eval/compare-residual --names SaGAN "whole image" residual

Rows are the metrics (adding / removing the attribute), columns the evaluations.
"""

from __future__ import annotations

import argparse

from sagan_edit.evaluate import DIRECTION_ROWS, EvaluationReport, format_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--names", nargs="+", help="column names (default: the folders)")
    args = parser.parse_args()
    reports = [EvaluationReport.load(f) for f in args.folders]
    names = args.names or args.folders
    print("| metric | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, key, fmt in DIRECTION_ROWS:
        print(f"| {label} | " + " | ".join(r.both(key, fmt) for r in reports) + " |")
    for label, key, fmt in [
        ("Fréchet classifier distance (FCD)", "frechet_classifier_distance", "{:.2f}"),
        ("reconstruction PSNR (dB)", "reconstruction_psnr", "{:.1f}"),
    ]:
        values = (format_value(getattr(r, key), fmt) for r in reports)
        print(f"| {label} | " + " | ".join(values) + " |")


if __name__ == "__main__":
    main()
