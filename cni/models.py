"""pydantic (v2) models of the configs we read: the documented schema.

Where it sits: off the exec hot path. `cni.netconf` (and the plugins' own
parsers) import this only after a config failed their fast checks, to report
every problem with its field path; `pycni lint` validates files with it. The
fast parsers and these models must agree on what is valid: a test compares them.
"""

from typing import Any, Dict, List, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError


class _Open(BaseModel):
    """Unknown keys are kept: chained plugins and runtimes add their own."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class DNSModel(_Open):
    nameservers: Optional[List[StrictStr]] = None
    domain: Optional[StrictStr] = None
    search: Optional[List[StrictStr]] = None
    options: Optional[List[StrictStr]] = None


class IPAMModel(_Open):
    type: Optional[StrictStr] = None


class NetConfModel(_Open):
    cni_version: Optional[StrictStr] = Field(None, alias="cniVersion")
    cni_versions: Optional[List[StrictStr]] = Field(None, alias="cniVersions")
    name: StrictStr = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=1024)
    type: Optional[StrictStr] = None
    args: Optional[Dict[str, Any]] = None
    ip_masq: Optional[StrictBool] = Field(None, alias="ipMasq")
    ipam: Optional[IPAMModel] = None
    dns: Optional[DNSModel] = None
    runtime_config: Optional[Dict[str, Any]] = Field(None, alias="runtimeConfig")
    capabilities: Optional[Dict[str, Optional[StrictBool]]] = None
    prev_result: Optional[Dict[str, Any]] = Field(None, alias="prevResult")
    log_file: Optional[StrictStr] = Field(None, alias="logFile")
    log_level: Optional[StrictStr] = Field(None, alias="logLevel")


# Plugins register their own models here (name -> model class).
MODELS: "dict[str, type[BaseModel]]" = {"netconf": NetConfModel}


def errors(raw: object, model: str = "netconf") -> "list[str]":
    """Every validation problem as 'field.path: message' (empty when valid)."""
    _load_plugin_models()
    try:
        MODELS[model].model_validate(raw)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()]
    return []


def explain(raw: object, model: str = "netconf") -> str:
    return "; ".join(errors(raw, model))


def _load_plugin_models() -> None:
    """Plugin modules add their models on import; import the known ones once."""
    import importlib
    for module in ("cni.plugins.bridge_models", "ipam.models"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
