"""The plugins pycni ships: CNI type -> module.

Each module has NAME, CONFIG (its config class, cni.schema; None when it reads
only the spec's keys) and the verb functions (cni.skel). The entry points
(cni.main), in-process delegation and `pycni install` / `pycni lint` find them here.
"""

MODULES = {
    "bridge": "cni.plugins.bridge",
    "host-local": "cni.plugins.host_local",
    "loopback": "cni.plugins.loopback",
}

# Plugins that never delegate: a main plugin may run them inside its own
# process (cni.delegate) instead of exec'ing a second interpreter. A plugin that
# delegates must not be here: in-process, `"ipam": {"type": "bridge"}` would
# recurse without the exec'd depth guard ever seeing it.
LEAVES = {name: MODULES[name] for name in ("host-local", "loopback")}
