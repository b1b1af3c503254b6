"""A recording CNI plugin for the runner tests (installed under any type name).

Each exec but VERSION appends one JSON line to $RECORDER_LOG:
    {"type": <its file name>, "command": CNI_COMMAND, "env": {CNI_* variables},
     "loader": {LD_LIBRARY_PATH and _PYI_* variables}, "stdin": <the config it received>}
and answers as its config says:
    "fail": {"<VERB>": {"code": N, "msg": "..."}}   print that error JSON, exit 1
    "garbage": ["<VERB>", ...]                      print non-JSON, exit 1
Otherwise ADD returns prevResult with one interface appended ("if-<type>"), or,
first in a chain, a result with that interface and the address 10.99.0.5/24.
"""

import json
import os
import sys

plugin_type = os.path.basename(sys.argv[0])
command = os.environ.get("CNI_COMMAND", "")
raw = sys.stdin.read()
if command == "VERSION":
    print(json.dumps({"cniVersion": "1.1.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]}))
    sys.exit(0)
conf = json.loads(raw)
with open(os.environ["RECORDER_LOG"], "a") as log:
    log.write(json.dumps({"type": plugin_type, "command": command, "stdin": conf,
                          "env": {k: v for k, v in os.environ.items() if k.startswith("CNI_")},
                          "loader": {k: v for k, v in os.environ.items()
                                     if k.startswith("_PYI_") or k.startswith("LD_LIBRARY_PATH")}})
              + "\n")
fail = (conf.get("fail") or {}).get(command)
if fail:
    print(json.dumps({"cniVersion": conf.get("cniVersion"), **fail}))
    sys.exit(1)
if command in (conf.get("garbage") or []):
    print("this is not JSON")
    sys.exit(1)
if command == "ADD":
    version = conf.get("cniVersion") or "0.1.0"
    result = dict(conf.get("prevResult") or {"cniVersion": version, "dns": {}})
    result["interfaces"] = [*(result.get("interfaces") or []), {"name": f"if-{plugin_type}"}]
    if not result.get("ips"):
        ip = {"interface": 0, "address": "10.99.0.5/24"}
        if not version.startswith("1."):
            ip["version"] = "4"
        result["ips"] = [ip]
    print(json.dumps(result))
