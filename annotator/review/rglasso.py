"""Robust graphical lasso: a sparse Gaussian dependency model of the signals whose fit a few
bad frames cannot spoil, with those frames' deviations collected in a sparse outlier matrix.

Data R (n frames x p standardised signals) is split as R = L + O, where the rows of L are
N(0, inv(Theta)) with Theta sparse, and O holds sparse (cell-wise) outliers:

    minimise  tr(S(O) Theta) - logdet Theta + lam * sum_{i!=j} |Theta_ij| + (gam / n) * sum |O_tj|
    S(O) = (R - O)' (R - O) / n        optionally O_tj >= 0 where column j is one-sided

lam is the graphical-lasso penalty (sparsity of the clean precision matrix), gam the outlier
penalty (how far, in robust standard deviations, a cell must stray before it is an outlier:
roughly gam / 2 for uncorrelated signals). One ADMM loop alternates
  1. the graphical-lasso step: Theta = argmin tr(S Theta) - logdet Theta + rho/2 |Theta - Z + U|^2
     in closed form through an eigen-decomposition (eigenvalues clipped at `cap`, see below),
  2. Z = soft-threshold(Theta + U, lam / rho) off the diagonal, U += Theta - Z,
  3. the outlier step: a proximal-gradient (soft-threshold) step on O with Theta fixed to Z,
until the primal and dual residuals and the change of O are small. The problem is convex in
Theta for fixed O and in O for fixed Theta, so a fixed point satisfies the KKT conditions of
both blocks (checked by tests/review/test_detectors.py, and against scikit-learn's
graphical_lasso when gam is so large that O stays zero).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RGLResult:
    theta: np.ndarray  # sparse precision matrix of the clean part (p x p)
    outliers: np.ndarray  # O (n x p)
    iterations: int
    converged: bool


def _soft(x: np.ndarray, t: float) -> np.ndarray:
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def robust_glasso(r: np.ndarray, lam: float = 0.1, gam: float = 6.0, one_sided: np.ndarray | None = None,
                  rho: float = 1.0, max_iter: int = 500, tol: float = 1e-6, cap: float | None = None,
                  floor: float | None = None) -> RGLResult:
    """Fit the model above to centred data r (n x p). one_sided: bool [p], True where only
    positive deviations are outliers (the signal is oriented so that larger is worse).
    cap bounds Theta's eigenvalues (Theta <= cap * I): without it, calling nearly every cell an
    outlier shrinks S towards 0 and sends -logdet Theta to minus infinity (the joint problem is
    unbounded for small gam); with standardised data, cap = 4 means no direction is trusted
    to a residual spread under half a robust standard deviation. floor bounds them from below
    (Theta >= floor * I): no direction may hold more than 1/floor variance, which stops a few
    huge frames that move together from being explained as one very wide clean direction
    (the masking solution of this biconvex problem)."""
    r = np.asarray(r, np.float64)
    n, p = r.shape
    pos = np.zeros(p, bool) if one_sided is None else np.asarray(one_sided, bool)
    off = ~np.eye(p, dtype=bool)
    # start from the exact outliers of the identity model (Theta = I: o = soft(r, gam/2)), so a
    # few large frames that move together cannot first fit themselves into Theta (masking)
    o = _soft(r, gam / 2.0)
    if pos.any():
        o[:, pos] = np.maximum(r[:, pos] - gam / 2.0, 0.0)
    z = np.eye(p)
    u = np.zeros((p, p))
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        resid = r - o
        s = resid.T @ resid / n
        # graphical-lasso step: rho*Theta - inv(Theta) = rho*(Z - U) - S, solved on the eigenvalues
        d, q = np.linalg.eigh(rho * (z - u) - s)
        ev = (d + np.sqrt(d * d + 4.0 * rho)) / (2.0 * rho)
        if cap is not None or floor is not None:  # each eigenvalue's 1-D problem is convex: clip
            ev = np.clip(ev, floor or 0.0, cap if cap is not None else np.inf)
        theta = (q * ev) @ q.T
        z_old = z
        z = theta + u
        z[off] = _soft(z[off], lam / rho)
        u = u + theta - z
        # outlier step on the smooth part (1/n) tr((R-O)'(R-O) Z): gradient -(2/n)(R-O)Z,
        # Lipschitz (2/n)*max eig(Z); the step n/(2 L) makes it free of n
        zs = (z + z.T) / 2.0
        lmax = max(float(np.linalg.eigvalsh(zs)[-1]), 1e-12)
        v = o + (r - o) @ zs / lmax
        thr = gam / (2.0 * lmax)
        o_new = _soft(v, thr)
        if pos.any():
            o_new[:, pos] = np.maximum(v[:, pos] - thr, 0.0)
        o_change = float(np.abs(o_new - o).max()) if o.size else 0.0
        o = o_new
        primal = float(np.linalg.norm(theta - z))
        dual = float(rho * np.linalg.norm(z - z_old))
        scale = max(1.0, float(np.linalg.norm(z)))
        if primal < tol * scale and dual < tol * scale and o_change < tol:
            converged = True
            break
    return RGLResult((z + z.T) / 2.0, o, it, converged)


def kkt_violation(r: np.ndarray, res: RGLResult, lam: float, gam: float, one_sided: np.ndarray | None = None) -> dict:
    """(For a fit without cap, or where it is not reached.) Largest violation of each block's optimality conditions at a solution (0 at an exact one):
    theta: diagonal of S(O) - inv(Theta) is 0; off it |S - inv(Theta)| <= lam, equal to
    lam * sign(Theta_ij) where Theta_ij != 0.  O: 2((R-O)Theta)_tj = gam * sign(O_tj) where
    O_tj != 0, |.| <= gam where 0 (for one-sided columns: <= gam, and O >= 0)."""
    r = np.asarray(r, np.float64)
    n, p = r.shape
    theta, o = res.theta, res.outliers
    resid = r - o
    s = resid.T @ resid / n
    g = s - np.linalg.inv(theta)
    off = ~np.eye(p, dtype=bool)
    nz = off & (np.abs(theta) > 1e-10)
    zero = off & ~nz
    v_theta = max(float(np.abs(np.diag(g)).max()),
                  float(np.abs(g[nz] + lam * np.sign(theta[nz])).max()) if nz.any() else 0.0,
                  float(np.maximum(np.abs(g[zero]) - lam, 0).max()) if zero.any() else 0.0)
    grad = 2.0 * resid @ theta  # = gam * subgradient of |O| at a solution
    pos = np.zeros(p, bool) if one_sided is None else np.asarray(one_sided, bool)
    onz = np.abs(o) > 1e-10
    v_o = float(np.abs(grad[onz] - gam * np.sign(o[onz])).max()) if onz.any() else 0.0
    two = ~onz & ~pos[None, :]
    one = ~onz & pos[None, :]
    if two.any():
        v_o = max(v_o, float(np.maximum(np.abs(grad[two]) - gam, 0).max()))
    if one.any():
        v_o = max(v_o, float(np.maximum(grad[one] - gam, 0).max()))
    if pos.any():
        v_o = max(v_o, float(np.maximum(-o[:, pos], 0).max()))
    return {"theta": v_theta, "outliers": v_o}
