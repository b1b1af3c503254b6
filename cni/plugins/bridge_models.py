"""pydantic model of the bridge plugin's configuration: the documented schema.

Where it sits: off the exec hot path. `cni.plugins.bridge` parses its keys with
plain Python and imports this only to explain a config that failed (every
problem with its field path); `pycni lint` validates files with it. Importing
this module registers the model as `cni.models.MODELS["bridge"]`.

Every field of the reference bridge (containernetworking/plugins 1.9) is here,
with the same names, defaults and ranges; unknown keys are allowed (chained
plugins and runtimes add their own).
"""

from typing import List, Literal, Optional

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from cni import models
from cni.models import NetConfModel, _Open

_MAC = r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$"


class VlanTrunkModel(_Open):
    """One trunk entry: a single `id`, or a `minID`..`maxID` range (both 1..4094)."""

    id: Optional[StrictInt] = Field(None, ge=1, le=4094)
    min_id: Optional[StrictInt] = Field(None, alias="minID", ge=1, le=4094)
    max_id: Optional[StrictInt] = Field(None, alias="maxID", ge=1, le=4094)

    @model_validator(mode="after")
    def _range(self) -> "VlanTrunkModel":
        if (self.min_id is None) != (self.max_id is None):
            raise ValueError("minID and maxID should be configured simultaneously")
        if self.min_id is not None and self.max_id is not None and self.max_id < self.min_id:
            raise ValueError("minID is greater than maxID in trunk parameter")
        return self


class BridgeArgsModel(_Open):
    mac: Optional[StrictStr] = Field(None, pattern=_MAC)


class BridgeCNIArgsModel(_Open):
    cni: Optional[BridgeArgsModel] = None


class BridgeRuntimeConfigModel(_Open):
    mac: Optional[StrictStr] = Field(None, pattern=_MAC)


class BridgeConfModel(NetConfModel):
    bridge: StrictStr = Field("cni0", min_length=1, max_length=15, pattern=r"^[^/:\s]+$")
    is_gateway: StrictBool = Field(False, alias="isGateway")
    is_default_gateway: StrictBool = Field(False, alias="isDefaultGateway")
    force_address: StrictBool = Field(False, alias="forceAddress")
    ip_masq_backend: Optional[Literal["iptables", "nftables"]] = Field(None, alias="ipMasqBackend")
    mtu: StrictInt = Field(0, ge=0, le=65535)
    hairpin_mode: StrictBool = Field(False, alias="hairpinMode")
    promisc_mode: StrictBool = Field(False, alias="promiscMode")
    vlan: StrictInt = Field(0, ge=0, le=4094)
    vlan_trunk: Optional[List[VlanTrunkModel]] = Field(None, alias="vlanTrunk")
    preserve_default_vlan: StrictBool = Field(False, alias="preserveDefaultVlan")
    enabledad: StrictBool = False
    macspoofchk: StrictBool = False
    disable_container_interface: StrictBool = Field(False, alias="disableContainerInterface")
    port_isolation: StrictBool = Field(False, alias="portIsolation")
    args: Optional[BridgeCNIArgsModel] = None  # type: ignore[assignment]
    runtime_config: Optional[BridgeRuntimeConfigModel] = Field(  # type: ignore[assignment]
        None, alias="runtimeConfig")


models.MODELS["bridge"] = BridgeConfModel
