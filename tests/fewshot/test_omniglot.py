"""Omniglot loading, caching and episode sampling, on a tiny synthetic tree and on the real set."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from metarl.errors import ConfigError, DataError
from metarl.fewshot import omniglot
from metarl.fewshot.omniglot import OmniglotTasks

REAL_DIR = Path(__file__).parents[2].parent / "shared" / "datasets" / "omniglot-py"
DRAWINGS = 6


def write_split(root: Path, folder: str, alphabets: list[str], characters: int = 4) -> None:
    """``characters`` characters per alphabet, ``DRAWINGS`` random binary 105×105 PNGs each."""
    rng = np.random.default_rng(len(folder) + len(alphabets))
    for alphabet in alphabets:
        for c in range(1, characters + 1):
            character = root / folder / alphabet / f"character{c:02d}"
            character.mkdir(parents=True)
            for d in range(1, DRAWINGS + 1):
                pixels = rng.random((105, 105)) > 0.1
                Image.fromarray(pixels).save(character / f"{c:04d}_{d:02d}.png")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """An omniglot-py tree: 3 alphabets × 4 characters train, 2 other alphabets × 4 test."""
    root = tmp_path_factory.mktemp("data") / "omniglot-py"
    write_split(root, "images_background", ["Alpha", "Beta", "Gamma"])
    write_split(root, "images_evaluation", ["Delta", "Epsilon"])
    return root


@pytest.fixture(scope="module")
def tasks(data_dir, tmp_path_factory) -> OmniglotTasks:
    return OmniglotTasks.load(data_dir, "train", cache_dir=tmp_path_factory.mktemp("cache"))


def sample(tasks, seed=0, n_tasks=4, ways=3, shots=2, queries=3):
    return tasks.sample(np.random.default_rng(seed), n_tasks, ways, shots, queries)


def test_load_reads_every_character(tasks):
    assert tasks.n_classes == 12 and tasks.samples_per_class == DRAWINGS
    assert tasks.images.shape == (12, DRAWINGS, 28, 28) and tasks.images.dtype == torch.uint8
    assert tasks.classes[:2] == ["Alpha/character01", "Alpha/character02"]


def test_episode_shapes_and_dtypes(tasks):
    episode = sample(tasks, n_tasks=4, ways=3, shots=2, queries=3)
    assert episode.support_x.shape == (4, 6, 1, 28, 28)
    assert episode.query_x.shape == (4, 9, 1, 28, 28)
    assert episode.support_y.shape == (4, 6) and episode.query_y.shape == (4, 9)
    assert episode.support_x.dtype == episode.query_x.dtype == torch.float32
    assert episode.support_y.dtype == episode.query_y.dtype == torch.int64
    assert episode.support_x.min() >= 0 and episode.support_x.max() <= 1


def test_images_are_inverted_so_strokes_are_one(tmp_path):
    png = tmp_path / "stroke.png"
    pixels = np.full((105, 105), 255, np.uint8)
    pixels[:, :52] = 0  # left half black ink on white paper
    Image.fromarray(pixels).save(png)
    image = omniglot.read_png(png, 28)
    assert image.dtype == np.uint8 and image.shape == (28, 28)
    assert (image[:, :10] == 255).all() and (image[:, 18:] == 0).all()


def test_labels_cover_each_way_shots_times(tasks):
    episode = sample(tasks, ways=3, shots=2, queries=3)
    for support_y, query_y in zip(episode.support_y, episode.query_y, strict=True):
        assert torch.equal(support_y.bincount(), torch.full((3,), 2))
        assert torch.equal(query_y.bincount(), torch.full((3,), 3))


def identify(tasks: OmniglotTasks, images: torch.Tensor) -> list[tuple[int, int]]:
    """``(class, drawing)`` index in ``tasks`` of each float image ``[n, 1, size, size]``."""
    index = {
        tasks.images[c, d].numpy().tobytes(): (c, d)
        for c in range(tasks.n_classes)
        for d in range(tasks.samples_per_class)
    }
    assert len(index) == tasks.n_classes * tasks.samples_per_class  # random drawings are unique
    return [index[(image[0] * 255).round().to(torch.uint8).numpy().tobytes()] for image in images]


def test_episodes_hold_distinct_drawings_of_distinct_classes(tasks):
    episode = sample(tasks, n_tasks=8, ways=4, shots=2, queries=4)
    for t in range(8):
        found = identify(tasks, torch.cat([episode.support_x[t], episode.query_x[t]]))
        labels = torch.cat([episode.support_y[t], episode.query_y[t]]).tolist()
        assert len(set(found)) == len(found)  # support and query disjoint, no drawing twice
        class_of = dict(zip(labels, (c for c, _ in found), strict=True))
        assert set(zip(labels, (c for c, _ in found), strict=True)) == set(class_of.items())
        assert len(set(class_of.values())) == 4  # one class per label, four distinct classes


def test_labels_are_randomly_assigned_to_classes(tasks):
    episode = sample(tasks, n_tasks=20, ways=tasks.n_classes, shots=1, queries=1)
    class_of_label_0 = {identify(tasks, episode.support_x[t, :1])[0][0] for t in range(20)}
    assert len(class_of_label_0) > 1


def test_seeded_determinism(tasks):
    a, b, c = sample(tasks, seed=5), sample(tasks, seed=5), sample(tasks, seed=6)
    for name in vars(a):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.support_x, c.support_x)


def test_train_and_test_share_no_character(data_dir, tmp_path):
    train = OmniglotTasks.load(data_dir, "train", cache_dir=tmp_path)
    test = OmniglotTasks.load(data_dir, "test", cache_dir=tmp_path)
    assert test.n_classes == 8
    assert not set(train.classes) & set(test.classes)


def test_second_load_uses_the_cache_and_never_writes_data_dir(data_dir, tmp_path, monkeypatch):
    listing = sorted(data_dir.rglob("*"))
    first = OmniglotTasks.load(data_dir, "train", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("omniglot-train-28px-*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("read a PNG although the cache holds this split")

    monkeypatch.setattr(omniglot.Image, "open", fail)
    second = OmniglotTasks.load(data_dir, "train", cache_dir=tmp_path)
    assert torch.equal(first.images, second.images) and first.classes == second.classes
    assert sorted(data_dir.rglob("*")) == listing


def test_cache_is_keyed_by_size_and_listing(data_dir, tmp_path, monkeypatch):
    OmniglotTasks.load(data_dir, "test", cache_dir=tmp_path)
    assert (
        OmniglotTasks.load(data_dir, "test", image_size=14, cache_dir=tmp_path).images.shape[-1]
        == 14
    )
    assert len(list(tmp_path.iterdir())) == 2
    write_split(tmp_path / "more", "images_evaluation", ["Delta", "Epsilon", "Zeta"], characters=1)
    grown = OmniglotTasks.load(tmp_path / "more", "test", cache_dir=tmp_path)
    assert grown.n_classes == 3 and len(list(tmp_path.glob("*.npz"))) == 3


def test_default_cache_dir_follows_xdg(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert omniglot.default_cache_dir() == tmp_path / "metarl"
    OmniglotTasks.load(data_dir, "test")
    assert len(list((tmp_path / "metarl").glob("omniglot-test-*.npz"))) == 1


def test_rotations_add_three_classes_per_character(data_dir, tmp_path):
    plain = OmniglotTasks.load(data_dir, "train", cache_dir=tmp_path)
    rotated = OmniglotTasks.load(data_dir, "train", cache_dir=tmp_path, augment_rotations=True)
    assert rotated.n_classes == 4 * plain.n_classes
    assert rotated.classes[4:8] == [
        f"Alpha/character02{r}" for r in ("", "/rot90", "/rot180", "/rot270")
    ]
    assert torch.equal(rotated.images[4], plain.images[1])
    assert torch.equal(rotated.images[5], torch.rot90(plain.images[1], 1, dims=(1, 2)))


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="nowhere.*does not exist"):
        OmniglotTasks.load(tmp_path / "nowhere", "train", cache_dir=tmp_path)


def test_data_dir_without_split_folders(tmp_path):
    with pytest.raises(DataError, match="no images_background/ folder"):
        OmniglotTasks.load(tmp_path, "train", cache_dir=tmp_path)


def test_parent_of_omniglot_py_gets_a_hint(data_dir, tmp_path):
    with pytest.raises(DataError, match="did you mean .*omniglot-py"):
        OmniglotTasks.load(data_dir.parent, "test", cache_dir=tmp_path)


def test_no_pngs(tmp_path):
    (tmp_path / "images_background" / "Alpha" / "character01").mkdir(parents=True)
    with pytest.raises(DataError, match="no PNG images under .*images_background"):
        OmniglotTasks.load(tmp_path, "train", cache_dir=tmp_path)


def test_characters_with_unequal_drawings(tmp_path):
    write_split(tmp_path, "images_background", ["Alpha"], characters=2)
    next((tmp_path / "images_background" / "Alpha" / "character02").iterdir()).unlink()
    with pytest.raises(DataError, match="Alpha/character02 has 5"):
        OmniglotTasks.load(tmp_path, "train", cache_dir=tmp_path)


def test_unknown_split(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="'valid'"):
        OmniglotTasks.load(data_dir, "valid", cache_dir=tmp_path)


def test_ways_beyond_the_classes(tasks):
    with pytest.raises(DataError, match="ways=13 exceeds the 12 classes"):
        sample(tasks, ways=13)


@pytest.mark.parametrize("name", ["n_tasks", "ways", "shots", "queries"])
@pytest.mark.parametrize("value", [0, -2])
def test_counts_below_one(tasks, name, value):
    counts = {"n_tasks": 2, "ways": 3, "shots": 1, "queries": 1, name: value}
    with pytest.raises(ConfigError, match=f"{name}={value}"):
        sample(tasks, **counts)


def test_more_shots_and_queries_than_drawings(tasks):
    with pytest.raises(DataError, match=f"4 \\+ 3 = 7 exceeds the {DRAWINGS} drawings"):
        sample(tasks, shots=4, queries=3)


@pytest.fixture(scope="module")
def real_splits(pytestconfig) -> dict[str, OmniglotTasks]:
    """Both splits of the real set, cached in pytest's cache folder across runs."""
    if not REAL_DIR.is_dir():
        pytest.skip(f"the Omniglot set is not at {REAL_DIR}")
    cache = pytestconfig.cache.mkdir("metarl-omniglot")
    return {
        split: OmniglotTasks.load(REAL_DIR, split, cache_dir=cache) for split in ("train", "test")
    }


