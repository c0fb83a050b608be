"""The book's image data pipeline (chapters 19-22) as small functions.

The book trains on Fashion-MNIST stored as PNG files, one folder per class::

    root/train/<label>/*.png
    root/test/<label>/*.png

:func:`load_image_dataset` reads both halves (the book's ``create_data_mnist``),
:func:`scale_images` flattens and scales to [-1, 1], :func:`shuffle_together`
shuffles as chapter 19 does, and :func:`prepare_image` reads one new image for
prediction as chapter 22 does. :func:`write_digits_folders` writes
scikit-learn's bundled 8x8 digits in that layout, a real data set with no
download.

>>> X, y, X_test, y_test, labels = load_image_dataset("digits")
>>> X, X_test = scale_images(X), scale_images(X_test)       # (N, 64) float32 in [-1, 1]
>>> X, y = shuffle_together(X, y)
>>> image = prepare_image("seven.png", size=(8, 8))          # (1, 64)
>>> labels[int(np.argmax(model.predict(image)))]
'7'

Images are read with Pillow (``pip install graphnn[images]``). Every bad input
(a missing folder, a folder without images, a file that is not an image, not
a regular file or a link leading out of the data folder, images of different
sizes, an image over ``max_pixels``) is a :class:`GraphError` naming the file;
nothing is returned half loaded.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np

from graphnn.core.errors import GraphError

MAX_PIXELS = 4096 * 4096  # per image; larger ones are refused before they are decoded


def load_image_folder(path, *, size=None, grayscale: bool = True,
                      max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read ``path/<label>/<image>`` into ``(X, y, labels)``.

    ``labels`` are the folder names, sorted (by number when every name is a
    whole number, so ``"10"`` follows ``"9"``); ``y[i]`` indexes ``labels``.
    ``X`` is uint8 ``(N, H, W)`` (``(N, H, W, 3)`` with ``grayscale=False``),
    ``y`` is ``(N,)`` uint8 (int64 past 256 classes), files in name order
    within each label. ``size=(width, height)`` (or one int for a square)
    resizes every image; without it all images must share one size.
    Names starting with ``.`` are skipped.
    """
    root = _folder(path)
    labels = _label_names(root)
    images, targets, first = [], [], None
    for index, label in enumerate(labels):
        files = [root / label / name for name in _listdir(root / label)]
        if not files:
            raise GraphError(f"load_image_folder: no images in {root / label}")
        for file in files:
            image = _read(file, root, size=size, grayscale=grayscale, max_pixels=max_pixels)
            if first is None:
                first = (file, image.shape)
            elif image.shape != first[1]:
                raise GraphError(f"load_image_folder: {file} is {_size(image.shape)} but {first[0]} is "
                                 f"{_size(first[1])}; pass size=(width, height) to resize them all")
            images.append(image)
            targets.append(index)
    y = np.array(targets, dtype=np.uint8 if len(labels) <= 256 else np.int64)
    return np.stack(images), y, labels


def load_image_dataset(root, *, size=None, grayscale: bool = True, max_pixels: int = MAX_PIXELS):
    """The book's ``create_data_mnist``: ``root/train`` and ``root/test`` read by :func:`load_image_folder`.

    Returns ``(X, y, X_test, y_test, labels)``; both halves must have the
    same label folders and image size.
    """
    root = _folder(root)
    X, y, labels = load_image_folder(root / "train", size=size, grayscale=grayscale, max_pixels=max_pixels)
    X_test, y_test, test_labels = load_image_folder(root / "test", size=size, grayscale=grayscale,
                                                    max_pixels=max_pixels)
    if test_labels != labels:
        raise GraphError(f"load_image_dataset: {root / 'train'} has labels {labels} but {root / 'test'} "
                         f"has {test_labels}")
    if X.shape[1:] != X_test.shape[1:]:
        raise GraphError(f"load_image_dataset: images in {root / 'train'} are {_size(X.shape[1:])} but "
                         f"in {root / 'test'} {_size(X_test.shape[1:])}")
    return X, y, X_test, y_test, labels


def scale_images(X) -> np.ndarray:
    """``(N, H, W[, C])`` pixels 0-255 to ``(N, H*W[*C])`` float32 in [-1, 1]: the book's ``(X - 127.5) / 127.5``."""
    X = np.asarray(X)
    if X.ndim < 2:
        raise GraphError(f"scale_images: expected a stack of images (N, H, W), got shape {X.shape}")
    return (X.reshape(X.shape[0], -1).astype(np.float32) - 127.5) / 127.5


def shuffle_together(X, y, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``y`` in one random order, pairs kept together.

    Without ``seed`` this is chapter 19's ``keys = np.array(range(n));
    np.random.shuffle(keys)`` on numpy's global generator (so ``nnfs.init()``
    makes it repeatable); an int or a ``np.random.Generator`` uses that instead.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise GraphError(f"shuffle_together: X and y need the same number of samples, got shapes "
                         f"{X.shape} and {y.shape}")
    keys = np.array(range(X.shape[0]))
    if seed is None:
        np.random.shuffle(keys)
    else:
        np.random.default_rng(seed).shuffle(keys)
    return X[keys], y[keys]


