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
