"""Issue 11: overfitting a single pseudo-pair with the full objective lowers the reconstruction loss
at least tenfold.

One real pseudo-pair (X_n, X) at 64² (tests/helpers/loss_batches.py: the aligned ``happy.jpg`` as X,
a blurred copy as X_n), trained through the loop's public API (:func:`training.loop.train`) with
:class:`training.objective.GafetObjective` and every loss on: L_rec (L1 + LPIPS), L_exp^shape,
L_exp^AU, L_cx, L_adv global and component, lazy R1 on both discriminators; the paper's weights
(150 / 50 / 1) and Adam β = (0, 0.99) from the config.

Departures from ``cpu-smoke``, and why:

* ``perceptual="random"``: the ImageNet VGG-16/19 files are not available offline (LPIPS and L_cx
  run on randomly initialised VGGs; the loss terms and their gradients are still computed).
* batch 1 and ``paired_every=1``: a single pair, so every step is a pseudo-pair step.
* ``LR`` = 0.01 (5x §4.1's 0.002) and ``STEPS`` = 150: G alone (L1, every other term off) needs
  > 120 steps at lr 0.002 for tenfold (8.4x in 120; 11.6x in 120 at lr 0.01), so the paper's lr
  cannot show tenfold in a test's budget. ≈ 0.5 s per step with every loss on one CPU thread.

History: with the raw AU term (s_AU = 1) the full objective lowered L1 only 1.9x in 80 steps at lr
0.002 (~5x in 300): at the first step |∇_G| of 50·L_exp^AU was ≈ 910 against 1.2 for the L1 term
(150·L_exp^shape 16, L_cx 5.0, L_adv 1.5 + 1.6), so Adam followed the AU measurement alone and its
second moment (β₂ 0.99) kept every other step small long after the AU loss had fallen. The fix is
the paper's own rule ("we set these loss weights to equalize the different loss items") applied to
the stand-in AU embedding: the measured unit conversion ``ExpressionConfig.au_unit_scale`` (s_AU =
0.0125, tools/measure_loss_scales.py; see training/losses/expression.py). With s_AU = 0.01, at lr
0.002, 80 steps give 5.5x: the same as without L_exp^AU (5.6x) or without both expression terms
(6.3x), so the expression terms no longer slow the reconstruction.

Measured with this file's setup (s_AU = 0.0125, lr 0.01, last-five mean): 8.3x after 80 steps, 9.0x
after 100, 10.7x after 120, 10.9x after 140, 11.3x after 150 (11.3x too with D's lr left at 0.002).
The margin over 10x is small: what remains is G's own fitting speed (L1 alone: 11.6x in 120 steps
at lr 0.01), not the objective.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch

from tests.helpers.loss_batches import real_batch
from training.batch import Batch
from training.config import PairsConfig, training_config
from training.distributed import local_context
from training.loop import LoopSettings, StepData, StepDone, train
from training.objective import GafetObjective
from training.state import new_state

LR = 0.01  # 5x §4.1's 0.002: G alone needs > 120 steps at 0.002 (module docstring)
STEPS = 150
BASE = training_config("cpu-smoke")
CONFIG = BASE.replace(name="overfit-one-pair", perceptual="random", batch=1,
                      pairs=PairsConfig(paired_every=1),
                      g_optimiser=dataclasses.replace(BASE.g_optimiser, lr=LR),
                      d_optimiser=dataclasses.replace(BASE.d_optimiser, lr=LR))


class OnePair:
    """:class:`training.loop.TrainingData` that gives the same pseudo-pair at every step."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def steps(self, start: int) -> Iterator[StepData]:
        step = start
        while True:
            yield StepData(step=step, paired=True, micro_batches=[self.batch])
            step += 1


@pytest.mark.slow
def test_full_objective_overfits_one_pseudo_pair(media, app_assets, tmp_path) -> None:
    assert all(dataclasses.asdict(CONFIG.losses).values()), "every loss must be on"
    assert CONFIG.weights == BASE.weights and CONFIG.expression == BASE.expression  # the paper's λ, s_AU
    assert CONFIG.uses_component_discriminator and CONFIG.g_optimiser.beta1 == 0.0
    batch = real_batch(media, CONFIG.net, paired=True, size=1)
    objective = GafetObjective.build(CONFIG)
    state = new_state(CONFIG)
    settings = LoopSettings(max_steps=STEPS, checkpoint_every=STEPS, checkpoint_minutes=None,
                            export_generator=False)
    steps = [e for e in train(state, OnePair(batch), objective, ctx=local_context("cpu"), run_dir=tmp_path,
                              settings=settings) if isinstance(e, StepDone)]
    assert len(steps) == STEPS and not any(e.skipped_g or e.skipped_d for e in steps)
    first = steps[0].generator
    expected = {"rec_l1", "rec_lpips", "exp_shape", "exp_au", "cx", "adv_global", "adv_comp"}
    assert expected <= {k.removeprefix("g/") for k in first}
    assert sum(e.r1 for e in steps) == -(-STEPS // CONFIG.r1.interval)  # lazy R1 ran on its schedule
    l1 = [e.generator["g/rec_l1"] for e in steps]
    last = sum(l1[-5:]) / 5  # the last five steps' mean: the adversarial terms make single steps noisy
    print(f"L1 {l1[0]:.4f} -> {last:.4f} ({l1[0] / last:.1f}x) in {STEPS} steps")
    assert torch.isfinite(torch.tensor(l1)).all()
    assert last <= l1[0] / 10, f"L1 only fell from {l1[0]:.4f} to {last:.4f} in {STEPS} steps"
