"""N-way K-shot classification episodes on Omniglot (Lake et al. 2015, Science).

Reads the layout that torchvision's ``Omniglot`` downloads (``omniglot-py/images_background`` and
``omniglot-py/images_evaluation``, ``<Alphabet>/characterNN/*.png``), resizes to 28×28 as in
Vinyals et al. 2016 and Finn et al. 2017, and caches the resized images so later loads skip PNGs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from metarl.errors import ConfigError, DataError
from metarl.fewshot.episodes import Episode, require_positive

SPLIT_DIRS = {"train": "images_background", "test": "images_evaluation"}
"""Split → Omniglot folder: the 964 background characters train, the 659 evaluation ones test."""

PROTOCOLS: tuple[str, ...] = ("lake", "vinyals", "random")
"""How characters are split: "lake" (background trains, evaluation tests: Lake et al. 2015);
"vinyals" (both pooled, 1,200 characters train and the other 423 test: the split files of
Vinyals et al. 2016 that Prototypical Networks and MAML++ report on); "random" (both pooled, a
seeded random 1,200 / 423 split of characters, as MAML's and Reptile's code draw theirs)."""

POOLED_TRAIN_CHARACTERS = 1200
RANDOM_SPLIT_SEED = 0
"""The "vinyals" split lists the background characters, then the evaluation characters, each
sorted by ``"<Alphabet>/<character>"``, and trains on the first 1,200: character for character the
``trainval``/``test`` lists of Vinyals et al.'s split as shipped with Snell et al.'s code (test: the
last 4 Gurmukhi characters and 12 whole evaluation alphabets). The "random" split shuffles the
1,623 sorted names with ``numpy.random.default_rng(RANDOM_SPLIT_SEED).permutation`` and trains on
the first 1,200: the papers' sizes, with test characters from alphabets seen in training."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/metarl``, or ``~/.cache/metarl`` when that variable is unset."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "metarl"


