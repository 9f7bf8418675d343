"""Typed reading of one TOML table with errors that name the key: `evse[2].max_current_a: must be …`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_REQUIRED = object()


class ConfigError(ValueError):
    """A station config problem: `key` is the dotted path of the key, `problem` says what is wrong."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class Table:
    """One table of the config; every getter checks type and range; `done()` rejects unknown keys."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"must be a table, got {_kind(data)}")
        self.data = data
        self.where = path
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def _get(self, name: str, default: Any) -> Any:
        self._seen.add(name)
        if name in self.data:
            return self.data[name]
        if default is _REQUIRED:
            raise ConfigError(self.key(name), "missing")
        return default

    def str(self, name: str, default: Any = _REQUIRED, *, choices: tuple[str, ...] = (),
            nonempty: bool = True) -> Any:
        value = self._get(name, default)
        if value is default and default is not _REQUIRED:
            return value
        if not isinstance(value, str):
            raise ConfigError(self.key(name), f"must be a string, got {_kind(value)}")
        if nonempty and not value.strip():
            raise ConfigError(self.key(name), "must not be empty")
        if choices and value not in choices:
            raise ConfigError(self.key(name), f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def int(self, name: str, default: Any = _REQUIRED, *, lo: int | None = None, hi: int | None = None) -> Any:
        value = self._get(name, default)
        if value is default and default is not _REQUIRED:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.key(name), f"must be an integer, got {_kind(value)}")
        _check_range(self.key(name), value, lo, hi)
        return value

    def float(self, name: str, default: Any = _REQUIRED, *, lo: float | None = None,
              hi: float | None = None) -> Any:
        value = self._get(name, default)
        if value is default and default is not _REQUIRED:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(self.key(name), f"must be a number, got {_kind(value)}")
        _check_range(self.key(name), value, lo, hi)
        return float(value)

    def bool(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), f"must be true or false, got {_kind(value)}")
        return value

    def path(self, name: str, base: Path, default: Any = _REQUIRED) -> Any:
        value = self.str(name, default)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p).resolve()

    def table(self, name: str, *, optional: bool = True) -> Table:
        value = self._get(name, {} if optional else _REQUIRED)
        return Table(value, self.key(name))

    def tables(self, name: str) -> list[Table]:
        value = self._get(name, [])
        if not isinstance(value, list):
            raise ConfigError(self.key(name), f"must be an array of tables ([[{name}]]), got {_kind(value)}")
        return [Table(item, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    def raw(self, name: str, default: Any = None) -> Any:
        return self._get(name, default)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            raise ConfigError(self.key(unknown[0]), "unknown key (misspelt?)")


def _check_range(key: str, value: float, lo: float | None, hi: float | None) -> None:
    if lo is not None and value < lo:
        raise ConfigError(key, f"must be ≥ {lo}, got {value}")
    if hi is not None and value > hi:
        raise ConfigError(key, f"must be ≤ {hi}, got {value}")


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)
