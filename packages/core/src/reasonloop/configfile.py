"""Run configs as validated files (TOML, YAML or JSON) read into pydantic models.

Every method's CLI takes `--config FILE` (or the name of a config its package ships), so the
reading, the validation and the one-line error naming the file and the key live here once.
Whatever is wrong with a file (too large, not UTF-8, a syntax error, nesting too deep for the
parser, a YAML tag or alias, a value of the wrong type, an infinite or NaN float) is a
ValueError of one line: `FILE:LINE: what` where the parser knows the line, `FILE: field: what`
otherwise.

`--set SECTION.KEY=VALUE` (every method's CLI) and the CLIs' shortcut options (`--model`,
`--iterations`, ...) change a loaded config through one function, `with_settings`: the key is
looked up in the config's model (an unknown one is named), the whole config is validated again.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reasonloop.errors import describe, one_line
from reasonloop.jsonl import read_json

MAX_CONFIG_BYTES = 1024 * 1024
MAX_SETTING_CHARS = 10_000


class ConfigSection(BaseModel):
    """Base of config models: unknown keys are errors, values are immutable, floats finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CheckpointSection(ConfigSection):
    """`[checkpoint]` of every method's config: how many checkpoints a run keeps (the newest
    ones; reasonloop.checkpoint). It may change when a run is resumed."""

    keep_last: int = Field(default=3, ge=1)


class ModelSection(ConfigSection):
    """`[model]` of a method's config: the policy model and its LoRA adapters
    (`reasonloop.models.lora.with_lora` attaches what it says)."""

    spec: str = "smollm2-135m"  # built-in name, HF dir, .gguf or hub id
    lora: bool = True  # False: full fine-tuning
    lora_rank: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    # Adapt only the last k layers: backpropagation stops there, so a step costs little more
    # than a forward pass (what makes CPU runs affordable). None adapts every layer.
    lora_top_layers: int | None = Field(default=8, ge=1)


Config = TypeVar("Config", bound=BaseModel)


class MethodConfig(ConfigSection):
    """Base of a method's whole-run config (sections of `ConfigSection`s)."""

    def with_overrides(self, **sections: dict[str, Any]) -> Self:
        """A copy with some fields of some sections replaced (validated like a file);
        None values keep the current setting, so CLI flags left unset change nothing."""
        return with_overrides(self, **sections)


def check_run_config(
    saved: Path, config: BaseModel, *, resume: bool, may_change: Iterable[str] = ("checkpoint",)
) -> None:
    """A run directory belongs to one config: `saved`, the config its run wrote when it
    started, must be absent, or (`resume`) equal to `config` but for the `may_change` keys
    (`section` or `section.field`). Compared as written, so a run saved before a field
    existed is not taken for one with that field's default. ValueError of one line."""
    if not saved.is_file():
        return
    if not resume:
        raise ValueError(f"{saved.parent} already holds a run: pass --resume, or another --run-dir")
    before = read_json(saved)
    current = config.model_dump(mode="json")
    if not isinstance(before, dict) or not all(isinstance(v, dict) for v in before.values()):
        raise ValueError(f"{saved}: not a run's config")
    for key in may_change:
        section, _, field = key.partition(".")
        if field:
            before.setdefault(section, {})[field] = current[section][field]
        else:
            before[section] = current[section]
    if before != current:
        raise ValueError(f"{saved.parent} was started with another config")


def load_config_file(
    path: str | Path, model: type[Config], shipped_dir: Path | None = None
) -> Config:
    """Read and validate `path`; a bare name is looked up as `shipped_dir/NAME.toml`.

    Raises ValueError with one line naming the file and the offending key.
    """
    path = Path(path)
    if not path.is_file():
        shipped = shipped_dir / f"{path}.toml" if shipped_dir is not None else None
        if shipped is None or not shipped.is_file():
            raise ValueError(f"config file not found: {path}")
        path = shipped
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes, not a config")
    if path.suffix not in _PARSERS:
        raise ValueError(f"{path}: config must be .toml, .yaml or .json")
    raw = path.read_bytes()
    try:
        data = _PARSERS[path.suffix](raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 (byte 0x{raw[error.start]:02x})") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deep") from None
    except _Malformed as error:
        where = f"{path}:{error.line}" if error.line is not None else f"{path}"
        raise ValueError(f"{where}: {error.what}") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValueError(f"{path}: {describe(error)}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deep") from None