class OmniglotTasks:
    """Omniglot characters as classes, sampled into few-shot episodes.

    Build with ``OmniglotTasks.load``. Split: "train" is the background set (964 characters of
    30 alphabets), "test" the evaluation set (659 characters of 20 other alphabets), the split of
    Lake et al. 2015 (protocol "lake"); no test character, nor even a test alphabet, is seen in
    training. Protocol "vinyals" pools both sets and trains on 1,200 characters, testing on the
    other 423 (Vinyals et al. 2016, Snell et al. 2017); "random" draws those 1,200 at random.

    Attributes:
        images: uint8 ``[n_classes, samples_per_class, size, size]``, strokes 255, background 0.
        classes: Name of each class, ``"<Alphabet>/<character>"``, plus ``"/rot90"`` etc. for
            rotated copies.
    """

    def __init__(self, images: np.ndarray, classes: list[str]) -> None:
        if images.ndim != 4 or images.shape[0] != len(classes):
            raise DataError(
                f"expected images of shape [n_classes={len(classes)}, samples, size, size], "
                f"got {list(images.shape)}"
            )
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.classes = classes

    @classmethod
    def load(
        cls,
        data_dir: Path,
        split: str,
        image_size: int = 28,
        cache_dir: Path | None = None,
        augment_rotations: bool = False,
        protocol: str = "lake",
    ) -> OmniglotTasks:
        """Load one split, from the cache when it holds this listing of PNGs at this size.

        Args:
            data_dir: The ``omniglot-py`` folder; only read, never written.
            split: "train" (``images_background``) or "test" (``images_evaluation``).
            image_size: Side of the square images after resizing with Lanczos filtering.
            cache_dir: Where the resized images are cached; defaults to ``default_cache_dir()``.
            augment_rotations: Add each character rotated by 90°, 180° and 270° as three new
                classes (Santoro et al. 2016, used by Finn et al. 2017).
            protocol: "lake", "vinyals" or "random" (see :data:`PROTOCOLS`).
        """
        if split not in SPLIT_DIRS:
            raise ConfigError(f"unknown Omniglot split {split!r}; expected 'train' or 'test'")
        if protocol not in PROTOCOLS:
            raise ConfigError(f"unknown Omniglot protocol {protocol!r}; choose one of {PROTOCOLS}")
        require_positive(image_size=image_size)
        if protocol != "lake":
            background, evaluation = (
                cls.load(data_dir, part, image_size, cache_dir) for part in SPLIT_DIRS
            )
            images = np.concatenate([background.images.numpy(), evaluation.images.numpy()])
            classes = background.classes + evaluation.classes
            chosen = pooled_split_indices(background.classes, evaluation.classes, split, protocol)
            images, classes = images[chosen], [classes[i] for i in chosen]
            if augment_rotations:
                images, classes = add_rotations(images, classes)
            return cls(images, classes)
        files = list_pngs(split_dir(Path(data_dir), split))
        cache = Path(cache_dir or default_cache_dir()) / cache_name(split, image_size, files)
        if cache.is_file():
            with np.load(cache) as stored:
                images, classes = stored["images"], [str(c) for c in stored["classes"]]
        else:
            images, classes = read_pngs(files, image_size)
            write_cache(cache, images, classes)
        if augment_rotations:
            images, classes = add_rotations(images, classes)
        return cls(images, classes)

    @property
    def n_classes(self) -> int:
        """Number of classes (characters, times 4 with rotations)."""
        return self.images.shape[0]

    @property
    def samples_per_class(self) -> int:
        """Drawings per class (20 in Omniglot)."""
        return self.images.shape[1]

    def sample(
        self, rng: np.random.Generator, n_tasks: int, ways: int, shots: int, queries: int
    ) -> Episode:
        """A batch of ``ways``-way ``shots``-shot episodes with ``queries`` queries per class.

        Each episode draws ``ways`` distinct classes and gives them labels ``0..ways-1`` in random
        order, then draws ``shots + queries`` distinct drawings of each class, so support and query
        never share an image. Both sets are grouped by label: label ``j`` fills positions
        ``j*shots .. (j+1)*shots - 1`` of the support.

        Returns:
            float32 images in [0, 1] (strokes 1) ``support_x [n_tasks, ways*shots, 1, size, size]``,
            ``query_x [n_tasks, ways*queries, 1, size, size]``, int64 labels ``support_y
            [n_tasks, ways*shots]`` and ``query_y [n_tasks, ways*queries]``.
        """
        require_positive(n_tasks=n_tasks, ways=ways, shots=shots, queries=queries)
        if ways > self.n_classes:
            raise DataError(f"ways={ways} exceeds the {self.n_classes} classes available")
        if shots + queries > self.samples_per_class:
            raise DataError(
                f"shots + queries = {shots} + {queries} = {shots + queries} exceeds the "
                f"{self.samples_per_class} drawings per class"
            )
        n = self.samples_per_class
        classes = np.stack(
            [rng.choice(self.n_classes, ways, replace=False) for _ in range(n_tasks)]
        )
        drawings = rng.permuted(np.broadcast_to(np.arange(n), (n_tasks, ways, n)), axis=-1)
        drawings = drawings[..., : shots + queries]
        x = self.images[classes[..., None], drawings].float().div_(255).unsqueeze(-3)
        labels = torch.arange(ways).expand(n_tasks, ways)
        return Episode(
            support_x=x[:, :, :shots].flatten(1, 2),
            support_y=labels.repeat_interleave(shots, dim=1),
            query_x=x[:, :, shots:].flatten(1, 2),
            query_y=labels.repeat_interleave(queries, dim=1),
        )


def pooled_split_indices(
    background: list[str],
    evaluation: list[str],
    split: str,
    protocol: str,
    n_train: int = POOLED_TRAIN_CHARACTERS,
) -> list[int]:
    """Indices into ``background + evaluation`` (character names) of the pooled protocol's
    ``split`` ("vinyals" or "random", see :data:`RANDOM_SPLIT_SEED`), ascending.

    Depends only on the two sets of names, not on their order in the lists.
    """
    names = background + evaluation
    if len(names) <= n_train:
        raise DataError(
            f"the {protocol} protocol needs more than {n_train} characters, found {len(names)}"
        )
    if protocol == "vinyals":
        order = sorted(range(len(background)), key=names.__getitem__) + sorted(
            range(len(background), len(names)), key=names.__getitem__
        )
    else:
        alphabetical = sorted(range(len(names)), key=names.__getitem__)
        shuffled = np.random.default_rng(RANDOM_SPLIT_SEED).permutation(len(names))
        order = [alphabetical[i] for i in shuffled]
    return sorted(order[:n_train] if split == "train" else order[n_train:])