def test_real_splits_have_the_published_sizes(real_splits):
    assert real_splits["train"].images.shape == (964, 20, 28, 28)
    assert real_splits["test"].images.shape == (659, 20, 28, 28)
    assert not set(real_splits["train"].classes) & set(real_splits["test"].classes)
    train_alphabets = {name.split("/")[0] for name in real_splits["train"].classes}
    assert not train_alphabets & {name.split("/")[0] for name in real_splits["test"].classes}


def test_real_images_are_mostly_background(real_splits):
    episode = real_splits["test"].sample(np.random.default_rng(0), 2, 20, 5, 15)
    assert episode.query_x.shape == (2, 300, 1, 28, 28)
    assert 0.02 < episode.support_x.mean() < 0.3  # thin strokes (1) on empty paper (0)


def test_pooled_splits_are_disjoint_complete_and_independent_of_listing_order():
    background = [f"B{a}/character{c:02d}" for a in range(3) for c in range(7)]
    evaluation = [f"A{a}/character{c:02d}" for a in range(2) for c in range(7)]
    for protocol in ("vinyals", "random"):
        train = omniglot.pooled_split_indices(background, evaluation, "train", protocol, 24)
        test = omniglot.pooled_split_indices(background, evaluation, "test", protocol, 24)
        assert len(train) == 24 and len(test) == 11
        assert sorted(train + test) == list(range(35))
        names = background + evaluation
        reversed_bg, reversed_ev = background[::-1], evaluation[::-1]
        again = omniglot.pooled_split_indices(reversed_bg, reversed_ev, "train", protocol, 24)
        assert {(reversed_bg + reversed_ev)[i] for i in again} == {names[i] for i in train}