class _Malformed(Exception):
    """A parser's error as the line it is on (when known) and one line of what is wrong."""

    def __init__(self, line: int | None, what: str) -> None:
        super().__init__(what)
        self.line, self.what = line, what


def _toml(text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)  # "what (at line L, column C)" or "what (at end of document)"
        at = re.search(r" \(at (?:line (\d+), column \d+|end of document)\)$", message)
        if at is None:
            raise _Malformed(None, f"not valid TOML: {message}") from None
        line = int(at.group(1)) if at.group(1) else text.count("\n") + 1
        raise _Malformed(line, f"not valid TOML: {message[: at.start()]}") from None


class _SafeLoader(yaml.SafeLoader):
    """Safe YAML without aliases: an alias repeats a node, so a few lines of them make a tree
    of billions of nodes to validate."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.MarkedYAMLError(problem="aliases are not allowed", problem_mark=mark)
        return super().compose_node(parent, index)


def _yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_SafeLoader) or {}  # a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = one_line(ValueError(error.problem or error.context or "invalid"))
        raise _Malformed(mark and mark.line + 1, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise _Malformed(None, f"not valid YAML: {one_line(error)}") from None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _Malformed(error.lineno, f"not valid JSON: {error.msg}") from None


_PARSERS = {".toml": _toml, ".yaml": _yaml, ".yml": _yaml, ".json": _json}


def with_overrides(config: Config, **sections: dict[str, Any]) -> Config:
    """A copy with some fields of some sections replaced (validated like a file); None = keep."""
    return with_settings(
        config,
        {
            f"{section}.{key}": value
            for section, fields in sections.items()
            for key, value in fields.items()
            if value is not None
        },
    )


def parse_settings(items: Iterable[str]) -> dict[str, str]:
    """`KEY.PATH=VALUE` texts (as `--set` takes them) as {key path: value text}."""
    settings = {}
    for item in items:
        if len(item) > MAX_SETTING_CHARS:
            raise ValueError(f"--set: a setting is at most {MAX_SETTING_CHARS} characters")
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item[:60]!r}: write SECTION.KEY=VALUE")
        settings[key] = value
    return settings


def with_settings(config: Config, settings: Mapping[str, Any]) -> Config:
    """A copy of `config` with each dotted key set to its value, validated as a whole.

    A value given as text (from `--set`) is read as a TOML value (`3`, `0.5`, `true`,
    `[1, 8]`, `"quoted"`) unless the field holds text; unreadable text stays text, for the
    model to accept or refuse. ValueError, one line naming the key: an unknown key, or what
    the model says is wrong with the value.
    """
    data = config.model_dump()
    for key, value in settings.items():
        model: type[BaseModel] = type(config)
        parts = key.split(".")
        target = data
        for depth, part in enumerate(parts):
            field = model.model_fields.get(part)
            if field is None:
                where = ".".join(parts[:depth]) or "the config"
                known = ", ".join(model.model_fields)
                raise ValueError(f"--set {key[:80]}: unknown key ({where} has: {known})")
            if depth == len(parts) - 1:
                try:
                    target[part] = _typed(value, field.annotation)
                except ValueError as error:
                    raise ValueError(f"--set {key[:80]}: {error}") from None
            elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                model, target = field.annotation, target[part]
            else:
                raise ValueError(f"--set {key[:80]}: {'.'.join(parts[: depth + 1])} is a value")
    try:
        return type(config).model_validate(data)
    except ValidationError as error:  # a bad value: `section.field: what is wrong`
        raise ValueError(describe(error)) from None


def _typed(value: Any, annotation: Any) -> Any:
    """A `--set` text as the TOML value it spells (text fields keep the text)."""
    if not isinstance(value, str) or annotation in (str, str | None):
        return value
    try:
        parsed = tomllib.loads(f"value = {value}")
    except tomllib.TOMLDecodeError:
        return value
    except RecursionError:  # `[[[[...` (the 10,000-character limit allows ~5,000 levels)
        raise ValueError("the value is nested too deep") from None
    return parsed["value"] if parsed.keys() == {"value"} else value
