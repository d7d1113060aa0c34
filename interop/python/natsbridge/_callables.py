"""Calling user-supplied handlers with the spec's positional arguments plus
whichever of natsbridge's keyword extras they declare."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict


def supported_kwargs(fn: Callable[..., Any], extras: Dict[str, Any]) -> Dict[str, Any]:
    """The subset of ``extras`` that ``fn`` accepts as keyword arguments
    (all of them when it takes ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(extras)
    names = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }
    return {k: v for k, v in extras.items() if k in names}


async def call_handler(fn: Callable[..., Any], *args: Any, **extras: Any) -> Any:
    """Calls ``fn(*args, **supported extras)`` and awaits the result if it is awaitable."""
    result = fn(*args, **supported_kwargs(fn, extras))
    if inspect.isawaitable(result):
        result = await result
    return result
