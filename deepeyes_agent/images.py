"""Loading images safely and keeping them by reference.

Graph state must survive a checkpointer round trip, so it never holds PIL objects: an image is a
content-addressed reference (``"sha256:<hex>"``) into an :class:`ImageStore` on disk.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import ExifTags, Image, ImageOps

from .errors import InputError

REF_PREFIX = "sha256:"
MAX_UPLOAD_BYTES = 32 * 1024**2  # base64 images (uploads, tool results) larger than this are refused undecoded


def png_base64(img: Image.Image, compress_level: int = 6) -> str:
    """Lossless PNG bytes of ``img``, base64 (data URLs and image content blocks); ``compress_level`` 1 is
    several times faster to write, for bytes that only cross a local network."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return base64.b64encode(buf.getvalue()).decode()


class ImageError(InputError):
    """An image that cannot be used, with the path or reference that names it."""


def decode_base64(payload: str, *, max_bytes: int = MAX_UPLOAD_BYTES, name: str = "base64 image") -> bytes:
    """The bytes of a base64 image, refused before a byte is decoded when larger than ``max_bytes`` (an upload,
    a tool's result: whoever sent it does not get to fill this machine's memory)."""
    if len(payload) * 3 // 4 > max_bytes:
        raise ImageError(
            f"{name} of ~{len(payload) * 3 // 4 / 1024**2:.1f} MB exceeds the upload limit of {max_bytes / 1024**2:.1f} MB"
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"{name}: bad base64 ({exc})") from exc


def decode_data_url(url: str, max_bytes: int = MAX_UPLOAD_BYTES, name: str = "data URL") -> bytes:
    """The bytes of a ``data:…;base64,…`` URL, within ``max_bytes`` (see :func:`decode_base64`)."""
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise ImageError(f"{name} without base64 payload")
    return decode_base64(payload, max_bytes=max_bytes, name=name)


def load_image(source: str | Path | bytes | Image.Image, *, name: str | None = None) -> Image.Image:
    """Decode an image to RGB with its EXIF orientation applied (boxes refer to what a viewer sees).

    Pillow's decompression-bomb limit stays in force; every failure names the file.
    """
    label = name or (
        str(source)
        if isinstance(source, (str, Path))
        else "<in-memory image>"
        if isinstance(source, Image.Image)
        else "<image bytes>"
    )
    try:
        if isinstance(source, Image.Image):
            _check_pixels(source)
            if source.mode == "RGB" and not source.info:  # e.g. a crop: no EXIF to apply, nothing to convert
                return source
            img = source
        else:
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            img.seek(0)  # animated images: the first frame
            img.load()
        # exif_transpose returns a copy even when there is nothing to turn: on an 8K original that is a second
        # 127 MB buffer per episode at load (Pillow holds an RGB pixel in 4 bytes). Only an image that carries a rotation is transposed (a new image, so
        # a caller's in-memory image is never modified).
        if img.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            img = ImageOps.exif_transpose(img)
        if img.mode != "RGB":
            img = _to_rgb(img)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{label}: refused, larger than Pillow's decompression-bomb limit ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{label}: cannot decode image ({exc})") from exc
    if img.width < 1 or img.height < 1:
        raise ImageError(f"{label}: empty image {img.size}")
    return img


