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
        tolerances={"float64": Tolerance(rtol=1e-13), "float32": Tolerance(rtol=1e-5)},
    ),
    Kernel(
        name="bessel_j0",
        args=(x,),
        expr=sp.besselj(0, x),
        domains=(Domain(0.0, 50.0, special=(0.0,)),),
        doc="Bessel function of the first kind J0(x); not every backend's library has it",
        source="special function",
        tolerances={"float64": Tolerance(rtol=1e-12, atol=1e-15), "float32": Tolerance(1e-5, 1e-6)},
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
        tolerances={"float64": Tolerance(rtol=1e-12, atol=1e-13), "float32": Tolerance(1e-4, 1e-5)},
    ),
]
