"""Kernels that model-serving code evaluates per element: activations, similarities, pricing."""

from __future__ import annotations

import sympy as sp

from .core import Domain, Kernel

x, y = sp.symbols("x y", real=True)
S, K, T, r, sigma = sp.symbols("S K T r sigma", real=True)


def _phi(z: sp.Expr) -> sp.Expr:
    """Standard normal CDF written with erf, as pricing code usually writes it."""
    return (1 + sp.erf(z / sp.sqrt(2))) / 2


_d1 = (sp.log(S / K) + (r + sigma**2 / 2) * T) / (sigma * sp.sqrt(T))
_d2 = _d1 - sigma * sp.sqrt(T)

# Degree-8 polynomial: the Taylor polynomial of exp(x) at 0 (coefficients 1/k!), in the
# monomial form code generators are handed, not Horner form.
_poly8 = sum(x**k / sp.factorial(k) for k in range(9))

KERNELS = [
    Kernel(
        name="sigmoid",
        args=(x,),
        expr=1 / (1 + sp.exp(-x)),
        domains=(Domain(-30.0, 30.0, special=(0.0,)),),
        doc="logistic sigmoid 1/(1+exp(-x))",
        source="standard activation function",
    ),
    Kernel(
        name="softplus",
        args=(x,),
        expr=sp.log(1 + sp.exp(x)),
        domains=(Domain(-10.0, 10.0, special=(0.0,)),),
        doc=(
            "softplus log(1+exp(x)) as written: for x << 0 the formula itself loses relative "
            "accuracy (log of 1+tiny), which the running error bound allows"
        ),
        source="standard activation function",
    ),
    Kernel(
        name="gelu",
        args=(x,),
        expr=x / 2 * (1 + sp.erf(x / sp.sqrt(2))),
        domains=(Domain(-10.0, 10.0, special=(0.0,)),),
        doc="GELU, exact erf form x/2 (1 + erf(x/sqrt 2)); cancels for x << 0",
        source="Hendrycks & Gimpel 2016, arXiv:1606.08415",
    ),
    Kernel(
        name="rbf",
        args=(x, y),
        expr=sp.exp(-((x - y) ** 2) / 2),
        domains=(Domain(-5.0, 5.0), Domain(-5.0, 5.0)),
        doc="Gaussian (RBF) kernel exp(-(x-y)^2/2) of two coordinates",
        source="standard radial basis function",
    ),
    Kernel(
        name="logsumexp2",
        args=(x, y),
        expr=sp.log(sp.exp(x) + sp.exp(y)),
        domains=(Domain(-20.0, 20.0), Domain(-20.0, 20.0)),
        doc="log-sum-exp of two arguments, naive form log(exp(x)+exp(y))",
        source="standard reduction in softmax and mixture models",
    ),
    Kernel(
        name="poly8",
        args=(x,),
        expr=_poly8,
        domains=(Domain(-2.0, 2.0, special=(0.0,)),),
        doc="degree-8 polynomial (Taylor polynomial of exp at 0), monomial form",
        source="sum(x**k/k!, k=0..8)",
    ),
    Kernel(
        name="black_scholes",
        args=(S, K, T, r, sigma),
        expr=S * _phi(_d1) - K * sp.exp(-r * T) * _phi(_d2),
        domains=(
            Domain(10.0, 200.0),
            Domain(10.0, 200.0),
            Domain(0.1, 2.0),
            Domain(0.0, 0.1),
            Domain(0.1, 0.8),
        ),
        doc="Black-Scholes European call price C(S, K, T, r, sigma) with erf, log, sqrt, exp",
        source="Black & Scholes 1973; Phi(z) = (1 + erf(z/sqrt 2))/2",
    ),
]
