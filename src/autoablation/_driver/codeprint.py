"""A fingerprint of the training function, so that a resume never pairs two different ones.

Resuming keeps the results already in the journal and pairs them, seed by seed, with the new
ones. If the training function changed in between (more epochs, another optimiser, a fixed
bug), the two halves measure different things and the paired estimate means nothing. The
fingerprint lets `ExperimentDir` refuse such a resume.

What it covers, as far as it can be computed the same way in another process:

* the function's code: bytecode, constants, the names it uses, argument counts and flags,
  recursively into nested functions, lambdas and comprehensions; and its default arguments;
* the values it closes over and the module globals it reads, when they are numbers, strings,
  bytes, None, or tuples, lists, dicts and sets of them; modules (by name); classes and
  functions of other modules (by qualified name: library code is versioned on its own);
  functions of the training function's own module (their code and what they read, again);
* for a ``functools.partial``, its function and arguments; for a bound method, its function.

What it leaves out, and says so: any other value (a DataFrame, a path object, an instance of
your own class), and line numbers, comments and formatting, which do not change what runs.
The bytecode belongs to the Python version: resuming under another Python version counts as a
change.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("autoablation")

TRAIN_FUNCTION = "train_function"
"""The key of the training function's fingerprint in a study's fingerprint."""
_SCALARS = (int, float, complex, str, bytes, bool, type(None), type(Ellipsis))
_MAX_ITEMS = 10_000
"""Items of a closed-over container hashed; a larger one is left out (and named)."""
_MAX_DEPTH = 6


@dataclass(frozen=True)
class FunctionFingerprint:
    """The training function's name, a digest of what it does, and what the digest leaves out.

    Attributes:
        name: ``module.qualname`` of the function.
        digest: 16 hex digits over its code and the values it reads (see the module).
        skipped: ``name (type)`` of each value it reads that could not be hashed.
    """

    name: str
    digest: str
    skipped: tuple[str, ...]

    @property
    def key(self) -> str:
        """What the study's fingerprint records: ``name@digest``."""
        return f"{self.name}@{self.digest}"


def qualified_name(value: Any) -> str:
    """``module.qualname`` of a function, class or callable object."""
    target = getattr(value, "__func__", value)
    if isinstance(target, functools.partial):
        return f"partial({qualified_name(target.func)})"
    module = getattr(target, "__module__", None) or type(target).__module__
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{name}"


