"""Kernels to and from the plain data stored in run records (no code is evaluated)."""

from __future__ import annotations

from typing import Any

from .. import exprcodec
from ..errors import BadInput
from .core import Domain, Kernel, Tolerance


def kernel_to_dict(k: Kernel) -> dict[str, Any]:
    return {
        "name": k.name,
        "args": [exprcodec.dumps(a) for a in k.args],
        "arg_names": list(k.arg_names),
        "expr": exprcodec.dumps(k.expr),
        "text": str(k.expr),
        "domains": [
            {"lo": d.lo, "hi": d.hi, "special": list(d.special), "scale": d.scale}
            for d in k.domains
        ],
        "tolerances": {
            dt: {"rtol": t.rtol, "atol": t.atol, "reason": t.reason}
            for dt, t in k.tolerances.items()
        },
        "doc": k.doc,
        "source": k.source,
        "content_hash": k.content_hash,
    }


def kernel_from_dict(d: dict[str, Any]) -> Kernel:
    """Rebuild a Kernel; BadInput when the stored data is damaged or was altered."""
    try:
        kernel = Kernel(
            name=d["name"],
            args=tuple(exprcodec.loads(a) for a in d["args"]),
            expr=exprcodec.loads(d["expr"]),
            domains=tuple(
                Domain(x["lo"], x["hi"], tuple(x["special"]), x.get("scale", "linear"))
                for x in d["domains"]
            ),
            doc=d.get("doc", ""),
            source=d.get("source", ""),
            tolerances={dt: Tolerance(**t) for dt, t in d["tolerances"].items()},
        )
    except (KeyError, TypeError) as exc:
        raise BadInput(f"stored kernel {d.get('name', '?')!r} is incomplete: {exc}") from None
    if d.get("content_hash") and d["content_hash"] != kernel.content_hash:
        raise BadInput(f"stored kernel {kernel.name!r} does not match its content hash")
    return kernel
