"""``gafet evaluate``: three editors on real photos (JSON keys, HTML report), a missing
Inception weight (clear message, exit code 5, the other metrics still printed), ablations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.metrics import weights
from core.metrics.emotion import EMOTIONS
from core.nets.checkpoint import save_checkpoint
from core.nets.config import preset
from core.nets.gafet import GaFET
from gafet_studio.cli.main import main

PAIR_KEYS = {"csim", "acd", "aed", "au_h", "ed", "emotion_source", "emotion_reference", "emotion_output",
             "expression_agrees", "identity_distance"}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("evaluate-cache")


@pytest.fixture()
def no_imported_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "weights_dir", lambda home=None: tmp_path / "no-weights")


@pytest.fixture()
def pairs_csv(tmp_path: Path, media, app_assets: None) -> Path:
    csv = tmp_path / "pairs.csv"
    csv.write_text("source,reference\n"
                   f"{media.path('single_face.jpg')},{media.path('happy.jpg')}\n"
                   f"{media.path('anger.jpg')},preset:happy\n"
                   f"{media.path('no_face.jpg')},{media.path('happy.jpg')}\n")
    return csv


def test_three_editors_json_and_report(tmp_path: Path, pairs_csv: Path, cache_dir: Path,
                                       no_imported_weights: None, capsys: pytest.CaptureFixture[str]) -> None:
    out, report = tmp_path / "out.json", tmp_path / "report"
    code = main(["evaluate", "--pairs", str(pairs_csv), "--editor", "warp", "--editor", "identity",
                 "--editor", "mouth-paste", "--json", str(out), "--report", str(report),
                 "--cache", str(cache_dir)])
    captured = capsys.readouterr()
    assert code == 3  # the only failures: no face in no_face.jpg (reported, skipped)
    assert "no_face.jpg" in captured.err and "3 of 9 evaluations failed" in captured.err
    for column in ("CSIM ↑", "AED (mesh AUs) ↓", "AU-H (mesh AUs) ↓", "ED (mesh AUs) ↓", "Emotion agrees ↑",
                   "FD-dlib ↓", "FID ↓"):
        assert column in captured.out
    assert "pt_inception-2015-12-05-6726825d.pth" in captured.out  # FID says what it needs

    data = json.loads(out.read_text())
    assert [e["editor"] for e in data["editors"]] == ["warp", "identity", "mouth-paste"]
    assert [(e["evaluated"], e["failed"], e["skipped"]) for e in data["editors"]] == [(2, 1, 0), (2, 1, 0),
                                                                                       (1, 1, 1)]
    assert len(data["pairs"]) == 5 and len(data["failures"]) == 3
    for row in data["pairs"]:
        assert PAIR_KEYS <= row.keys()
        assert set(row["emotion_output"]) == set(EMOTIONS)
    identity = [r for r in data["pairs"] if r["editor"] == "identity"]
    assert all(r["csim"] == pytest.approx(1.0) and r["acd"] == 0.0 for r in identity)
    assert {"medians", "means"} <= data["editors"][0].keys() and "csim" in data["editors"][0]["medians"]
    assert {u["metric"] for u in data["unavailable"]} == {"fid", "kid", "is"}

    page = (report / "index.html").read_text()
    assert page.count("data:image/png;base64,") >= 2  # the histogram and a contact sheet, inlined
    assert "Contact sheets" in page and "CSIM" in page and "no_face.jpg" in page


def test_requested_fid_without_weights_exits_5_after_the_rest(pairs_csv: Path, cache_dir: Path,
                                                            no_imported_weights: None,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    lines = pairs_csv.read_text().splitlines()
    pairs_csv.write_text("\n".join(lines[:2]) + "\n")  # the good photo pair only
    code = main(["evaluate", "--pairs", str(pairs_csv), "--editor", "identity", "--metrics", "fid,csim,aed",
                 "--cache", str(cache_dir)])
    captured = capsys.readouterr()
    assert code == 5
    assert "pt_inception-2015-12-05-6726825d.pth" in captured.err
    assert "gafet assets import-weights inception-fid" in captured.err
    assert "1.000" in captured.out and "AED (mesh AUs)" in captured.out  # CSIM of doing nothing, and AED
    assert "ED (mesh AUs)" not in captured.out.replace("AED (mesh AUs)", "")  # only what was asked for


def test_ablations_table(tmp_path: Path, pairs_csv: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
                         ) -> None:
    torch.manual_seed(0)
    config = preset("tiny-64").with_switches(use_mfat=False)
    ckpt = save_checkpoint(tmp_path / "no_mfat.safetensors", GaFET(config=config))
    lines = pairs_csv.read_text().splitlines()
    pairs_csv.write_text("\n".join(lines[:2]) + "\n")
    main(["evaluate", "--pairs", str(pairs_csv), "--ablations", str(ckpt), "--device", "cpu",
          "--cache", str(cache_dir)])
    out = capsys.readouterr().out
    assert "Ablations (Table 3 layout)" in out and "w/o MFAT" in out
    table = out.split("Ablations (Table 3 layout)")[1]
    assert "CSIM ↑" in table and "AED (mesh AUs) ↓" in table and "FID ↓" in table


def test_face_geometry_and_detail(tmp_path: Path, media, app_assets: None, cache_dir: Path,
                                  no_imported_weights: None, capsys: pytest.CaptureFixture[str]) -> None:
    """dlib-68 gap closures (doing nothing closes none of the gap), detail ratio and face-box
    difference (1 and 0 for doing nothing), the clear-pair agreement, and their table."""
    csv = tmp_path / "pairs.csv"
    csv.write_text("source,reference\n"  # single_face -> surprise: every gap above its minimum
                   f"{media.path('single_face.jpg')},{media.path('surprise.jpg')}\n"
                   f"{media.path('anger.jpg')},preset:happy\n")
    out = tmp_path / "out.json"
    code = main(["evaluate", "--pairs", str(csv), "--editor", "warp", "--editor", "identity", "--median",
                 "--json", str(out), "--cache", str(cache_dir)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Face geometry (dlib-68" in printed and "Detail and stability" in printed
    for column in ("Brow gap closed ↑", "Eye gap closed ↑", "Mouth gap closed ↑", "Detail ratio ↑",
                   "Face-box MAD ↓", "Emotion agrees (clear pairs) ↑"):
        assert column in printed
    data = json.loads(out.read_text())
    assert data["judges"]["landmarks"] == "dlib shape predictor, 68 points"
    rows = {(r["editor"], r["reference"].startswith("preset:")): r for r in data["pairs"]}
    identity, warp = rows[("identity", False)], rows[("warp", False)]
    assert identity["geometry_output"] == identity["geometry_source"]  # same pixels, same box
    for key in ("brow_gap_closure", "eye_gap_closure", "mouth_gap_closure"):
        assert identity[key] == 0.0 and isinstance(warp[key], float)
    assert identity["detail_ratio"] == 1.0 and identity["face_box_mad"] == 0.0
    assert warp["face_box_mad"] > 0.5 and 0.2 < warp["detail_ratio"] < 5
    src, ref = warp["geometry_source"], warp["geometry_reference"]
    assert ref["eye_opening"] > src["eye_opening"] and set(src) == {"brow_height", "eye_opening",
                                                                     "mouth_opening", "mouth_width", "iod"}
    preset_row = rows[("warp", True)]
    assert preset_row["geometry_reference"] is None and preset_row["brow_gap_closure"] is None
    assert preset_row["geometry_output"] is not None and preset_row["detail_ratio"] is not None
    # single_face (happy) -> surprise (p >= 0.5), anger -> the happy preset: both in the clear subset
    assert all(r["expression_agrees_clear"] == r["expression_agrees"] for r in data["pairs"])
    warp_row = next(e for e in data["editors"] if e["editor"] == "warp")
    assert {"brow_gap_closure", "detail_ratio", "face_box_mad"} <= warp_row["medians"].keys()
    assert "expression_agrees_clear" in warp_row["means"]
    assert "expression_agrees_clear" not in warp_row["medians"]  # a rate, not a median