class _Hasher:
    """Feeds a canonical text of code and values into one SHA-256."""

    def __init__(self, module: str | None) -> None:
        self._sha = hashlib.sha256()
        self._module = module
        self._seen: set[int] = set()
        self.skipped: list[str] = []

    def hexdigest(self) -> str:
        return self._sha.hexdigest()[:16]

    def _feed(self, *parts: object) -> None:
        for part in parts:
            text = part.hex() if isinstance(part, bytes) else str(part)
            self._sha.update(text.encode("utf-8", "surrogatepass"))
            self._sha.update(b"\x00")

    def code(self, code: types.CodeType) -> None:
        """Bytecode, constants (nested code included), names; never line numbers."""
        if id(code) in self._seen:
            self._feed("code-again", code.co_name)
            return
        self._seen.add(id(code))
        self._feed(
            "code",
            code.co_name,
            code.co_argcount,
            code.co_posonlyargcount,
            code.co_kwonlyargcount,
            code.co_flags,
            code.co_code,
            ",".join(code.co_names),
            ",".join(code.co_varnames),
            ",".join(code.co_freevars),
            ",".join(code.co_cellvars),
        )
        for constant in code.co_consts:
            self._constant(constant)

    def _constant(self, value: Any) -> None:
        if isinstance(value, types.CodeType):
            self.code(value)
        elif isinstance(value, tuple):
            self._feed("tuple", len(value))
            for item in value:
                self._constant(item)
        elif isinstance(value, frozenset):  # its order follows string hashing: sort it
            self._feed("frozenset", *sorted(repr(item) for item in value))
        else:
            self._feed(type(value).__name__, repr(value))

    def value(self, name: str, value: Any) -> None:
        """Hash a value the function reads; name it in `skipped` when it cannot be hashed."""
        parts = list(self._parts(value, 0))
        if parts and parts[-1] is _UNHASHABLE:
            self.skipped.append(f"{name} ({type(value).__name__})")
            self._feed("skipped", name)
        else:
            self._feed("value", name, *parts)

    def _parts(self, value: Any, depth: int) -> Iterator[object]:
        """The canonical text of a value, ending in `_UNHASHABLE` where it cannot be hashed."""
        if isinstance(value, _SCALARS):
            yield from (type(value).__name__, repr(value))
        elif depth >= _MAX_DEPTH:
            yield _UNHASHABLE
        elif isinstance(value, (tuple, list, set, frozenset, dict)):
            if len(value) > _MAX_ITEMS:
                yield _UNHASHABLE
                return
            items = list(value.items()) if isinstance(value, dict) else list(value)
            texts = [list(self._parts(item, depth + 1)) for item in items]
            if any(text and text[-1] is _UNHASHABLE for text in texts):
                yield _UNHASHABLE
                return
            if isinstance(value, (set, frozenset, dict)):  # no stable order: sort the texts
                texts.sort(key=repr)
            yield type(value).__name__, len(value)
            for text in texts:
                yield from text
        elif isinstance(value, types.ModuleType):
            yield from ("module", value.__name__)
        elif isinstance(value, type):
            yield from ("class", qualified_name(value))
        elif isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
            yield from ("function", qualified_name(value))
            if self._follows(value):
                self.callable(value)
        elif isinstance(value, (types.BuiltinFunctionType, types.MethodWrapperType)):
            yield from ("builtin", qualified_name(value))
        elif type(value).__module__ == "numpy" and hasattr(value, "item"):  # a NumPy scalar
            yield from (type(value).__name__, repr(value))
        else:
            yield _UNHASHABLE

    def _follows(self, value: Any) -> bool:
        """Whether to hash a function's code: only the training function's own module's."""
        target = getattr(value, "__func__", value)
        if isinstance(target, functools.partial):
            return True
        return getattr(target, "__module__", None) == self._module

    def callable(self, value: Callable[..., Any]) -> None:
        """Hash a function, method, partial or callable object: code, defaults, what it reads."""
        if isinstance(value, functools.partial):
            self.callable(value.func)
            for index, argument in enumerate(value.args):
                self.value(f"partial argument {index}", argument)
            for key, argument in sorted(value.keywords.items()):
                self.value(f"partial argument {key}", argument)
            return
        if isinstance(value, types.MethodType):
            self.skipped.append(f"{value.__name__}'s self ({type(value.__self__).__name__})")
            value = value.__func__
        if not isinstance(value, types.FunctionType):
            call = getattr(type(value), "__call__", None)  # noqa: B004 - the class's own
            self.skipped.append(f"the callable's state ({type(value).__name__})")
            if isinstance(call, types.FunctionType):
                self.callable(call)
            else:
                self._feed("opaque", qualified_name(value))
            return
        if id(value) in self._seen:
            return
        self._seen.add(id(value))
        self.code(value.__code__)
        for index, default in enumerate(value.__defaults__ or ()):
            self.value(f"default {index}", default)
        for key, default in sorted((value.__kwdefaults__ or {}).items()):
            self.value(f"default {key}", default)
        cells = value.__closure__ or ()
        for name, cell in zip(value.__code__.co_freevars, cells, strict=True):
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell: a name assigned after the function was made
                self._feed("empty", name)
                continue
            self.value(name, contents)
        namespace = value.__globals__
        for name in sorted(_global_names(value.__code__)):
            if name in namespace:
                self.value(name, namespace[name])


class _Unhashable:
    def __repr__(self) -> str:
        return "<unhashable>"


_UNHASHABLE = _Unhashable()


def _global_names(code: types.CodeType) -> set[str]:
    """Every name a code object and its nested code objects look up (globals among them)."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _global_names(constant)
    return names


def fingerprint_function(fn: Callable[..., Any]) -> FunctionFingerprint:
    """The fingerprint of ``fn``; values it cannot hash are listed in ``skipped``."""
    target = getattr(fn, "__func__", fn)
    module = getattr(inspect.unwrap(target), "__module__", None) if callable(target) else None
    hasher = _Hasher(module)
    hasher.callable(fn)
    return FunctionFingerprint(qualified_name(fn), hasher.hexdigest(), tuple(hasher.skipped))


def train_function_key(fn: Callable[..., Any]) -> str:
    """``name@digest`` of the training function, logging what the digest leaves out."""
    fingerprint = fingerprint_function(fn)
    if fingerprint.skipped:
        logger.info(
            "the fingerprint of the training function %s leaves out %s: a change to them is "
            "not noticed when a study is resumed",
            fingerprint.name,
            ", ".join(fingerprint.skipped),
        )
    return fingerprint.key
