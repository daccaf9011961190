"""Batch editing: a folder of source portraits x one reference photo or preset.

:func:`run_batch` is a generator: it prepares the reference once, then for each source file
loads, prepares, renders at full resolution and saves, and yields one :class:`BatchItem` per
file, failed or not, so a caller (the CLI's progress bar, a Studio worker) can report progress
and carry on past bad files. Only :class:`~core.errors.GafetError` (a bad photo, no face, an
existing output) is caught per file; anything else is a bug and propagates.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedReference
from core.errors import GafetError
from core.io import load_photo, save_image
from core.io.errors import OutputExistsError
from core.io.save import OUTPUT_FORMATS


@dataclass(frozen=True, kw_only=True)
class BatchItem:
    """The outcome for one source file: ``output`` on success, else ``error`` (a GafetError)."""

    source: Path
    output: Path | None = None
    error: GafetError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    face_index: int = 0  # which face of each source (0 = leftmost)
    extension: str | None = None  # output extension (".png", ".jpg", ".webp"); None: the source's, else .png
    quality: int = 95  # JPEG / WebP quality 1..100
    overwrite: bool = False  # replace existing outputs (inputs are never replaced)

    def __post_init__(self) -> None:
        if self.extension is not None and self.extension.lower() not in OUTPUT_FORMATS:
            raise GafetError(f"Unsupported output extension '{self.extension}'; use one of "
                             f"{', '.join(sorted(OUTPUT_FORMATS))}.")
        if not 1 <= self.quality <= 100:
            raise GafetError(f"The quality must be between 1 and 100, got {self.quality}.")


def list_sources(folder: str | os.PathLike[str]) -> list[Path]:
    """The regular, non-hidden files directly in ``folder``, sorted by name.

    Raises GafetError when ``folder`` is not a readable folder. Non-images are *not* filtered
    out here: they fail one by one (and are reported) like any unreadable photo.
    """
    path = Path(folder)
    if not path.is_dir():
        raise GafetError(f"'{path}' is not a folder of photos.")
    try:
        entries = sorted(path.iterdir())
    except OSError as err:
        raise GafetError(f"Cannot list the folder '{path}': {err.strerror or err}.") from err
    return [p for p in entries if p.is_file() and not p.name.startswith(".")]


def output_path(source: Path, out_dir: Path, extension: str | None) -> Path:
    """``out_dir / <source stem><ext>``; ext: ``extension``, else the source's when it can be
    written (.png, .jpg, .jpeg, .webp), else .png."""
    ext = extension or (source.suffix if source.suffix.lower() in OUTPUT_FORMATS else ".png")
    return out_dir / f"{source.stem}{ext.lower()}"


def run_batch(
    *,
    pipeline: EditPipeline,
    sources: list[Path],
    reference: PreparedReference,
    params: EditParams,
    out_dir: Path,
    options: BatchOptions = BatchOptions(),
    protect: tuple[Path, ...] = (),
) -> Iterator[BatchItem]:
    """Edit every file of ``sources`` with one prepared reference; yields one item per file.

    protect: extra paths never to be written (the reference photo); every source is protected.
    The pipeline's per-source cache is cleared after each file (memory stays flat).
    """
    guarded = tuple(sources) + tuple(protect)
    for src in sources:
        out = output_path(src, out_dir, options.extension)
        try:
            if out.exists() and not options.overwrite:
                raise OutputExistsError(out)
            photo = load_photo(src)
            prepared = pipeline.prepare_source(photo, face_index=options.face_index)
            result = pipeline.render(prepared, reference, params, full_resolution=True)
            assert result.image is not None
            written = save_image(out, result.image, icc_profile=photo.icc_profile, exif=photo.exif,
                                 quality=options.quality, overwrite=options.overwrite, protect=guarded)
            yield BatchItem(source=src, output=written)
        except GafetError as err:
            yield BatchItem(source=src, error=err)
        finally:
            pipeline.forget_sources()
