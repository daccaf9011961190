"""Batch editing: a folder of source portraits x one reference photo or preset.

:func:`run_batch` is a generator: it prepares the reference once, then for each source file
loads, prepares, renders at full resolution and saves, and yields one :class:`BatchItem` per
file, failed or not, so a caller (the CLI's progress lines, a Studio worker) can report progress
and carry on past bad files. A batch never dies part-way on one file: every
:class:`~core.errors.GafetError` (a bad photo, no face, an existing output) and every other
exception raised while editing a file (an unforeseen decoder failure, a bug) becomes that file's
failure (:class:`BatchFileError` for the latter, naming the file and the exception). Only
KeyboardInterrupt and other BaseExceptions stop the run.

Transparency: a source with an alpha channel keeps it in a .png / .webp output; a .jpg output
drops it and the item says so (``BatchItem.alpha_dropped``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.editing.params import EditParams
from core.errors import EXIT_ERROR, GafetError
from core.io import load_photo, save_image
from core.io.errors import OutputExistsError
from core.io.save import OUTPUT_FORMATS

if TYPE_CHECKING:  # the pipeline (torch) loads only when a batch runs, not for its options
    from core.editing.pipeline import EditPipeline, PreparedReference

ALPHA_FORMATS = ("PNG", "WEBP")  # output formats that hold transparency


class BatchFileError(GafetError):
    """One file of a batch failed with an unexpected exception (not a project error): a bug or an
    unforeseen decoder failure. ``cause`` is the original exception."""

    exit_code = EXIT_ERROR

    def __init__(self, path: Path, cause: Exception) -> None:
        self.path, self.cause = path, cause
        detail = (str(cause).strip().splitlines() or [""])[0][:200]
        super().__init__(f"Unexpected {type(cause).__name__} while editing '{path.name}'"
                         + (f": {detail}" if detail else "") + "; the file was skipped.")


@dataclass(frozen=True, kw_only=True)
class BatchItem:
    """The outcome for one source file: ``output`` on success, else ``error`` (a GafetError).

    alpha_dropped: the source had transparency and the output format (JPEG) cannot hold it.
    """

    source: Path
    output: Path | None = None
    error: GafetError | None = None
    alpha_dropped: bool = False

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
    """The non-hidden entries directly in ``folder`` other than folders, sorted by name.

    Raises GafetError when ``folder`` is not a readable folder. Non-images are *not* filtered
    out here: they fail one by one (and are reported) like any unreadable photo, and so do FIFOs,
    devices and broken or looping links (each with its own message from ``load_photo``).
    """
    path = Path(folder)
    if not path.is_dir():
        raise GafetError(f"'{path}' is not a folder of photos.")
    try:
        entries = sorted(path.iterdir())
    except OSError as err:
        raise GafetError(f"Cannot list the folder '{path}': {err.strerror or err}.") from err
    return [p for p in entries if not p.is_dir() and not p.name.startswith(".")]


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
            keeps_alpha = OUTPUT_FORMATS[out.suffix.lower()] in ALPHA_FORMATS
            written = save_image(out, result.image, alpha=photo.alpha if keeps_alpha else None,
                                 icc_profile=photo.icc_profile, exif=photo.exif, quality=options.quality,
                                 overwrite=options.overwrite, protect=guarded)
            dropped = photo.alpha is not None and not keeps_alpha
            item = BatchItem(source=src, output=written, alpha_dropped=dropped)
        except GafetError as err:
            item = BatchItem(source=src, error=err)
        except Exception as err:  # never die part-way: an unforeseen failure is this file's failure
            item = BatchItem(source=src, error=BatchFileError(src, err))
        finally:
            pipeline.forget_sources()
        yield item
