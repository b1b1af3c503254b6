"""An in-process plugin runner that lives in a test host namespace (fuzz and path tests).

Where it sits: `reliability.worker.Worker` starts this file as
`ip netns exec <host> python worker.py` and sends it one request per line;
each request runs `cni.skel.run` in this process (no interpreter start-up per
case, so thousands of cases fit in a minute) with injected env and stdin, with
fds 1 and 2 captured, then answers one JSON line on the original stdout:

  request  {"plugin", "env", "stdin" (base64), "snapshot": bool,
            "container": netns name or null, "watch": [dirs], "undo": bool}
  reply    {"run": {"rc", "stdout", "stderr", "exception"}, "before", "after",
            "undo", "after_undo", "netns_kept"}

A snapshot is what an ADD may change on the node: the host's links (name and
kind), the container's links, the nftables ruleset (iptables-nft rules
included) and every file under the watched directories with its content.
`undo`: after a successful ADD, DEL the same attachment and snapshot again.
`netns_kept` says the process is still in its own namespace afterwards (a verb
must always come back from the container's).
"""

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import traceback

PROTOCOL_FDS: "dict[str, int]" = {}


def snapshot(req: dict) -> dict:
    return {"links": _links([]),
            "container": _links(["-n", req["container"]]) if req.get("container") else {},
            "nft": _nft(), "files": _files(req.get("watch", []))}


def _links(prefix: "list[str]") -> "dict[str, str]":
    out = subprocess.run(["ip", *prefix, "-j", "-d", "link", "show"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        return {"<error>": out.stderr.strip()}
    # strict=False: ip prints control characters in names raw, which strict JSON refuses
    return {link["ifname"]: link.get("linkinfo", {}).get("info_kind", "")
            for link in json.loads(out.stdout, strict=False)}


def _nft() -> "list[str]":
    out = subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True, check=False)
    if out.returncode != 0:  # unknown state: it must not compare equal to any listing
        return [f"<error> {out.stderr.strip()}"]
    rules = []
    for item in json.loads(out.stdout or '{"nftables": []}').get("nftables", []):
        for kind in ("table", "chain", "rule", "set"):
            if kind in item:
                obj = dict(item[kind])
                obj.pop("handle", None)
                if kind == "rule":
                    obj["expr"] = [e for e in obj.get("expr", []) if "counter" not in e]
                rules.append(kind + " " + json.dumps(obj, sort_keys=True))
    return sorted(rules)


def _files(roots: "list[str]") -> "dict[str, str]":
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                if os.path.islink(path):
                    out[path] = "symlink:" + os.readlink(path)
                elif os.path.isdir(path):
                    out[path] = "dir"
                else:
                    try:
                        with open(path, "rb") as f:
                            out[path] = "file:" + f.read(300).decode("utf-8", "replace")
                    except OSError as exc:
                        out[path] = f"unreadable:{exc.strerror}"
    return out


def run_once(plugin: str, env: dict, stdin: bytes) -> dict:
    from cni import log, main, skel
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    captures = {fd: tempfile.TemporaryFile() for fd in (1, 2)}  # noqa: SIM115 - closed below
    out, err = io.StringIO(), io.StringIO()
    exception = ""
    rc = None
    try:
        for fd, f in captures.items():
            os.dup2(f.fileno(), fd)
        rc = skel.run(main.module_of(plugin), env=env, stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    except BaseException:
        exception = traceback.format_exc()
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        if log._state["fd"] not in (1, 2):  # a logFile this case opened
            os.close(log._state["fd"])
        log._state.update(level=30, fd=2, tag="pycni")
    texts = {}
    for fd, f in captures.items():
        f.seek(0)
        texts[fd] = f.read().decode("utf-8", "replace")
        f.close()
    return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue() + texts[2],
            "fd1": texts[1], "exception": exception}


def serve(req: dict) -> dict:
    stdin = base64.b64decode(req["stdin"])
    env = req["env"]
    reply: dict = {}
    if req.get("snapshot"):
        reply["before"] = snapshot(req)
    reply["run"] = run_once(req["plugin"], env, stdin)
    if req.get("snapshot"):
        reply["after"] = snapshot(req)
    if req.get("undo") and reply["run"]["rc"] == 0 and env.get("CNI_COMMAND") == "ADD":
        reply["undo"] = run_once(req["plugin"], dict(env, CNI_COMMAND="DEL"), stdin)
        reply["after_undo"] = snapshot(req)
    return reply


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # a verb reading the real stdin would hang the protocol
    own = os.stat("/proc/thread-self/ns/net").st_ino
    for line in proto_in:
        try:
            reply = serve(json.loads(line))
        except BaseException:
            reply = {"worker_error": traceback.format_exc()}
        reply["netns_kept"] = os.stat("/proc/thread-self/ns/net").st_ino == own
        proto_out.write(json.dumps(reply) + "\n")
        proto_out.flush()


class Worker:
    """The client side, in the pytest process: `Worker(host, cwd).call(...)`."""

    def __init__(self, host_name: str, cwd: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", host_name, sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd,
            env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")})

    def call(self, plugin: str, env: dict, stdin: bytes, **options) -> dict:
        req = dict(options, plugin=plugin, env=env, stdin=base64.b64encode(stdin).decode())
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the in-process worker died (status {self.proc.wait()})")
        reply = json.loads(line)
        if "worker_error" in reply:
            raise RuntimeError(reply["worker_error"])
        return reply

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


if __name__ == "__main__":
    main()
