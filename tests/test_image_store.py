"""The image store's retention, as documented: a byte-bounded memory cache, a size-bounded folder, files decoded
once while unchanged, and background writes that are on disk by the time anyone asks."""

import os

from PIL import Image

from deepeyes_agent.images import ImageStore


def _image(i: int, size=(100, 100)) -> Image.Image:
    return Image.new("RGB", size, (i % 256, (i * 7) % 256, (i * 13) % 256))


def test_memory_holds_at_most_cache_bytes_of_pixels(tmp_path):
    store = ImageStore(tmp_path, cache_bytes=5 * 100 * 100 * 3)
    refs = [store.put(_image(i)) for i in range(20)]
    assert store._cached <= store.cache_bytes and len(store._cache) == 5
    assert list(store._cache) == refs[-5:]  # the most recent stay; the rest are read back from disk
    assert store.get(refs[0]).getpixel((0, 0)) == _image(0).getpixel((0, 0))


def test_the_folder_stays_under_max_bytes(tmp_path):
    store = ImageStore(tmp_path, max_bytes=40_000, cache_bytes=10**6)
    for i in range(200):
        store.put(_image(i, (64, 64)).effect_spread(3))  # noisy PNGs, a few KB each
    total = sum(p.stat().st_size for p in tmp_path.glob("*.png"))
    assert total <= 40_000


def test_a_file_is_decoded_once_while_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    _image(1).save(path)
    store = ImageStore(tmp_path / "store")
    calls = []
    import deepeyes_agent.images as images

    real = images.load_image
    monkeypatch.setattr(images, "load_image", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = store.put_file(path)
    assert store.put_file(path) == first and len([c for c in calls if c and c[0] == path]) == 1
    _image(2).save(path)  # changed: decoded again, a new reference
    os.utime(path, ns=(1, 2))
    assert store.put_file(path) != first


def test_background_writes_reach_the_disk(tmp_path):
    store = ImageStore(tmp_path, cache_bytes=1)  # nothing stays in memory: reads must wait for the file
    refs = [store.put(_image(i), durable=False) for i in range(8)]
    assert all(store.get(r).size == (100, 100) for r in refs)
    store.flush()
    assert len(list(tmp_path.glob("*.png"))) == 8 and not store._pending