def split_dir(data_dir: Path, split: str) -> Path:
    """``data_dir/<split folder>``, or a ``DataError`` saying what was expected where."""
    if not data_dir.is_dir():
        raise DataError(f"Omniglot data directory {data_dir} does not exist or is not a directory")
    folder = data_dir / SPLIT_DIRS[split]
    if folder.is_dir():
        return folder
    message = (
        f"Omniglot data directory {data_dir} has no {SPLIT_DIRS[split]}/ folder; expected the "
        f"omniglot-py layout with images_background/ and images_evaluation/"
    )
    if (data_dir / "omniglot-py" / SPLIT_DIRS[split]).is_dir():
        message += f" (did you mean {data_dir / 'omniglot-py'}?)"
    raise DataError(message)


def list_pngs(folder: Path) -> dict[str, list[Path]]:
    """``"<Alphabet>/<character>"`` → its sorted PNG paths, for every character under ``folder``."""
    files: dict[str, list[Path]] = {}
    for png in sorted(folder.glob("*/*/*.png")):
        files.setdefault(f"{png.parent.parent.name}/{png.parent.name}", []).append(png)
    if not files:
        raise DataError(f"no PNG images under {folder} (expected <Alphabet>/<character>/*.png)")
    counts = {len(paths) for paths in files.values()}
    if len(counts) != 1:
        smallest = min(files, key=lambda c: len(files[c]))
        raise DataError(
            f"Omniglot characters under {folder} have different numbers of drawings "
            f"({sorted(counts)}); e.g. {smallest} has {len(files[smallest])}"
        )
    return files


def cache_name(split: str, image_size: int, files: dict[str, list[Path]]) -> str:
    """Cache file name keyed by split, image size and a fingerprint of the PNGs' names and sizes."""
    digest = hashlib.sha256()
    for character, paths in files.items():
        for png in paths:
            digest.update(f"{character}/{png.name}:{png.stat().st_size}\n".encode())
    return f"omniglot-{split}-{image_size}px-{digest.hexdigest()[:16]}.npz"


def read_pngs(files: dict[str, list[Path]], image_size: int) -> tuple[np.ndarray, list[str]]:
    """Every PNG resized and inverted: uint8 ``[n_classes, n, size, size]``, strokes 255."""
    images = np.stack([[read_png(png, image_size) for png in paths] for paths in files.values()])
    return images, list(files)


def read_png(path: Path, image_size: int) -> np.ndarray:
    """One drawing as uint8 ``[size, size]`` with strokes 255 and background 0."""
    try:
        with Image.open(path) as image:
            gray = image.convert("L").resize((image_size, image_size), Image.Resampling.LANCZOS)
    except OSError as error:
        raise DataError(f"cannot read Omniglot image {path}: {error}") from error
    return 255 - np.asarray(gray, dtype=np.uint8)


def write_cache(path: Path, images: np.ndarray, classes: list[str]) -> None:
    """Write atomically (temporary file, then rename); warn and go on if that fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            np.savez(tmp, images=images, classes=np.array(classes))
        os.replace(tmp.name, path)
    except OSError as error:
        warnings.warn(f"could not cache Omniglot images at {path}: {error}", stacklevel=3)


def add_rotations(images: np.ndarray, classes: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each class followed by its 90°, 180° and 270° counter-clockwise rotations as new classes."""
    rotated = np.stack([np.rot90(images, k, axes=(2, 3)) for k in range(4)], axis=1)
    names = [f"{name}/rot{90 * k}" if k else name for name in classes for k in range(4)]
    return rotated.reshape(-1, *images.shape[1:]), names
