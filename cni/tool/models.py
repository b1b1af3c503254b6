"""pydantic (v2) models of the configs, derived from their config classes.

Where it sits: `pycni lint` only, never a plugin's exec path; the only module
that imports pydantic. Each model is made from a `cni.schema.Config` class
(`model(NetConf, BridgeConf)`): the same keys, JSON types, defaults and checks,
and the same key matching (a before-validator folds keys as Go does and drops
nulls, which the plugins read as absent). pydantic then reports every field
problem at once, with its path and an error type for lint's hints. Rules
across fields are not modelled: lint runs the plugins' own parser for them once
the fields are sound (cni/tool/lint.py).
"""

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails as ErrorDetails  # re-exported: lint's type of a problem

from cni.errors import CNIError
from cni.schema import Config, Key, fold

if TYPE_CHECKING:
    from cni.schema import Kind


class _Folded(BaseModel):
    """Unknown keys are kept (chained plugins and runtimes add their own)."""

    model_config = ConfigDict(extra="allow", strict=True)
    spellings: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _match_keys(cls, data: Any) -> Any:
        """Each key under its declared spelling (the last non-null one wins); nulls go."""
        if not isinstance(data, dict):
            return data
        out: dict[Any, Any] = {}
        for name, value in data.items():
            declared = cls.spellings.get(fold(name)) if isinstance(name, str) else None
            if declared is None:
                out[name] = value
            elif value is not None:
                out[declared] = value
        return out


@cache
def model(*configs: "type[Config]") -> type[BaseModel]:
    """The model of the keys of `configs` together, as a plugin and the IPAM it runs
    in-process read one object: a key declared by several classes gets every class's
    check, and objects declared by several are merged the same way."""
    groups: dict[str, list[Key]] = {}
    for config in configs:
        for f in config.FIELDS:
            groups.setdefault(f.key, []).append(f)
    fields: dict[str, Any] = {
        f"f{i}": (_annotation(group),
                  Field(... if any(f.missing for f in group) else None, alias=name))
        for i, (name, group) in enumerate(groups.items())}
    made = create_model("_".join(c.__name__ for c in configs), __base__=_Folded, **fields)
    made.spellings = {fold(spelling): name for name, group in groups.items()
                      for f in group for spelling in (f.key, *f.also)}
    return made


def _annotation(group: list[Key]) -> Any:
    if all(f.kind[0] == "object" for f in group):
        return model(*dict.fromkeys(f.kind[1] for f in group))
    annotation = _type(group[-1].kind)
    checks = [AfterValidator(_checked(f.check)) for f in group if f.check is not None]
    return Annotated[(annotation, *checks)] if checks else annotation


def _type(kind: "Kind") -> Any:
    tag = kind[0]
    if tag == "object":
        return model(kind[1])
    if tag == "list":
        item = _type(kind[1])
        return list[item | None if kind[2] else item]  # type: ignore[misc]  # built at run time
    if tag == "dict":
        value = Any if kind[1] is None else _type(kind[1])
        return dict[str, value | None if kind[2] else value]  # type: ignore[misc]  # built at run time
    return {"bool": StrictBool, "int": StrictInt, "str": StrictStr, "number": float,
            "any": Any}[tag]


def _checked(check: Any) -> Any:
    """The config class's check as a pydantic validator (its CNIError -> ValueError)."""
    def validate(value: Any) -> Any:
        try:
            return check(value)
        except CNIError as exc:
            raise ValueError(exc.msg + (f" ({exc.details})" if exc.details else "")) from None
    return validate


def errors(raw: object, *configs: "type[Config]") -> list[ErrorDetails]:
    """Every field problem of `raw` under the model of `configs` (empty when none)."""
    try:
        model(*configs).model_validate(raw)  # type: ignore[arg-type]  # classes hash: python/mypy#11470
    except ValidationError as exc:
        return exc.errors()
    return []
