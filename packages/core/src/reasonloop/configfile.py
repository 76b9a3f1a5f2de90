"""Run configs as validated files (TOML, YAML or JSON) read into pydantic models.

Every method's CLI takes `--config FILE` (or the name of a config its package ships), so the
reading, the validation and the one-line error naming the file and the key live here once.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigSection(BaseModel):
    """Base of config models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Config = TypeVar("Config", bound=BaseModel)


class MethodConfig(ConfigSection):
    """Base of a method's whole-run config (sections of `ConfigSection`s)."""

    def with_overrides(self, **sections: dict[str, Any]) -> Self:
        """A copy with some fields of some sections replaced (validated like a file);
        None values keep the current setting, so CLI flags left unset change nothing."""
        return with_overrides(self, **sections)


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
    try:
        text = path.read_text()
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ValueError(f"{path}: config must be .toml, .yaml or .json")
        return model.model_validate(data)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid {path.suffix[1:].upper()}: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg']}") from None


def with_overrides(config: Config, **sections: dict[str, Any]) -> Config:
    """A copy with some fields of some sections replaced (validated like a file); None = keep."""
    data = config.model_dump()
    for section, fields in sections.items():
        data[section].update({k: v for k, v in fields.items() if v is not None})
    return type(config).model_validate(data)
