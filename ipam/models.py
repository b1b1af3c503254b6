"""pydantic models of a network config whose `ipam` is host-local (for `pycni lint`
and error explanations).

Where it sits: off the exec hot path; imported by `cni.models` (it registers
`MODELS["host-local"]` on import). The models give field paths for shape
errors (types, aliases); the meaning of the values (CIDRs, canonical ranges,
families, overlaps, versions) is checked by running the plugin's own parser,
`ipam.config.load`, so lint and the plugin cannot disagree.
"""

from typing import Any, List, Optional, Union

from pydantic import Field, StrictFloat, StrictInt, StrictStr, model_validator

from cni.models import MODELS, IPAMModel, NetConfModel, _Open


class RangeModel(_Open):
    subnet: Optional[StrictStr] = None
    range_start: Optional[StrictStr] = Field(None, alias="rangeStart")
    range_end: Optional[StrictStr] = Field(None, alias="rangeEnd")
    gateway: Optional[StrictStr] = None


class RouteModel(_Open):
    dst: Optional[StrictStr] = None
    gw: Optional[StrictStr] = None
    mtu: Optional[StrictInt] = None
    advmss: Optional[StrictInt] = None
    priority: Optional[StrictInt] = None
    table: Optional[StrictInt] = None
    scope: Optional[StrictInt] = None


class HostLocalIPAMModel(IPAMModel):
    """The `ipam` object of host-local (ranges, legacy single range, routes, store)."""

    ranges: Optional[List[List[RangeModel]]] = None
    subnet: Optional[StrictStr] = None
    range_start: Optional[StrictStr] = Field(None, alias="rangeStart")
    range_end: Optional[StrictStr] = Field(None, alias="rangeEnd")
    gateway: Optional[StrictStr] = None
    routes: Optional[List[RouteModel]] = None
    data_dir: Optional[StrictStr] = Field(None, alias="dataDir")
    resolv_conf: Optional[StrictStr] = Field(None, alias="resolvConf")
    lock_timeout: Optional[Union[StrictInt, StrictFloat]] = Field(None, alias="lockTimeout")


class HostLocalNetConfModel(NetConfModel):
    """A whole network config as host-local reads it (it needs the top-level name)."""

    ipam: HostLocalIPAMModel

    @model_validator(mode="after")
    def _plugin_accepts(self) -> "HostLocalNetConfModel":
        problem = plugin_problem(self.model_dump(by_alias=True, exclude_unset=True))
        if problem:
            raise ValueError(problem)
        return self


class _Request:
    """The parts of a request `ipam.config.load` reads (no CNI_ARGS in a file)."""

    def __init__(self, conf: Any) -> None:
        self.conf = conf
        self.args: "dict[str, str]" = {}


def plugin_problem(raw: dict) -> str:
    """What host-local's own parser says about `raw` ('' when it accepts it)."""
    from cni.errors import CNIError
    from cni.netconf import NetConf
    from ipam import config
    try:
        config.load(_Request(NetConf(raw)))
    except CNIError as exc:
        return str(exc)
    return ""


MODELS["host-local"] = HostLocalNetConfModel
