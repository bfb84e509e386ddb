"""The four kernels of the original SymPy timing study this project grew out of."""

from __future__ import annotations

import sympy as sp
from sympy.physics.hydrogen import R_nl

from .core import Domain, Kernel

x, y = sp.symbols("x y", real=True)

KERNELS = [
    Kernel(
        name="add",
        args=(x, y),
        expr=x + y,
        domains=(Domain(-1e3, 1e3), Domain(-1e3, 1e3)),
        doc="x + y: pure memory traffic, the roofline's floor",
        source="sympy timing study (lambdify vs ufuncify)",
    ),
    Kernel(
        name="square",
        args=(x,),
        expr=x**2,
        domains=(Domain(-1e3, 1e3),),
        doc="x**2: one multiply per element",
        source="sympy timing study (lambdify vs ufuncify)",
    ),
    Kernel(
        name="sinc",
        args=(x,),
        expr=sp.sin(x) / x,
        domains=(Domain(-10.0, 10.0, special=(0.0,)),),
        doc=(
            "sin(x)/x as written; at x=0 it is 0/0, whose truth here is NaN (IEEE), not the limit 1"
        ),
        source="sympy timing study (lambdify vs ufuncify)",
    ),
    Kernel(
        name="hydrogen_r31",
        args=(x,),
        expr=R_nl(3, 1, x, 6),
        domains=(Domain(0.0, 5.0, special=(0.0,)),),
        doc="hydrogen-like radial function R_nl(n=3, l=1, r, Z=6)",
        source="sympy.physics.hydrogen.R_nl; sympy timing study",
    ),
]
