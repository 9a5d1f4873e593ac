"""Reading plain data (what JSON files and Locust's messages carry) into typed objects.

A :class:`Plain` is one value being read together with where it is: the file and the key path
inside it (``customers[3].sent[0]``). Asking it for the type the contract expects either gives
that type or raises :class:`~sim.errors.InputError` naming the file and the key, so that a
malformed file says what is wrong where instead of failing later with a ``KeyError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from sim.errors import InputError


class Plain:
    """One value of plain data being read, and its place (file and key path)."""

    __slots__ = ("data", "file", "key")

    def __init__(self, data: object, *, file: str | Path | None = None, key: str = "") -> None:
        self.data = data
        self.file = file
        self.key = key

    @classmethod
    def of(cls, data: object, *, file: str | Path | None = None, key: str = "") -> Plain:
        """``data`` to read; a :class:`Plain` already being read keeps its own place."""
        return data if isinstance(data, Plain) else cls(data, file=file, key=key)

    def fail(self, problem: str) -> NoReturn:
        """Raise :class:`~sim.errors.InputError` about this value."""
        raise InputError(problem, file=self.file, key=self.key or None)

    def _object(self) -> dict[str, object]:
        if not isinstance(self.data, dict):
            self.fail(f"expected an object, got {_kind(self.data)}")
        return self.data

    def _at(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def __getitem__(self, name: str) -> Plain:
        """The value of key ``name`` of this object, which must be there."""
        data = self._object()
        if name not in data:
            Plain(None, file=self.file, key=self._at(name)).fail("missing")
        return Plain(data[name], file=self.file, key=self._at(name))

    def optional(self, name: str) -> Plain | None:
        """The value of key ``name``, or None when it is absent or null."""
        value = self._object().get(name)
        return None if value is None else Plain(value, file=self.file, key=self._at(name))

    def number(self) -> float:
        if isinstance(self.data, bool) or not isinstance(self.data, int | float):
            self.fail(f"expected a number, got {_kind(self.data)}")
        return float(self.data)

    def integer(self) -> int:
        if isinstance(self.data, bool) or not isinstance(self.data, int):
            self.fail(f"expected an integer, got {_kind(self.data)}")
        return self.data

    def text(self) -> str:
        if not isinstance(self.data, str):
            self.fail(f"expected a string, got {_kind(self.data)}")
        return self.data

    def items(self) -> list[Plain]:
        """The elements of this list."""
        if not isinstance(self.data, list):
            self.fail(f"expected a list, got {_kind(self.data)}")
        return [Plain(item, file=self.file, key=f"{self.key}[{i}]") for i, item in enumerate(self.data)]

    def entries(self) -> list[tuple[str, Plain]]:
        """The keys and values of this object."""
        return [(name, Plain(value, file=self.file, key=self._at(name))) for name, value in self._object().items()]

    def span(self) -> tuple[float, float]:
        """A ``[begin, end]`` pair of times."""
        begin, end = self.open_span()
        if end is None:
            self.fail("expected [begin, end], got no end")
        return begin, end

    def open_span(self) -> tuple[float, float | None]:
        """A ``[begin, end]`` pair of times whose end may be null (still open)."""
        items = self.items()
        if len(items) != 2:
            self.fail(f"expected [begin, end], got {len(items)} values")
        begin, end = items
        return begin.number(), None if end.data is None else end.number()


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
