"""Tests for `sagan_edit.data`: each layout on tiny synthetic data, then the real data."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from sagan_edit.attributes import CELEBA_ATTRIBUTES
from sagan_edit.data import (
    DatasetError,
    ImageFileDataset,
    PackedDataset,
    celeba_identity_split,
    decode_image,
    default_data_root,
    detect_format,
    layouts,
    load_dataset,
    pack_dataset,
    read_attribute_file,
    read_label_csv,
)
from sagan_edit.errors import ImageLoadError, UnknownAttributeError
from sagan_edit.imaging import load_image, to_model_input

EYEGLASSES = CELEBA_ATTRIBUTES.index("Eyeglasses")


def _noise(seed: int, width: int, height: int) -> Image.Image:
    """A smooth random RGB image (JPEG keeps it close), different for every seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)


def _attribute_lines(files: list[str], labels: np.ndarray, count: int | None = None) -> str:
    """A CelebA-style attribute file: count line, 40 names, then rows of 1 / -1."""
    rows = [f"{count if count is not None else len(files)}", " ".join(CELEBA_ATTRIBUTES)]
    for name, row in zip(files, labels, strict=True):
        rows.append(name + " " + " ".join("1" if v else "-1" for v in row))
    return "\n".join(rows) + "\n"


def _labels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, (n, len(CELEBA_ATTRIBUTES)), dtype=np.uint8)


@pytest.fixture
def celebahq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, np.ndarray]:
    """A 6-image CelebA-HQ folder (32x32 JPEGs) split 4 train / 2 test."""
    monkeypatch.setattr(layouts, "CELEBAHQ_TRAIN_IMAGES", 4)
    root = tmp_path / "celebahq"
    (root / "images").mkdir(parents=True)
    files = [f"{i}.jpg" for i in range(1, 7)]
    for i, name in enumerate(files):
        _noise(i, 32, 32).save(root / "images" / name, quality=95)
    labels = _labels(len(files))
    (root / "attributes.txt").write_text(_attribute_lines(files, labels))
    return root, labels