def test_vinyals_split_trains_on_the_background_then_the_first_evaluation_characters():
    background = [f"B{a}/character{c:02d}" for a in range(3) for c in range(7)]
    evaluation = [f"A{a}/character{c:02d}" for a in range(2) for c in range(7)]
    test = omniglot.pooled_split_indices(background, evaluation, "test", "vinyals", 24)
    names = background + evaluation
    # all 21 background characters and the first 3 evaluation ones (sorted) train
    assert [names[i] for i in test] == sorted(evaluation)[3:]
    random_test = omniglot.pooled_split_indices(background, evaluation, "test", "random", 24)
    assert random_test != test  # a shuffle, not the listing order


def test_vinyals_protocol_needs_more_characters_than_it_trains_on(data_dir, tmp_path):
    with pytest.raises(DataError, match="needs more than 1200"):
        OmniglotTasks.load(data_dir, "train", cache_dir=tmp_path, protocol="vinyals")
    with pytest.raises(ConfigError, match="unknown Omniglot protocol"):
        OmniglotTasks.load(data_dir, "train", cache_dir=tmp_path, protocol="snell")


VINYALS_TEST_ALPHABETS = (
    "Kannada",
    "Keble",
    "Malayalam",
    "Manipuri",
    "Mongolian",
    "Old_Church_Slavonic_(Cyrillic)",
    "Oriya",
    "Sylheti",
    "Syriac_(Serto)",
    "Tengwar",
    "Tibetan",
    "ULOG",
)


def test_real_vinyals_split_has_the_papers_sizes(real_splits, pytestconfig):
    cache = pytestconfig.cache.mkdir("metarl-omniglot")
    vinyals = {
        split: OmniglotTasks.load(
            REAL_DIR, split, cache_dir=cache, augment_rotations=True, protocol="vinyals"
        )
        for split in ("train", "test")
    }
    assert vinyals["train"].images.shape == (4800, 20, 28, 28)
    assert vinyals["test"].images.shape == (1692, 20, 28, 28)
    characters = {s: {n.split("/rot")[0] for n in vinyals[s].classes} for s in vinyals}
    assert len(characters["train"]) == 1200 and len(characters["test"]) == 423
    assert not characters["train"] & characters["test"]
    # Vinyals et al.'s test list (as shipped with Snell et al.'s code): Gurmukhi's last 4
    # characters and 12 whole evaluation alphabets
    alphabets = {name.split("/")[0] for name in characters["test"]}
    assert alphabets == set(VINYALS_TEST_ALPHABETS) | {"Gurmukhi"}
    gurmukhi = sorted(name for name in characters["test"] if name.startswith("Gurmukhi/"))
    assert gurmukhi == [f"Gurmukhi/character{c}" for c in range(42, 46)]
    pooled = set(real_splits["train"].classes) | set(real_splits["test"].classes)
    assert characters["train"] | characters["test"] == pooled
    assert "Bengali/character01" in characters["train"] | characters["test"]
