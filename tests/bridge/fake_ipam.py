"""A scripted IPAM for the bridge tests: it records every call and answers from the config.

Installed per test as an executable (see kit.install_fake_ipam). Config keys under
`ipam`: `log` (file that gets one JSON line per call: command, env, stdin), `ips`
([{address, gateway}]), `routes`, `dns`, and `fail` ({"CHECK": 105, ...}: answer
that verb with that error code).
"""

import json
import os
import sys


def main() -> int:
    command = os.environ.get("CNI_COMMAND", "")
    raw = sys.stdin.read()
    if command == "VERSION":
        print(json.dumps({"cniVersion": "1.1.0", "supportedVersions": [
            "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}))
        return 0
    conf = json.loads(raw)
    ipam = conf["ipam"]
    with open(ipam["log"], "a") as f:
        f.write(json.dumps({"command": command, "stdin": raw,
                            "env": {k: v for k, v in os.environ.items() if k.startswith("CNI_")}})
                + "\n")
    version = conf.get("cniVersion", "0.1.0")
    code = ipam.get("fail", {}).get(command)
    if code:
        print(json.dumps({"cniVersion": version, "code": code, "msg": f"fake {command} failure"}))
        return 1
    if command != "ADD":
        return 0
    if version in ("0.1.0", "0.2.0"):
        out = {"cniVersion": version}
        for ip in ipam["ips"]:
            key = "ip6" if ":" in ip["address"] else "ip4"
            out.setdefault(key, {"ip": ip["address"], "gateway": ip.get("gateway", "")})
    else:
        ips = [dict(ip, version="6" if ":" in ip["address"] else "4") if version < "1.0.0"
               else ip for ip in ipam["ips"]]
        out = {"cniVersion": version, "ips": ips, "routes": ipam.get("routes", [])}
    out["dns"] = ipam.get("dns", {})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
