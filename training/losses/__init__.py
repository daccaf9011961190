"""The training losses of GaFET (paper §3.5), one module per family, as pure functions.

No function here reads a config or applies a loss weight (that is :mod:`training.objective`);
networks a loss needs (LPIPS, the face model) are arguments.

* ``reconstruction``: L1 and LPIPS of Eq. 1 (L_rec^pseudo).
* ``expression``: L_exp^shape (Eq. 2) and L_exp^AU (Eq. 3) from fitted expressions.
* ``contextual``: the contextual loss of Eq. 4 (Mechrez et al. 2018) on pooled feature maps.
* ``adversarial``: non-saturating G and D losses, and the R1 penalty.
"""
