"""Fit FLAME (β, ψ, jaw, similarity pose) to 2D or 3D landmarks; deterministic.

Landmarks: the iBUG 68 points through the imported embedding. ``'68'`` uses DECA's fixed
``full_lmk`` contour (right for 3D targets); ``'dynamic68'`` picks the jaw contour by the current
yaw, as DECA does for 2D detector landmarks.

Objective per face, a sum of squared residuals r(x):

    E = Σ_l w_l ‖π(s R M(β, ψ, jaw)_l + t) − y_l‖² / (σ² Σ_l w_l)  +  λ_β ‖β‖² + λ_ψ ‖ψ‖² + λ_jaw ‖jaw‖²

with π dropping z for 2D targets, σ the RMS spread of the target landmarks (so the weights do
not depend on the photo's resolution) and R = R₀ · Rodrigues(δ), s = s₀ exp(ς), t = t₀ + σ τ
around a closed-form similarity initialisation (Umeyama) of the mean face onto the targets.

Optimisers: ``'lm'`` (default) Levenberg-Marquardt with the exact Jacobian (one reverse pass
over the batch repeated once per residual). The expression components move landmarks far less
than the head pose does, so this small least-squares problem is ill-conditioned for first-order
methods; ``'lbfgs'`` and ``'adam'`` minimise the same E, more slowly. All are deterministic on a
fixed device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from core.checks import assert_shape
from core.geometry.face_model import FRONTAL, FaceParams, Pose
from core.geometry.flame.landmarks import barycentric_landmarks, contour_bin, yaw_degrees
from core.geometry.flame.lbs import axis_angle_to_matrix
from core.geometry.flame.model import FlameModel

__all__ = ["FitConfig", "FitResult", "fit_landmarks"]


@dataclass(frozen=True)
class FitConfig:
    landmarks: str = "68"  # '68' (fixed contour; 3D targets) or 'dynamic68' (2D detector points)
    n_shape: int = 50  # β components fitted (the rest stay 0)
    n_expression: int = 50  # ψ components fitted (the rest stay 0)
    fit_shape: bool = True  # False: keep β = the ``identity`` passed in (e.g. the source's)
    # Prior weights: one std-dev of a component costs as much as a landmark RMS error of
    # sqrt(λ)·σ, with σ the spread of the landmarks (≈ 40 px on a 224 crop): 1e-4 ≈ 0.4 px
    # (DECA's photometric fitting uses 1e-4 on similarly normalised landmarks).
    w_shape: float = 1e-4  # λ_β, prior on ‖β‖²
    w_expression: float = 1e-4  # λ_ψ, prior on ‖ψ‖²
    w_jaw: float = 1e-4  # λ_jaw, prior on ‖jaw‖² (radians²)
    optimizer: str = "lm"  # 'lm' (Levenberg-Marquardt), 'lbfgs' or 'adam'
    steps: int = 30  # LM iterations / L-BFGS outer steps (each ≤ 20 evaluations) / Adam steps
    lr: float = 1.0  # L-BFGS step size (1.0); Adam learning rate (~0.02); unused by LM
    tolerance: float = 1e-10  # stop when an iteration lowers E by less than this (relative)


class FitResult(NamedTuple):
    params: FaceParams  # identity (B, n_shape), expression (B, n_expression + 3), pose
    landmarks: torch.Tensor  # (B, 68, 3) fitted landmarks, image frame
    rms_error: torch.Tensor  # (B,) RMS landmark distance, target units (pixels), xy for 2D
    loss: torch.Tensor  # (B,) final E per face


class _Landmarks:
    """The landmark triangles of the fit, on the subset of vertices they touch.

    For ``'dynamic68'`` only the contour bins in ``bins`` (default: all 79) are prepared.
    """

    def __init__(self, model: FlameModel, which: str, bins: torch.Tensor | None = None) -> None:
        if which == "68":
            f68, self.bary = model._landmark_buffers("68")
            groups = [f68.reshape(-1)]
        elif which == "dynamic68":
            if not hasattr(model, "contour_faces"):
                raise model._missing("the dynamic jaw contour")
            f51, self.bary = model._landmark_buffers("static51")
            dev = model.contour_faces.device
            used = torch.arange(model.contour_faces.shape[0], device=dev) if bins is None \
                else torch.unique(bins.to(dev))
            groups = [model.contour_faces[used].reshape(-1), f51]
        else:
            raise ValueError(f"FitConfig.landmarks={which!r}; use '68' or 'dynamic68'")
        self.model, self.dynamic = model, which == "dynamic68"
        tris, local_tri = torch.unique(torch.cat(groups), return_inverse=True)
        self.vertex_ids, local_faces = torch.unique(model.faces[tris], return_inverse=True)
        self.faces = local_faces.reshape(-1, 3)  # (T, 3) into the vertex subset
        parts = torch.split(local_tri, [g.numel() for g in groups])
        self.static = parts[-1]
        if self.dynamic:  # (79, 17) local triangle per bin and contour point (0 for unprepared bins)
            self.contour = torch.zeros_like(model.contour_faces)
            self.contour[used] = parts[0].reshape(-1, model.contour_faces.shape[1])

    def __call__(self, identity: torch.Tensor, expression: torch.Tensor, pose: Pose,
                 bins: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 68, 3) landmarks in the image frame; ``bins`` (B,) fixes the contour's yaw bins
        (default: from ``pose``; they must be among those prepared)."""
        canonical = self.model.canonical_vertices(identity, expression, self.vertex_ids)
        verts = self.model.to_image(canonical, pose)
        static = barycentric_landmarks(verts, self.faces, self.static, self.bary)
        if not self.dynamic:
            return static
        if bins is None:
            bins = _yaw_bins(pose.rotation)
        contour = barycentric_landmarks(verts, self.faces, self.contour[bins], self.model.contour_bary[bins])
        return torch.cat([contour, static], dim=1)


