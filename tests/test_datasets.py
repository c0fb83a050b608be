"""The image pipeline (graphnn.datasets) on small PNG folders the tests write, and the chapter 19-22 example."""

import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import graphnn as gn
from graphnn import datasets

ROOT = Path(__file__).resolve().parents[1]


def _png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)


def _pixels(label, n):
    """A 4x4 image whose values name its label and number."""
    return np.full((4, 4), 10 * label + n, dtype=np.uint8)


@pytest.fixture
def folder(tmp_path):
    """train/ and test/ with labels a, b, c; 2 training images and 1 test image each."""
    for label, name in enumerate("abc"):
        for n in range(2):
            _png(tmp_path / "train" / name / f"{n}.png", _pixels(label, n))
        _png(tmp_path / "test" / name / "0.png", _pixels(label, 5))
    return tmp_path


def test_load_image_folder_reads_labels_in_order(folder):
    X, y, labels = datasets.load_image_folder(folder / "train")
    assert labels == ["a", "b", "c"]
    assert X.shape == (6, 4, 4) and X.dtype == np.uint8
    assert y.tolist() == [0, 0, 1, 1, 2, 2] and y.dtype == np.uint8
    assert np.array_equal(X[3], _pixels(1, 1))


def test_load_image_dataset_is_create_data_mnist(folder):
    X, y, X_test, y_test, labels = datasets.load_image_dataset(folder)
    assert X.shape == (6, 4, 4) and X_test.shape == (3, 4, 4)
    assert y_test.tolist() == [0, 1, 2] and labels == ["a", "b", "c"]
    assert np.array_equal(X_test[2], _pixels(2, 5))