@pytest.fixture
def celeba(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An official-layout CelebA folder: 178x218 images whose rows 0-19 and 198-217 are red.

    Identities: 000001-000003 are one person with 3 images (train), 000004 another with 1
    image (test); 000005 is in the label file but its image is absent.
    """
    monkeypatch.setattr(layouts, "PAPER_TRAIN_IDENTITIES", 1)
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    files = [f"{i:06d}.jpg" for i in range(1, 6)]
    for name in files[:4]:
        pixels = np.zeros((218, 178, 3), dtype=np.uint8)
        pixels[:, :] = (0, 200, 0)
        pixels[:20], pixels[198:] = (255, 0, 0), (255, 0, 0)
        Image.fromarray(pixels).save(root / "img_align_celeba" / name, quality=95)
    (root / "list_attr_celeba.txt").write_text(_attribute_lines(files, _labels(5), count=202599))
    ids = ["7", "7", "7", "3", "3"]
    identity = "".join(f"{f} {i}\n" for f, i in zip(files, ids, strict=True))
    (root / "identity_CelebA.txt").write_text("image identity\n" + identity)
    return root


def _folder(tmp_path: Path, body: str, n: int = 6, name: str = "labels.csv") -> Path:
    root = tmp_path / "mine"
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _noise(100 + i, 40, 30).save(root / ("sub" if i == 0 else "") / f"f{i}.png")
    (root / name).write_text(body)
    return root


CSV_01 = "file,Eyeglasses,smiling\nsub/f0.png,1,0\nf1.png,0,1\nf2.png,1,1\nf3.png,0,0\n"
CSV_PM = "file,Eyeglasses,smiling\nsub/f0.png,1,-1\nf1.png,-1,1\nf2.png,1,1\nf3.png,-1,-1\n"


# --- layouts ----------------------------------------------------------------------------------


def test_celebahq_layout_split_labels_and_pixels(celebahq: tuple[Path, np.ndarray]) -> None:
    root, labels = celebahq
    assert detect_format(root) == "celebahq"
    train = load_dataset(root, "eyeglasses", image_size=32)
    test = load_dataset(root, "EYEGLASSES", split="test", image_size=32)
    every = load_dataset(root, "Eyeglasses", split="all", image_size=16)
    assert train.files == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"] and test.files == ["5.jpg", "6.jpg"]
    assert len(every) == 6 and every.attribute == "Eyeglasses"
    assert train.flip and not test.flip and not every.flip  # flips default to train only
    assert torch.equal(train.labels, torch.tensor(labels[:4, EYEGLASSES], dtype=torch.float32))
    image, label = test[1]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert label.item() == labels[5, EYEGLASSES]
    expected = np.asarray(Image.open(root / "images" / "6.jpg").convert("RGB"))
    assert torch.equal(image, torch.tensor(expected).permute(2, 0, 1).float() / 127.5 - 1)
    assert every[0][0].shape == (3, 16, 16)
    assert -1.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_celeba_layout_crop_split_and_missing(celeba: Path) -> None:
    assert detect_format(celeba) == "celeba"
    train = load_dataset(celeba, "mouth_slightly_open", image_size=178)
    test = load_dataset(celeba, "Mouth Slightly Open", split="test", image_size=64)
    assert train.files == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert test.files == ["000004.jpg"]  # 000005 is labelled but has no image
    assert test.missing == 1 and train.attribute == "Mouth_Slightly_Open"
    # StarGAN's crop: the centred 178x178 square drops rows 0-19 and 198-217 (the red bands)
    with Image.open(celeba / "img_align_celeba" / "000001.jpg") as image:
        whole = np.asarray(image.convert("RGB"))
    assert np.array_equal(train.pixels(0), whole[20:198])
    assert whole[..., 0].mean() > 40 and train.pixels(0)[..., 0].mean() < 10
    assert test.pixels(0).shape == (64, 64, 3) and test.pixels(0)[..., 0].mean() < 10


def test_celeba_without_identity_file_allows_only_all(celeba: Path) -> None:
    (celeba / "identity_CelebA.txt").unlink()
    assert len(load_dataset(celeba, "smiling", split="all")) == 4
    with pytest.raises(DatasetError, match="identity_CelebA.txt"):
        load_dataset(celeba, "smiling", split="train")


@pytest.mark.parametrize("body", [CSV_01, CSV_PM], ids=["0/1", "-1/1"])
def test_folder_csv_labels(tmp_path: Path, body: str) -> None:
    root = _folder(tmp_path, body)
    assert detect_format(root) == "folder" and detect_format(root / "labels.csv") == "folder"
    for path in (root, root / "labels.csv"):
        every = load_dataset(path, "eyeglasses", split="all", image_size=24)
        assert every.files == ["sub/f0.png", "f1.png", "f2.png", "f3.png"]
        assert every.labels.tolist() == [1.0, 0.0, 1.0, 0.0]
    smiling = load_dataset(root, "Smiling", split="all")
    assert smiling.labels.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert smiling[0][0].shape == (3, 128, 128)


def test_folder_split_column_and_default_hash_split(tmp_path: Path) -> None:
    body = "file,split,Young\nf0.png,test,1\nf1.png,train,0\nf2.png,TRAIN,1\n"
    root = _folder(tmp_path, body.replace("f0.png", "sub/f0.png"))
    assert load_dataset(root, "young", split="test").files == ["sub/f0.png"]
    assert load_dataset(root, "young", split="train").files == ["f1.png", "f2.png"]
    # no split column: train and test partition the rows, and the test split is never empty
    root = _folder(tmp_path, CSV_01, name="other.csv")
    (root / "labels.csv").unlink()
    train = load_dataset(root, "eyeglasses", split="train")
    test = load_dataset(root, "eyeglasses", split="test")
    assert len(test) >= 1
    assert sorted(train.files + test.files) == sorted(["sub/f0.png", "f1.png", "f2.png", "f3.png"])


def test_folder_decoding_matches_inference(tmp_path: Path) -> None:
    root = _folder(tmp_path, CSV_01)
    image = load_dataset(root, "eyeglasses", split="all", image_size=24, flip=False)[1][0]
    expected = to_model_input(load_image(root / "f1.png")[0], 24)
    assert torch.equal(image, expected)


def test_large_jpeg_uses_draft_scaling_within_a_grey_level(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _noise(3, 640, 512).save(path, quality=95)
    fast = decode_image(path, 64).astype(int)
    with Image.open(path) as image:
        slow = np.asarray(image.crop((64, 0, 576, 512)).resize((64, 64), Image.Resampling.LANCZOS))
    assert fast.shape == (64, 64, 3)
    assert np.abs(fast - slow).mean() < 1.0


# --- the paper's split --------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["", "image identity\n"], ids=["official", "with-header"])
def test_identity_split_ranks_by_count_then_identity(tmp_path: Path, header: str) -> None:
    # identity 5 has 3 images; 2 and 9 tie with 2; 1 has 1: with 2 training identities the
    # tie between 2 and 9 goes to the smaller identity number
    rows = [("a", 9), ("b", 5), ("c", 2), ("d", 5), ("e", 1), ("f", 9), ("g", 2), ("h", 5)]
    path = tmp_path / "identity.txt"
    path.write_text(header + "".join(f"{f}.jpg {i}\n" for f, i in rows))
    train, test = celeba_identity_split(path, train_identities=2)
    assert train == ["b.jpg", "c.jpg", "d.jpg", "g.jpg", "h.jpg"]
    assert test == ["a.jpg", "e.jpg", "f.jpg"]
    with pytest.raises(DatasetError, match="4 identities"):
        celeba_identity_split(path, train_identities=4)


def test_identity_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "identity.txt"
    path.write_text("a.jpg 1\nb.jpg x\n")
    with pytest.raises(DatasetError, match=r"identity.txt:2: expected"):
        celeba_identity_split(path, train_identities=1)
    with pytest.raises(DatasetError, match="no such identity file"):
        celeba_identity_split(tmp_path / "absent.txt")


# --- bad input ----------------------------------------------------------------------------------


def test_unknown_attribute_lists_the_valid_names(
    celebahq: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, _ = celebahq
    with pytest.raises(UnknownAttributeError, match="Eyeglasses, Goatee") as info:
        load_dataset(root, "glasses")
    assert "glasses" in str(info.value) and "\n" not in str(info.value)
    folder = _folder(tmp_path, CSV_01)
    with pytest.raises(UnknownAttributeError, match="valid names: Eyeglasses, smiling$"):
        load_dataset(folder, "young", split="all")


def test_missing_files_and_folders_are_clear_errors(
    celebahq: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, _ = celebahq
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_dataset(tmp_path / "absent", "eyeglasses")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a data folder"):
        load_dataset(tmp_path / "empty", "eyeglasses")
    (root / "images").rename(root / "elsewhere")
    with pytest.raises(DatasetError, match="no images/ folder"):
        load_dataset(root, "eyeglasses")
    (root / "elsewhere").rename(root / "images")
    (root / "attributes.txt").rename(root / "attributes.bak")
    with pytest.raises(DatasetError, match="no attributes.txt"):
        load_dataset(root, "eyeglasses", data_format="celebahq")
    (root / "attributes.bak").rename(root / "attributes.txt")
    celeba = tmp_path / "celeba"
    (celeba / "img_align_celeba").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no list_attr_celeba.txt"):
        load_dataset(celeba, "eyeglasses")
    with pytest.raises(DatasetError, match="unknown split 'val'"):
        load_dataset(root, "eyeglasses", split="val")
    with pytest.raises(DatasetError, match="unknown data format 'lfw'"):
        load_dataset(root, "eyeglasses", data_format="lfw")
    with pytest.raises(DatasetError, match="limit must be positive"):
        load_dataset(root, "eyeglasses", limit=0)


def test_all_images_missing_is_an_error(celebahq: tuple[Path, np.ndarray]) -> None:
    root, _ = celebahq
    for image in (root / "images").iterdir():
        image.unlink()
    with pytest.raises(DatasetError, match="none of the 6 images"):
        load_dataset(root, "eyeglasses")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name,Eyeglasses\na.png,1\n", "first column must be the image name"),
        ("file,Eyeglasses\nf1.png,2\n", r"labels.csv:2: Eyeglasses is '2'"),
        ("file,Eyeglasses\nf1.png,1,0\n", r"labels.csv:2: expected 2 fields"),
        ("file,split,Eyeglasses\nf1.png,val,1\n", "split is 'val'"),
        ("file\nf1.png\n", "no attribute columns"),
    ],
)
def test_bad_csv_errors_name_the_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_label_csv(_folder(tmp_path, body) / "labels.csv")


def test_bad_attribute_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "attributes.txt"
    path.write_text("A B\nx.jpg 1 0\ny.jpg -1 1\n")  # no count line; 0 reads as -1
    table = read_attribute_file(path)
    assert table.files == ["x.jpg", "y.jpg"] and table.values.tolist() == [[1, 0], [0, 1]]
    path.write_text("2\nA B\nx.jpg 1 -1\ny.jpg 1 2\n")
    with pytest.raises(DatasetError, match=r"attributes.txt:4: values must be 1 or -1"):
        read_attribute_file(path)
    path.write_text("2\nA B\nx.jpg 1 -1\ny.jpg 1\n")
    with pytest.raises(DatasetError, match=r"attributes.txt:4: expected a file name and 2 values"):
        read_attribute_file(path)


def _break(celebahq: tuple[Path, np.ndarray]) -> Path:
    root, _ = celebahq
    (root / "images" / "2.jpg").write_bytes((root / "images" / "1.jpg").read_bytes()[:300])
    return root


def test_unreadable_image_raises_naming_the_file(celebahq: tuple[Path, np.ndarray]) -> None:
    train = load_dataset(_break(celebahq), "eyeglasses", flip=False)
    assert train[0][0].shape == (3, 128, 128)
    with pytest.raises(ImageLoadError, match=r"images/2\.jpg: not a readable image"):
        train[1]


def test_unreadable_image_skipped_and_counted(celebahq: tuple[Path, np.ndarray]) -> None:
    root, labels = celebahq
    train = load_dataset(_break(celebahq), "eyeglasses", flip=False, on_error="skip")
    assert isinstance(train, ImageFileDataset)
    with pytest.warns(UserWarning, match=r"2\.jpg: not a readable image"):
        image, label = train[1]
    assert torch.equal(image, train[2][0])  # the next readable image stands in, with its label
    assert label.item() == labels[2, EYEGLASSES]
    assert train.bad_files == {"2.jpg"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per file
        images, batch_labels = train.batch([1, 0])
    assert torch.equal(images[0], train[2][0]) and batch_labels[0].item() == labels[2, EYEGLASSES]


# --- flips --------------------------------------------------------------------------------------


def test_random_flip_mirrors_left_right(tmp_path: Path) -> None:
    root = _folder(tmp_path, CSV_01)
    plain = load_dataset(root, "eyeglasses", split="all", image_size=24, flip=False)
    flipping = load_dataset(root, "eyeglasses", split="all", image_size=24, flip=True)
    reference = plain[1][0]
    torch.manual_seed(0)
    seen = [flipping[1][0] for _ in range(12)]
    mirrored = [torch.equal(s, reference.flip(2)) for s in seen]
    assert all(m or torch.equal(s, reference) for s, m in zip(seen, mirrored, strict=True))
    assert 0 < sum(mirrored) < 12
    assert all(torch.equal(plain[1][0], reference) for _ in range(4))
    images, _ = flipping.batch([1] * 12, torch.Generator().manual_seed(0))
    assert 0 < sum(torch.equal(i, reference.flip(2)) for i in images) < 12


# --- packing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["raw", "jpeg", "webp"])
def test_pack_round_trip(celebahq: tuple[Path, np.ndarray], tmp_path: Path, encoding: str) -> None:
    root, _ = celebahq
    info = pack_dataset(root, tmp_path / "pack", image_size=24, encoding=encoding, workers=2)
    assert detect_format(tmp_path / "pack") == "packed" and info.count == 6 and not info.bad_files
    if encoding == "raw":  # uint8 pixels and a 128-byte .npy header
        assert info.bytes == 6 * 24 * 24 * 3 + 128
    else:
        assert 0 < info.bytes < 6 * 24 * 24 * 3
    for split in ("train", "test", "all"):
        jpeg = load_dataset(root, "smiling", split=split, image_size=24, flip=False)
        packed = load_dataset(tmp_path / "pack", "SMILING", split=split, flip=False)
        assert isinstance(packed, PackedDataset) and packed.image_size == 24
        assert packed.files == jpeg.files and torch.equal(packed.labels, jpeg.labels)
        for i in range(len(packed)):
            difference = (packed[i][0] - jpeg[i][0]).abs()
            if encoding == "raw":
                assert difference.max().item() == 0
            else:  # compressed at quality 90: within a few grey levels on average
                assert difference.mean().item() < 4 / 127.5
        images, batch_labels = packed.batch(range(len(packed)))
        assert torch.equal(images, torch.stack([packed[i][0] for i in range(len(packed))]))
        assert torch.equal(batch_labels, packed.labels)
    with pytest.raises(DatasetError, match="holds 24x24 images, not 128"):
        load_dataset(tmp_path / "pack", "smiling", image_size=128)


def test_pack_of_one_split_and_limit(celebahq: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = celebahq
    pack_dataset(root, tmp_path / "pack", image_size=8, split="train", limit=3)
    assert load_dataset(tmp_path / "pack", "eyeglasses").files == ["1.jpg", "2.jpg", "3.jpg"]
    with pytest.raises(DatasetError, match="no test images in this pack.*split=train"):
        load_dataset(tmp_path / "pack", "eyeglasses", split="test")
    with pytest.raises(DatasetError, match="not empty"):
        pack_dataset(root, tmp_path / "pack", image_size=8)
    pack_dataset(root, tmp_path / "pack", image_size=8, overwrite=True, encoding="jpeg")
    assert not (tmp_path / "pack" / "images.npy").exists()
    assert len(load_dataset(tmp_path / "pack", "eyeglasses", split="test")) == 2


def test_pack_skips_and_counts_unreadable_images(
    celebahq: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    info = pack_dataset(_break(celebahq), tmp_path / "pack", image_size=8)
    assert info.bad_files == ["2.jpg"] and info.count == 6
    train = load_dataset(tmp_path / "pack", "eyeglasses")
    assert train.files == ["1.jpg", "3.jpg", "4.jpg"]  # the bad image is never served


def test_incomplete_pack_is_not_a_pack(celebahq: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = celebahq
    pack_dataset(root, tmp_path / "pack", image_size=8)
    (tmp_path / "pack" / "images.npy").unlink()
    with pytest.raises(DatasetError, match=r"incomplete pack \(images.npy missing\)"):
        load_dataset(tmp_path / "pack", "eyeglasses")[0]
    (tmp_path / "pack" / "meta.json").unlink()
    with pytest.raises(DatasetError, match="not a data folder"):
        load_dataset(tmp_path / "pack", "eyeglasses")


def test_packed_dataset_pickles_small_and_works_in_dataloader_workers(
    celebahq: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, _ = celebahq
    pack_dataset(root, tmp_path / "pack", image_size=32)
    packed = load_dataset(tmp_path / "pack", "eyeglasses", split="all", flip=False)
    packed[0]  # opens the memmap
    assert len(pickle.dumps(packed)) < 6 * 32 * 32 * 3  # workers re-open the file, no copy
    loader = DataLoader(packed, batch_size=4, num_workers=1)
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, 32, 32) and labels.shape == (4,)
    assert torch.equal(images[3], packed[3][0])


# --- the real data (skipped when $SAGAN_DATA, by default ../shared/data, is absent) -----------


def test_data_root_follows_sagan_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAGAN_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    assert default_data_root(tmp_path / "other") == tmp_path / "other"
    monkeypatch.delenv("SAGAN_DATA")
    assert default_data_root("data") == Path("data")
    with pytest.raises(DatasetError, match="set SAGAN_DATA or pass a path"):
        default_data_root()


DATA = default_data_root()
needs_celeba = pytest.mark.skipif(
    not (DATA / "celeba" / "identity_CelebA.txt").is_file(),
    reason=f"official CelebA sample not found at {DATA / 'celeba'} (set SAGAN_DATA)",
)
needs_celebahq = pytest.mark.skipif(
    not (DATA / "celebahq128" / "attributes.txt").is_file(),
    reason=f"CelebA-HQ 128 not found at {DATA / 'celebahq128'} (set SAGAN_DATA)",
)


@needs_celeba
def test_real_identity_split_gives_the_papers_counts() -> None:
    train, test = celeba_identity_split(DATA / "celeba" / "identity_CelebA.txt")
    assert (len(train), len(test)) == (191_649, 10_950)
    assert not set(train) & set(test)


@needs_celeba
def test_real_celeba_sample_crop() -> None:
    root = DATA / "celeba"
    every = load_dataset(root, "Eyeglasses", split="all", image_size=178)
    assert len(every) == 32 and every.missing == 20_000 - 32  # the label file has 20,000 rows
    with Image.open(root / "img_align_celeba" / "000001.jpg") as image:
        assert image.size == (178, 218)
        expected = np.asarray(image.convert("RGB").crop((0, 20, 178, 198)))
    assert np.array_equal(every.pixels(0), expected)
    train = load_dataset(root, "eyeglasses", image_size=128)
    test = load_dataset(root, "eyeglasses", split="test", image_size=128)
    assert len(train) + len(test) == 32 and train[0][0].shape == (3, 128, 128)


@needs_celebahq
def test_real_celebahq_loader() -> None:
    root = DATA / "celebahq128"
    train = load_dataset(root, "eyeglasses")
    test = load_dataset(root, "eyeglasses", split="test")
    assert (len(train), len(test)) == (27_000, 3_000)
    assert test.files[0] == "27001.jpg" and train.files[-1] == "27000.jpg"
    assert 0.03 < train.positive_rate < 0.07  # the README says 4.9 % overall
    image, label = test[0]
    assert image.shape == (3, 128, 128) and label.item() in (0.0, 1.0)
    with Image.open(root / "images" / "27001.jpg") as source:
        assert np.array_equal(test.pixels(0), np.asarray(source.convert("RGB")))