def _yaw_bins(rotation: torch.Tensor) -> torch.Tensor:
    """DECA contour bins (B,) long for image-frame rotations (B, 3, 3)."""
    flip = torch.tensor(FRONTAL, dtype=rotation.dtype, device=rotation.device)
    return contour_bin(yaw_degrees(flip @ rotation))


def _umeyama(src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Similarity (s, R, t) minimising ‖s R src + t − dst‖². src, dst: (B, L, D) → (B,), (B, D, D), (B, D)."""
    mu_s, mu_d = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.transpose(1, 2) @ xs / src.shape[1]  # (B, D, D)
    u, sig, vh = torch.linalg.svd(cov)
    d = torch.ones_like(sig)
    d[:, -1] = torch.sign(torch.linalg.det(u @ vh))
    rot = u @ torch.diag_embed(d) @ vh
    scale = (sig * d).sum(1) / xs.pow(2).sum((1, 2)).div(src.shape[1])
    t = mu_d[:, 0] - scale[:, None] * (rot @ mu_s[:, 0, :, None])[..., 0]
    return scale, rot, t


def _init_pose(model_lmk: torch.Tensor, target: torch.Tensor) -> Pose:
    """Similarity of the mean face's landmarks (FLAME frame, (B, L, 3)) onto the targets."""
    flip = model_lmk.new_tensor(FRONTAL)
    if target.shape[-1] == 3:
        s, rot, t = _umeyama(model_lmk, target)
        return Pose(scale=s, rotation=rot, translation=t)
    img = model_lmk @ flip.T  # frontal view in the image frame
    s, rot2, t2 = _umeyama(img[..., :2], target)
    B = target.shape[0]
    rot = torch.eye(3, dtype=target.dtype, device=target.device).repeat(B, 1, 1)
    rot[:, :2, :2] = rot2
    t = torch.cat([t2, torch.zeros_like(t2[:, :1])], dim=1)
    return Pose(scale=s, rotation=rot @ flip, translation=t)


class _Problem:
    """Residuals r(x) of a batch of faces; x (N, P) = [β offset (ns, if fitted), ψ (ne), jaw (3),
    δ (3), ς (1), τ (3)] per face. The start values (β₀, s₀, R₀, t₀, σ) ride along in ``args``."""

    def __init__(self, model: FlameModel, lmk: _Landmarks, config: FitConfig, ns: int, ne: int,
                 dims: int) -> None:
        self.model, self.lmk, self.cfg, self.dims = model, lmk, config, dims
        self.ns, self.ne = (ns if config.fit_shape else 0), ne
        self.size = self.ns + ne + 10

    def unpack(self, x: torch.Tensor, beta0: torch.Tensor, s0: torch.Tensor, r0: torch.Tensor,
               t0: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Pose]:
        """x (N, P) → β (N, n_shape), [ψ, jaw] (N, n_expression + 3), Pose (N)."""
        m, ns, ne, N = self.model, self.ns, self.ne, x.shape[0]
        beta = beta0 + torch.cat([x[:, :ns], x.new_zeros(N, m.identity_dim - ns)], dim=1)
        psi = torch.cat([x[:, ns:ns + ne], x.new_zeros(N, m.config.n_expression - ne)], dim=1)
        jaw, delta, log_s, tau = x[:, ns + ne:ns + ne + 3], x[:, -7:-4], x[:, -4], x[:, -3:]
        pose = Pose(scale=s0 * log_s.exp(), rotation=r0 @ axis_angle_to_matrix(delta),
                    translation=t0 + sigma[:, None] * tau)
        return beta, torch.cat([psi, jaw], dim=1), pose

    def residuals(self, x: torch.Tensor, target: torch.Tensor, w: torch.Tensor, bins: torch.Tensor,
                  *start: torch.Tensor) -> torch.Tensor:
        """(N, R) residuals: weighted landmark offsets / σ, then the prior terms. ``bins`` (N,)
        holds the contour's yaw bins fixed so that E is smooth in x."""
        beta, expr, pose = self.unpack(x, *start)
        sigma = start[-1]
        diff = (self.lmk(beta, expr, pose, bins)[..., :self.dims] - target) / sigma[:, None, None]
        data = (diff * (w / w.sum(1, keepdim=True).clamp_min(1e-9)).sqrt()[..., None]).flatten(1)
        ns, ne, c = self.ns, self.ne, self.cfg
        priors = [c.w_expression ** 0.5 * x[:, ns:ns + ne], c.w_jaw ** 0.5 * x[:, ns + ne:ns + ne + 3]]
        if ns:
            priors.insert(0, c.w_shape ** 0.5 * beta)
        return torch.cat([data, *priors], dim=1)


def _jacobian(res: Callable[..., torch.Tensor], x: torch.Tensor, args: tuple, n_res: int) -> torch.Tensor:
    """Exact Jacobian (B, R, P) by one reverse pass: the batch is repeated R times and copy i
    back-propagates residual i (faces are independent, so no cross terms appear)."""
    B, P = x.shape
    with torch.enable_grad():
        xr = x.detach().repeat(n_res, 1).requires_grad_(True)  # row i * B + b
        argr = tuple(a.repeat(n_res, *([1] * (a.ndim - 1))) for a in args)
        r = res(xr, *argr).reshape(n_res, B, n_res)
        (grad,) = torch.autograd.grad(r.diagonal(dim1=0, dim2=2).sum(), xr)
    return grad.reshape(n_res, B, P).transpose(0, 1)


def _levenberg_marquardt(res: Callable[..., torch.Tensor], x: torch.Tensor, args: tuple,
                         config: FitConfig) -> torch.Tensor:
    """Batched LM: one damping λ per face, steps accepted per face when E decreases."""
    r = res(x, *args)
    cost = r.pow(2).sum(1)
    lam = torch.full_like(cost, 1e-3)
    for _ in range(config.steps):
        jac = _jacobian(res, x, args, r.shape[1]).double()  # (B, R, P)
        a = jac.transpose(1, 2) @ jac
        g = jac.transpose(1, 2) @ r.double()[..., None]
        diag = a.diagonal(dim1=1, dim2=2)
        damp = diag.clamp_min(1e-9 * diag.amax(1, keepdim=True).clamp_min(1e-30))
        step = torch.linalg.solve(a + torch.diag_embed(lam.double()[:, None] * damp), -g)[..., 0]
        candidate = x + step.to(x.dtype)
        new_r = res(candidate, *args)
        new_cost = new_r.pow(2).sum(1)
        better = new_cost < cost
        gain = torch.where(better, (cost - new_cost) / cost.clamp_min(1e-30), torch.zeros_like(cost))
        x = torch.where(better[:, None], candidate, x)
        r = torch.where(better[:, None], new_r, r)
        cost = torch.where(better, new_cost, cost)
        lam = torch.where(better, (lam / 3).clamp_min(1e-9), (lam * 4).clamp_max(1e9))
        if bool(((better & (gain < config.tolerance)) | (lam >= 1e9)).all()):
            break
    return x


def fit_landmarks(model: FlameModel, target: torch.Tensor, *, config: FitConfig = FitConfig(),
                  weights: torch.Tensor | None = None, identity: torch.Tensor | None = None,
                  differentiable: bool = False) -> FitResult:
    """Fit FLAME to landmarks in image coordinates.

    target: (B, 68, 2) pixels (x right, y down) or (B, 68, 3) with z away from the camera;
    weights: optional (68,) or (B, 68) per-landmark confidence ≥ 0;
    identity: (B, n_shape) β to start from (and keep when ``config.fit_shape`` is False).
    differentiable: make ``params`` differentiable w.r.t. ``target`` (for training losses): the
        fit runs on the detached target, then one Gauss-Newton step from the solution carries the
        implicit-function gradient (:func:`_implicit_step`); the values are the solution's.
    Returns :class:`FitResult`; ``params.pose`` maps FLAME into the target's pixel frame.
    """
    dims = assert_shape(target, ("B", 68, "D"), "target")
    B, D = dims["B"], dims["D"]
    if D not in (2, 3):
        raise ValueError(f"target: last dim must be 2 or 3, got {D}")
    if config.optimizer not in ("lm", "lbfgs", "adam"):
        raise ValueError(f"FitConfig.optimizer={config.optimizer!r}; use 'lm', 'lbfgs' or 'adam'")
    dev, dt = model.v_template.device, model.v_template.dtype
    attached_target = target.to(dev, dt)
    target = attached_target.detach()
    w = torch.ones(B, 68, dtype=dt, device=dev) if weights is None else weights.to(dev, dt).expand(B, 68)
    ns, ne = min(config.n_shape, model.identity_dim), min(config.n_expression, model.config.n_expression)
    bins = torch.zeros(B, dtype=torch.long, device=dev)  # contour bins; frontal to start with
    beta0 = (torch.zeros(B, model.identity_dim, dtype=dt, device=dev) if identity is None
             else identity.to(dev, dt))
    assert_shape(beta0, (B, model.identity_dim), "identity")

    with torch.no_grad():
        unit = Pose(scale=torch.ones(B, dtype=dt, device=dev),
                    rotation=torch.eye(3, dtype=dt, device=dev).repeat(B, 1, 1),
                    translation=torch.zeros(B, 3, dtype=dt, device=dev))
        mean_face = _Landmarks(model, config.landmarks, bins)(
            beta0, torch.zeros(B, model.expression_dim, dtype=dt, device=dev), unit, bins)
        pose0 = _init_pose(mean_face, target)
        sigma = (target - target.mean(1, keepdim=True)).pow(2).sum(-1).mean(1).sqrt().clamp_min(1e-6)  # (B,)

    start = (beta0, pose0.scale, pose0.rotation, pose0.translation, sigma)
    x = torch.zeros(B, ns * config.fit_shape + ne + 10, dtype=dt, device=dev)

    def solve(x: torch.Tensor, w: torch.Tensor, bins: torch.Tensor) -> tuple[_Problem, torch.Tensor]:
        problem = _Problem(model, _Landmarks(model, config.landmarks, bins), config, ns, ne, D)
        return problem, _solve(problem, x, (target, w, bins, *start), config)

    if config.landmarks == "dynamic68":  # the contour depends on yaw: fit the 51 inner points,
        inner = w.clone()  # then hold the contour bins fixed while solving
        inner[:, :17] = 0
        problem, x = solve(x, inner, bins)
        for round_ in range(3):  # re-pick the bins from the fitted yaw until they stay put
            new_bins = _yaw_bins(problem.unpack(x, *start)[2].rotation)
            if round_ and torch.equal(new_bins, bins):
                break
            bins = new_bins
            problem, x = solve(x, w, bins)
    else:
        problem, x = solve(x, w, bins)
    args = (target, w, bins, *start)

    if differentiable:
        x = _implicit_step(problem, x, args, attached_target)
    with torch.no_grad():
        beta, expr, pose = problem.unpack(x.detach(), *start)
        fitted = problem.lmk(beta, expr, pose, bins)
        rms = (fitted[..., :D] - target).pow(2).sum(-1).mean(1).sqrt()
        loss = problem.residuals(x, *args).pow(2).sum(1)
    if differentiable:  # the same values, with the gradient of the solution w.r.t. the target
        beta, expr, pose = problem.unpack(x, *start)
    return FitResult(params=FaceParams(identity=beta, expression=expr, pose=pose), landmarks=fitted,
                     rms_error=rms, loss=loss)


def _implicit_step(problem: _Problem, x: torch.Tensor, args: tuple, target: torch.Tensor) -> torch.Tensor:
    """x* (no graph) -> x* − (JᵀJ)⁻¹ Jᵀ r(x*, target), differentiable w.r.t. ``target``.

    At the converged solution Jᵀr ≈ 0, so the value barely moves (one more Gauss-Newton step),
    and its derivative −(JᵀJ)⁻¹ Jᵀ ∂r/∂target is the implicit-function gradient of the solution
    (with the Gauss-Newton Hessian; the start values β₀, s₀, R₀, t₀, σ are held fixed).
    """
    x = x.detach()
    jac = _jacobian(problem.residuals, x, args, problem.residuals(x, *args).shape[1]).double()  # (B, R, P)
    a = jac.transpose(1, 2) @ jac
    a = a + torch.diag_embed(1e-9 * a.diagonal(dim1=1, dim2=2).amax(1, keepdim=True).clamp_min(1e-30)
                             .expand(-1, a.shape[-1]))
    r = problem.residuals(x, target, *args[1:]).double()  # carries target's graph
    step = torch.linalg.solve(a, (jac.transpose(1, 2) @ r[..., None]))[..., 0]
    return x - step.to(x.dtype)


def _solve(problem: _Problem, x: torch.Tensor, args: tuple, config: FitConfig) -> torch.Tensor:
    if config.optimizer == "lm":
        with torch.no_grad():
            return _levenberg_marquardt(problem.residuals, x, args, config)
    return _first_order(problem, x, args, config)


def _first_order(problem: _Problem, x0: torch.Tensor, args: tuple, config: FitConfig) -> torch.Tensor:
    """L-BFGS (strong Wolfe) or Adam on E summed over the batch."""
    x = x0.clone().requires_grad_(True)
    energy = problem.residuals

    def objective() -> torch.Tensor:
        return energy(x, *args).pow(2).sum()

    if config.optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=config.lr, max_iter=20, history_size=20,
                                line_search_fn="strong_wolfe",
                                tolerance_grad=1e-12, tolerance_change=1e-15)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        previous = float("inf")
        for _ in range(config.steps):
            loss = float(opt.step(closure).detach())
            if abs(previous - loss) <= config.tolerance * max(1.0, abs(loss)):
                break
            previous = loss
    else:
        opt = torch.optim.Adam([x], lr=config.lr)
        for _ in range(config.steps):
            opt.zero_grad()
            objective().backward()
            opt.step()
    return x.detach()
