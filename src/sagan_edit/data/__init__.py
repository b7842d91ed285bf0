"""Training and evaluation data: CelebA, CelebA-HQ, own folders, the paper's split, a packed cache.

Every loader returns an `AttributeDataset` for **one** attribute. Item ``i`` is ``(image, label)``:
``image`` a (3, S, S) float32 tensor in [-1, 1] (the same scaling as inference), ``label`` a 0-d
float32 tensor, 1.0 when the face has the attribute. ``dataset.labels`` holds every label as a (N,)
float tensor (for positive rates), ``dataset.files`` the image names.

Layouts, recognised from the folder by `detect_format` (or named with ``data_format``) and
described in `sagan_edit.data.layouts`: ``celeba`` (official CelebA, the paper's identity split),
``celebahq`` (CelebA-HQ as in CelebAMask-HQ), ``folder`` (your own images and a label CSV) and
``packed`` (a folder written by `pack_dataset`, images decoded once; `sagan_edit.data.pack`).
Every name below is importable from ``sagan_edit.data``; the submodules are:

- `sagan_edit.data.labels`: label files, split names, the paper's CelebA identity split;
- `sagan_edit.data.layouts`: layout detection, `DataSource`, `default_data_root`;
- `sagan_edit.data.decode`: image decoding and scaling;
- `sagan_edit.data.datasets`: the datasets and `load_dataset`;
- `sagan_edit.data.pack`: the pack format.

Unreadable images: a dataset raises `ImageLoadError` naming the file (``on_error="raise"``,
the default), or, with ``on_error="skip"``, warns once per file, lists it in ``dataset.bad_files``
and serves the next readable image in its place. `pack_dataset` skips bad images and records
them in the pack, so a packed run never meets one. Every other problem with the data raises
`DatasetError` with a one-line message.

Throughput, measured on 2,000 CelebA-HQ 128 JPEGs on a 2-core CPU (the ratios matter more than
the figures): decoding served 910 images/s in the training process and 1,040/s from a DataLoader
with 2 workers, a third of the ~3,000/s a GPU consumes at the paper preset. A raw pack served
5.4× more item by item, and `AttributeDataset.batch` 9.1× more than the best JPEG loader
(9,500/s); `pack_dataset` ran at ~1,050 images/s. On a busy CPU, a DataLoader with
``num_workers=0`` over a pack ran 7.8× slower with torch's 2 intra-op threads than with 1 (its
collate stacks with torch) and 21× slower than ``batch``: in the training process use ``batch``,
or DataLoader workers.

Examples:
    Open the training split of a CelebA-HQ folder for eyeglasses:

    ```python
    from sagan_edit.data import load_dataset

    train = load_dataset("data/celebahq128", "eyeglasses", split="train")
    image, label = train[0]
    print(float(train.labels.mean()))  # the share of faces with eyeglasses
    ```
"""

from __future__ import annotations

from ..errors import DatasetError
from .datasets import AttributeDataset, ImageFileDataset, OnError, PackedDataset, load_dataset
from .decode import decode_image, to_tensor
from .labels import (
    PAPER_TRAIN_IDENTITIES,
    SPLITS,
    AttributeTable,
    Split,
    celeba_identity_split,
    read_attribute_file,
    read_identity_file,
    read_label_csv,
)
from .layouts import (
    CELEBA_CROP,
    CELEBAHQ_TRAIN_IMAGES,
    FORMATS,
    DataSource,
    default_data_root,
    detect_format,
    open_source,
)
from .pack import PackInfo, pack_dataset

__all__ = [
    "CELEBAHQ_TRAIN_IMAGES",
    "CELEBA_CROP",
    "FORMATS",
    "PAPER_TRAIN_IDENTITIES",
    "SPLITS",
    "AttributeDataset",
    "AttributeTable",
    "DataSource",
    "DatasetError",
    "ImageFileDataset",
    "OnError",
    "PackInfo",
    "PackedDataset",
    "Split",
    "celeba_identity_split",
    "decode_image",
    "default_data_root",
    "detect_format",
    "load_dataset",
    "open_source",
    "pack_dataset",
    "read_attribute_file",
    "read_identity_file",
    "read_label_csv",
    "to_tensor",
]