def test_numeric_labels_sort_by_number_and_hidden_files_are_skipped(tmp_path):
    for label in (2, 10, 1):
        _png(tmp_path / str(label) / "x.png", _pixels(label, 0))
    (tmp_path / "1" / ".DS_Store").write_bytes(b"\0")
    X, y, labels = datasets.load_image_folder(tmp_path)
    assert labels == ["1", "2", "10"]
    assert [int(X[i, 0, 0]) // 10 for i in range(3)] == [1, 2, 10]


def test_size_resizes_and_color_keeps_channels(folder):
    _png(folder / "train" / "a" / "big.png", np.zeros((8, 6), np.uint8))
    X, _, _ = datasets.load_image_folder(folder / "train", size=(3, 2))
    assert X.shape == (7, 2, 3)
    X, _, _ = datasets.load_image_folder(folder / "test", grayscale=False)
    assert X.shape == (3, 4, 4, 3) and X[1, 0, 0].tolist() == [15, 15, 15]


def _error(call, *names):
    with pytest.raises(gn.GraphError) as info:
        call()
    for name in names:
        assert str(name) in str(info.value), str(info.value)
    return str(info.value)


def test_missing_and_empty_folders(tmp_path):
    _error(lambda: datasets.load_image_folder(tmp_path / "nowhere"), tmp_path / "nowhere")
    _error(lambda: datasets.load_image_folder(tmp_path), tmp_path, "no label folders")
    (tmp_path / "a").mkdir()
    _error(lambda: datasets.load_image_folder(tmp_path), tmp_path / "a", "no images")
    _error(lambda: datasets.load_image_dataset(tmp_path), tmp_path / "train")


def test_label_folder_errors(tmp_path):
    _png(tmp_path / "a" / "0.png", _pixels(0, 0))
    (tmp_path / "readme.txt").write_text("hi")
    _error(lambda: datasets.load_image_folder(tmp_path), tmp_path / "readme.txt", "not a folder")
    os.remove(tmp_path / "readme.txt")
    for name in ("1", "01"):
        _png(tmp_path / "n" / name / "0.png", _pixels(0, 0))
    _error(lambda: datasets.load_image_folder(tmp_path / "n"), "same number twice")


def test_train_and_test_labels_must_agree(folder):
    _png(folder / "test" / "d" / "0.png", _pixels(3, 0))
    _error(lambda: datasets.load_image_dataset(folder), folder / "test", "'d'")


def test_file_errors_name_the_file(folder):
    train = folder / "train"
    bad = train / "b" / "notes.txt"
    bad.write_text("not an image")
    _error(lambda: datasets.load_image_folder(train), bad, "not an image")
    os.remove(bad)

    truncated = train / "b" / "cut.png"
    truncated.write_bytes((train / "b" / "0.png").read_bytes()[:40])
    _error(lambda: datasets.load_image_folder(train), truncated)
    os.remove(truncated)

    other = train / "c" / "wide.png"
    _png(other, np.zeros((4, 5), np.uint8))
    message = _error(lambda: datasets.load_image_folder(train), other, "5x4", "4x4")
    assert "size=" in message
    os.remove(other)

    fifo = train / "a" / "pipe.png"
    os.mkfifo(fifo)
    _error(lambda: datasets.load_image_folder(train), fifo, "not a regular file")
    os.remove(fifo)

    sub = train / "a" / "sub"
    sub.mkdir()
    _error(lambda: datasets.load_image_folder(train), sub, "not a regular file")


def test_links_may_not_lead_out_of_the_folder(folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    _png(outside / "x.png", _pixels(0, 0))
    link = folder / "train" / "a" / "link.png"
    link.symlink_to(outside / "x.png")
    _error(lambda: datasets.load_image_folder(folder / "train"), link, "leads out of")
    os.remove(link)
    (folder / "train" / "d").symlink_to(outside, target_is_directory=True)
    _error(lambda: datasets.load_image_folder(folder / "train"), folder / "train" / "d", "leads out of")
    os.remove(folder / "train" / "d")
    link.symlink_to(folder / "train" / "b" / "0.png")        # a link inside the folder is fine
    X, y, _ = datasets.load_image_folder(folder / "train")
    assert len(X) == 7 and np.array_equal(X[2], _pixels(1, 0))    # a/0, a/1, a/link, ...


def _png_header(width, height):
    """A PNG that declares width x height pixels and holds none (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_huge_images_are_refused_before_decoding(folder):
    _error(lambda: datasets.load_image_folder(folder / "train", max_pixels=15), folder / "train" / "a" / "0.png",
           "max_pixels")
    bomb = folder / "train" / "a" / "bomb.png"
    bomb.write_bytes(_png_header(100_000, 100_000))
    _error(lambda: datasets.load_image_folder(folder / "train"), bomb, "too large")
    bomb.write_bytes(_png_header(5000, 5000))                   # under Pillow's limit, over ours
    _error(lambda: datasets.load_image_folder(folder / "train"), bomb, "over the limit")


def test_scale_images_is_the_books_formula():
    X = np.array([[[0, 255], [127, 128]], [[1, 2], [3, 4]]], dtype=np.uint8)
    scaled = datasets.scale_images(X)
    assert scaled.shape == (2, 4) and scaled.dtype == np.float32
    assert scaled[0].tolist() == [-1.0, 1.0, np.float32(-0.5 / 127.5), np.float32(0.5 / 127.5)]
    assert np.array_equal(scaled, (X.reshape(2, -1).astype(np.float32) - 127.5) / 127.5)
    with pytest.raises(gn.GraphError):
        datasets.scale_images(np.zeros(3))


def test_shuffle_together_keeps_pairs():
    X = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    Xs, ys = datasets.shuffle_together(X, y, seed=1)
    assert not np.array_equal(ys, y) and sorted(ys.tolist()) == y.tolist()
    assert np.array_equal(Xs[:, 0] // 2, ys)
    np.random.seed(3)
    _, book = datasets.shuffle_together(X, y)
    np.random.seed(3)
    keys = np.array(range(20))
    np.random.shuffle(keys)                                     # chapter 19's shuffle
    assert np.array_equal(book, y[keys])
    with pytest.raises(gn.GraphError):
        datasets.shuffle_together(X, y[:5])


def test_prepare_image_as_chapter_22(tmp_path):
    light = np.full((8, 6), 250, np.uint8)
    light[2:6, 2:4] = 10                                        # a dark mark on white, like the book's photos
    _png(tmp_path / "photo.png", light)
    image = datasets.prepare_image(tmp_path / "photo.png", size=(3, 4))
    assert image.shape == (1, 12) and image.dtype == np.float32
    resized = np.asarray(Image.open(tmp_path / "photo.png").convert("L").resize((3, 4)))
    assert np.array_equal(image, ((255 - resized).reshape(1, -1).astype(np.float32) - 127.5) / 127.5)
    same = datasets.prepare_image(tmp_path / "photo.png", size=(3, 4), invert=False)
    assert np.array_equal(same, -image)
    _png(tmp_path / "dark.png", 255 - light)                    # already light on dark: "auto" keeps it
    assert np.array_equal(datasets.prepare_image(tmp_path / "dark.png", size=(3, 4)), image)
    assert datasets.prepare_image(tmp_path / "dark.png", size=4).shape == (1, 16)
    _error(lambda: datasets.prepare_image(tmp_path / "none.png", size=4), tmp_path / "none.png")
    _error(lambda: datasets.prepare_image(tmp_path / "photo.png", size=(0, 4)), "size")
    assert datasets.label_names(np.array([2, 0]), ["a", "b", "c"]) == ["c", "a"]


def test_digits_folders_hold_the_digits(tmp_path):
    test_files = datasets.write_digits_folders(tmp_path)
    X, y, X_test, y_test, labels = datasets.load_image_dataset(tmp_path)
    assert labels == [str(d) for d in range(10)]
    assert X.shape == (1347, 8, 8) and X_test.shape == (450, 8, 8) and len(test_files) == 450
    assert X.max() == 255 and X.min() == 0


def test_example_reaches_95_percent_on_the_digits(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", TMPDIR=str(tmp_path))
    env.pop("GRAPHNN_EPOCHS", None)
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "ch19_22_images.py")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("train: (1347, 8, 8), test: (450, 8, 8)")
    assert sum(line.startswith("epoch: ") for line in lines) == 20
    assert lines[-4:-2] == ["same predictions after load_parameters: True", "same predictions after Model.load: True"]
    assert re.fullmatch(r"files: \['0000.png', '0004.png', '0008.png'\], predicted: \['0', '4', '8'\]", lines[-2])
    accuracy = float(re.fullmatch(r"validation accuracy: (\d\.\d+)", lines[-1]).group(1))
    assert accuracy >= 0.95
    assert [p.name for p in tmp_path.glob("*/model.svg")] == ["model.svg"]