def prepare_image(path, size, *, invert="auto", grayscale: bool = True,
                  max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """One new image for ``model.predict``, as chapter 22: read, grayscale, resize, invert, scale.

    ``size=(width, height)`` (or one int) is the training images' size.
    ``invert=True`` is the book's ``255 - image`` (its photos are dark on light,
    Fashion-MNIST light on dark); ``"auto"`` inverts when the image is mostly
    light (mean above 127.5); ``False`` never. Returns ``(1, pixels)`` float32.
    """
    file = Path(path)
    if invert not in (True, False, "auto"):
        raise GraphError(f"prepare_image: invert must be True, False or 'auto', got {invert!r}")
    image = _read(file, None, size=size, grayscale=grayscale, max_pixels=max_pixels)
    if invert is True or (invert == "auto" and image.mean() > 127.5):
        image = 255 - image
    return scale_images(image[np.newaxis])


def label_names(predictions, labels) -> list[str]:
    """Class indices ``(N,)`` (``model.output_layer_activation.predictions(...)``) as label names."""
    return [labels[int(i)] for i in np.asarray(predictions).reshape(-1)]


def write_digits_folders(root, *, test_every: int = 4) -> list[str]:
    """Write scikit-learn's bundled 8x8 digits (1,797 images) as ``root/{train,test}/<digit>/<n>.png``.

    Values 0-16 become 0-255 (uint8, light digits on black). Every
    ``test_every``-th image goes to ``test``. Needs scikit-learn and Pillow;
    returns the paths of the test images, in order.
    """
    Image = _pillow()
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)
    written = []
    for n, (image, target) in enumerate(zip(pixels, digits.target)):
        half = "test" if n % test_every == 0 else "train"
        folder = Path(root) / half / str(target)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{n:04d}.png")
        if half == "test":
            written.append(str(folder / f"{n:04d}.png"))
    return written


# ---------------------------------------------------------------- helpers


def _pillow():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        raise GraphError("graphnn.datasets reads images with Pillow: pip install 'graphnn[images]'") from None
    return Image


def _folder(path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise GraphError(f"no such folder: {folder}")
    return folder


def _label_names(root: Path) -> list[str]:
    names = _listdir(root)
    if not names:
        raise GraphError(f"load_image_folder: {root} has no label folders (expected {root}/<label>/<image>)")
    for name in names:
        _inside(root / name, root)
        if not (root / name).is_dir():
            raise GraphError(f"load_image_folder: {root / name} is not a folder; {root} must hold only "
                             f"one folder per label")
    if all(name.isdecimal() for name in names):
        if len({int(name) for name in names}) < len(names):
            raise GraphError(f"load_image_folder: label folders in {root} name the same number twice: "
                             f"{sorted(names)}")
        return sorted(names, key=int)
    return sorted(names)


def _listdir(folder: Path) -> list[str]:
    """The names in ``folder`` not starting with ``.``, sorted."""
    try:
        return sorted(name for name in os.listdir(folder) if not name.startswith("."))
    except OSError as e:
        raise GraphError(f"cannot list {folder}: {e.strerror}") from None


def _inside(file: Path, root: Path) -> None:
    """Refuse a link that leads out of ``root``."""
    if not file.resolve().is_relative_to(root.resolve()):
        raise GraphError(f"{file} leads out of {root} (to {file.resolve()})")


def _size(shape) -> str:
    return f"{shape[1]}x{shape[0]}" + (f"x{shape[2]}" if len(shape) > 2 else "")


def _read(file: Path, root: Path | None, *, size, grayscale: bool, max_pixels: int) -> np.ndarray:
    """One image as uint8 ``(H, W)`` or ``(H, W, 3)``; anything wrong is a GraphError naming ``file``.

    ``root`` (when given) is the data folder ``file`` must not lead out of.
    """
    Image = _pillow()
    if root is not None:
        _inside(file, root)
    try:
        mode = os.stat(file).st_mode
    except OSError as e:
        raise GraphError(f"cannot read {file}: {e.strerror}") from None
    if not stat.S_ISREG(mode):
        raise GraphError(f"{file} is not a regular file")
    if size is not None:
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2 or not all(isinstance(n, int) and n > 0 for n in size):
            raise GraphError(f"size must be (width, height) in whole pixels, got {size!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise GraphError(f"{file} is {width}x{height} pixels, over the limit of {max_pixels} "
                                     f"(max_pixels)")
                image = image.convert("L" if grayscale else "RGB")
                if size is not None and image.size != size:
                    image = image.resize(size)
                return np.asarray(image, dtype=np.uint8).copy()
    except GraphError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise GraphError(f"{file} is too large to decode safely: {e}") from None
    except Image.UnidentifiedImageError:
        raise GraphError(f"{file} is not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt data
        raise GraphError(f"cannot read image {file}: {e}") from None