def _check_pixels(img: Image.Image) -> None:
    """The limit Pillow applies when it opens a file (an error beyond twice ``MAX_IMAGE_PIXELS``), applied to
    an in-memory image too: the store could not read such an image back, and a crop of an image within the
    limit stays within it."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit and img.width * img.height > 2 * limit:
        raise Image.DecompressionBombError(
            f"Image size ({img.width * img.height} pixels) exceeds limit of {2 * limit} pixels"
        )


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img.convert("RGB")


def image_ref(img: Image.Image) -> str:
    """The content address of an RGB image (its pixels and size, not its file encoding)."""
    h = hashlib.sha256()
    h.update(f"{img.mode}:{img.width}x{img.height}:".encode())
    h.update(img.tobytes())
    return REF_PREFIX + h.hexdigest()


class ImageStore:
    """A content-addressed folder of PNGs with an in-memory LRU of decoded images.

    Retention, documented because long runs depend on it:
    - memory: the most recently used decoded images, at most ``cache_bytes`` of pixels (default 1 GiB — ten 8K
      originals) — an episode's images stay hot while it runs, finished episodes' images age out;
    - disk: at most ``max_bytes`` of PNGs; the least recently written go first (a reference to an evicted image
      then raises :class:`ImageError` naming it);
    - a file opened by path is decoded and hashed once while it is unchanged (its path, size and mtime map to
      its reference), so the n rollouts of a prompt and repeated evals do not decode it n times.
    """

    def __init__(self, root: str | Path | None = None, *, max_bytes: int = 2 * 1024**3, cache_bytes: int = 1024**3):
        root = (
            root or os.environ.get("DEEPEYES_AGENT_IMAGE_STORE") or Path.home() / ".cache" / "deepeyes-agent" / "images"
        )
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, Image.Image] = OrderedDict()
        self._cached = 0  # bytes of pixels in the cache
        self._files: OrderedDict[tuple, str] = OrderedDict()  # (path, size, mtime_ns) -> reference
        self._disk: int | None = None  # bytes of PNGs on disk, counted once, then tracked
        self._pending: dict = {}  # reference -> the background write of its PNG
        self._pool = None
        self._lock = threading.Lock()

    def _path(self, ref: str) -> Path:
        if not ref.startswith(REF_PREFIX) or len(ref) != len(REF_PREFIX) + 64:
            raise ImageError(f"not an image reference: {ref!r}")
        digest = ref[len(REF_PREFIX) :]
        if not all(c in "0123456789abcdef" for c in digest):
            raise ImageError(f"not an image reference: {ref!r}")
        return self.root / f"{digest}.png"

    def put(self, img: Image.Image, *, durable: bool = True, derived_from: str | None = None) -> str:
        """Store ``img`` (kept as given: do not change it afterwards) and return its reference. ``durable=False``
        writes the PNG in a background thread: the reference is usable at once (from memory), the file follows —
        for runs no checkpointer will resume (eval, RL), where the write would otherwise sit on every turn.

        ``derived_from``: a description that determines the pixels — a crop is its original's reference and the
        box (``"sha256:…/crop/x1,y1,x2,y2"``) — hashed instead of the pixels: the same crop of the same image gets
        the same reference, without hashing megapixels (an 8K original's crops are tens of MB)."""
        img = load_image(img)
        ref = REF_PREFIX + hashlib.sha256(derived_from.encode()).hexdigest() if derived_from else image_ref(img)
        self._remember(ref, img)
        path = self._path(ref)
        if durable:
            self._write(img, path)
        else:  # no file system call here: the graph's zoom node may run this on an event loop (the writer checks)
            with self._lock:
                if ref not in self._pending:
                    self._pending[ref] = self._writer().submit(self._write, img, path, ref)
        return ref

    def _write(self, img: Image.Image, path: Path, ref: str | None = None) -> None:
        try:
            if not path.exists():
                tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                img.save(tmp, format="PNG", compress_level=1)
                size = tmp.stat().st_size
                os.replace(tmp, path)  # atomic: readers never see half a file
                self._written(size)
        finally:
            if ref is not None:
                with self._lock:
                    self._pending.pop(ref, None)

    def _writer(self):
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-store")
        return self._pool

    def flush(self) -> None:
        """Wait until every background write is on disk."""
        with self._lock:
            pending = list(self._pending.values())
        for future in pending:
            future.result()

    def put_file(self, path: str | Path, name: str | None = None) -> str:
        """A file's reference; decoded and hashed only the first time it is seen unchanged."""
        path = Path(path)
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            ref = self._files.get(key)
        if ref is not None and (ref in self._cache or self._path(ref).exists()):
            return ref
        ref = self.put(load_image(path, name=name))
        with self._lock:
            self._files[key] = ref
            while len(self._files) > 4096:
                self._files.popitem(last=False)
        return ref

    def get(self, ref: str) -> Image.Image:
        with self._lock:
            if ref in self._cache:
                self._cache.move_to_end(ref)
                return self._cache[ref]
        path = self._path(ref)
        with self._lock:
            pending = self._pending.get(ref)
        if pending is not None:
            pending.result()  # evicted from memory before its file was written: wait for the file
        if not path.exists():
            raise ImageError(f"{ref}: not in the image store {self.root} (evicted or never stored)")
        img = load_image(path)
        self._remember(ref, img)
        return img

    def _grant_path(self, owner: str, ref: str) -> Path:
        self._path(ref)  # validates the reference
        return self.root / "owners" / hashlib.sha256(owner.encode()).hexdigest()[:32] / ref[len(REF_PREFIX) :]

    def grant(self, owner: str, ref: str) -> None:
        """Record that ``owner`` (a thread) produced or was given ``ref``: see :meth:`is_granted`."""
        path = self._grant_path(owner, ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def is_granted(self, owner: str, ref: str) -> bool:
        """Whether ``owner`` may name ``ref`` (graphs serving untrusted callers confine references to their thread)."""
        return self._grant_path(owner, ref).exists()

    def _remember(self, ref: str, img: Image.Image) -> None:
        with self._lock:
            if ref not in self._cache:
                self._cached += img.width * img.height * 3
            self._cache[ref] = img
            self._cache.move_to_end(ref)
            while self._cached > self.cache_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached -= old.width * old.height * 3

    def _written(self, size: int) -> None:
        """Track the folder's size; scan and evict only when it passes ``max_bytes`` (not on every write)."""
        with self._lock:
            if self._disk is None:
                self._disk = sum(p.stat().st_size for p in self.root.glob("*.png"))
            else:
                self._disk += size
            over = self._disk > self.max_bytes
        if over:
            self._evict()

    def _evict(self) -> None:
        files = sorted(self.root.glob("*.png"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for p in files:
            if total <= self.max_bytes * 0.9:  # leave headroom, so the next writes do not scan again
                break
            total -= p.stat().st_size
            p.unlink(missing_ok=True)
            with self._lock:
                if (old := self._cache.pop(REF_PREFIX + p.stem, None)) is not None:
                    self._cached -= old.width * old.height * 3
        with self._lock:
            self._disk = total
