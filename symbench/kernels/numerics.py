"""Numerics kernels: a Piecewise, special functions, and one big expression."""

from __future__ import annotations

import sympy as sp
from sympy.physics.hydrogen import R_nl

from .core import Domain, Kernel, Tolerance

x = sp.Symbol("x", real=True)
r = sp.Symbol("r", real=True)

KERNELS = [
    Kernel(
        name="huber",
        args=(x,),
        expr=sp.Piecewise((x**2 / 2, sp.Abs(x) <= 1), (sp.Abs(x) - sp.Rational(1, 2), True)),
        domains=(Domain(-4.0, 4.0, special=(-1.0, 0.0, 1.0)),),
        doc="Huber loss with delta=1: a Piecewise with a branch at |x| = 1",
        source="Huber 1964",
    ),
    Kernel(
        name="gamma",
        args=(x,),
        expr=sp.gamma(x),
        domains=(Domain(0.1, 20.0, special=(1.0, 2.0)),),
        doc="Euler gamma function on (0.1, 20)",
        source="special function; C99 tgamma",
    ),
    Kernel(
        name="bessel_j0",
        args=(x,),
        expr=sp.besselj(0, x),
        domains=(Domain(0.0, 50.0, special=(0.0,)),),
        doc="Bessel function of the first kind J0(x); not every backend's library has it",
        source="special function",
        # The one stated allowance in the catalog. J0 libraries are accurate in absolute,
        # not relative, terms near J0's zeros (Cephes j0, which SciPy uses, documents a
        # peak absolute error of 4.2e-16 on [0, 30]). Without it, NumPy/SciPy float64 is
        # outside the relative bound at 189 of 1000 points, worst 1.2e-16 absolute at
        # x = 21.2 next to a zero, where the bound allows 3.3e-19.
        tolerances={
            "float64": Tolerance(
                atol=5e-16, reason="J0 libraries are accurate to ~4e-16 absolute near zeros"
            )
        },
    ),
    Kernel(
        name="hydrogen_sum8",
        args=(r,),
        expr=sp.Add(*(R_nl(n, ell, r, 1) for n in range(1, 9) for ell in range(n))),
        domains=(Domain(0.0, 40.0, special=(0.0,)),),
        doc=(
            "sum of all hydrogen radial functions R_nl(n, l, r, Z=1) with n <= 8: "
            "~600 operations, stresses compile time and common-subexpression elimination"
        ),
        source="sympy.physics.hydrogen.R_nl",
    ),
]
