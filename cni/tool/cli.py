"""pycni: the operator's command line (click).

Where it sits: the `pycni` console script (and the frozen bundle under any name
that is not a plugin's) lands in `main()`. This is the only module that imports
click; the plugins' exec path never imports it. Each command is a thin shell:

    add | check | del | gc | status   run a network as a runtime does (cni.tool.libcni),
                                      cnitool-compatible (same env, IDs and cache)
    ipam ls | leaks | release         read-only views and leak repair (cni.tool.ipam_views,
                                      evidence from cni.tool.netns_scan)
    lint FILE...                      validate configs with the pydantic models
    install | uninstall               put the plugins (and a sample config) in place, in exec
                                      or daemon mode (shims); take them away
    daemon [status]                   the resident daemon behind the shims (cni.daemon); its state
    version                           what this is, and the spec versions it speaks

Errors: a failure prints one line on stderr (the plugin's own message, with its
CNI code) and exits 1; a usage error exits 2 (click's convention).
"""

import json
import os
import sys
import time

import click

from cni import __version__
from cni.errors import CNIError

TYPE_CHECKING = False  # type checkers read this as True; nothing below runs
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from cni.tool.ipam_views import Cached, Finding, NetworkView
    from cni.tool.libcni import Attachment, CacheEntry, NetworkList, Runtime
    from cni.tool.netns_scan import Scan

    F = TypeVar("F", bound="Callable[..., object]")  # a command function, under decoration
    T = TypeVar("T")

EXIT_CODES = ("\b\nExit status:\n  0  success\n  1  a plugin or the operation failed\n"
              "  2  usage error (bad option or argument)")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_DATA_DIR = "/var/lib/cni/networks"


class Failed(click.ClickException):
    """An operation that failed: message on stderr, exit status 1."""

    exit_code = 1

    def show(self, file: "Any" = None) -> None:
        click.echo(f"pycni: {self.format_message()}", err=True)


def failure(exc: CNIError) -> Failed:
    text = exc.msg + (f"; {exc.details}" if exc.details else "")
    return Failed(f"{text} (code {exc.code})")


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
@click.version_option(__version__, "-V", "--version", prog_name="pycni",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """pycni: CNI plugins (bridge, host-local, loopback) and their operator tool.

    The runtime commands (add, check, del, gc, status) drive a network from the
    CNI config directory exactly as libcni does for cnitool, containerd or
    CRI-O, and share its result cache, so pycni and a runtime can take turns.
    """


def main() -> None:
    cli(prog_name="pycni")


# -- running networks (libcni / cnitool) ----------------------------------------


# Options shared by several commands (click builds a fresh Option per use).
CONF_DIR = click.option("--conf-dir", envvar="NETCONFPATH", default="/etc/cni/net.d",
                        show_default=True, metavar="DIR",
                        help="Directory of network configs [env: NETCONFPATH].")
CACHE_DIR = click.option("--cache-dir", envvar="PYCNI_CACHE_DIR", default="/var/lib/cni",
                         show_default=True, metavar="DIR",
                         help="libcni cache root; results are in DIR/results "
                              "[env: PYCNI_CACHE_DIR].")
CNI_PATH = click.option("--cni-path", envvar="CNI_PATH", default="/opt/cni/bin",
                        show_default=True, metavar="DIRS",
                        help="Colon-separated plugin directories [env: CNI_PATH].")
ATTACHMENT = (
    click.option("-i", "--ifname", envvar="CNI_IFNAME", default="eth0", show_default=True,
                 help="Container interface [env: CNI_IFNAME]."),
    click.option("--container-id", metavar="ID",
                 help="Act for this container ID (default: cnitool's, derived from the "
                      "netns path)."),
    click.option("--args", "cni_args", envvar="CNI_ARGS", default="", metavar="K=V;...",
                 help="CNI_ARGS for the plugins [env: CNI_ARGS]."),
    click.option("--cap-args", envvar="CAP_ARGS", default="", metavar="JSON",
                 help="Capability args, a JSON object; a plugin receives the ones it "
                      "declares in `capabilities` [env: CAP_ARGS]."),
)


def _runtime_options(attachment: bool) -> "Callable[[F], F]":
    """The options of the runtime verbs; cnitool's environment variables work too."""
    options = (CONF_DIR, CNI_PATH, CACHE_DIR, *(ATTACHMENT if attachment else ()))

    def decorate(f: "F") -> "F":
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


def _setup(network: str, conf_dir: str, cni_path: str, cache_dir: str) -> "tuple[Runtime, NetworkList]":
    from cni.tool import libcni
    try:
        net = libcni.find_network(network, conf_dir)
    except CNIError as exc:
        raise failure(exc) from exc
    rt = libcni.Runtime(cni_path.split(":"), libcni.ResultCache(cache_dir))
    return rt, net


def _attachment(netns: str, ifname: str, container_id: "str | None", cni_args: str,
                cap_args: str) -> "Attachment":
    from cni.tool import libcni
    if not netns and not container_id:
        raise click.UsageError("an empty NETNS needs --container-id")
    try:
        return libcni.Attachment(
            container_id or libcni.cnitool_container_id(netns),
            os.path.abspath(netns) if netns else "", ifname,
            libcni.parse_cni_args(cni_args), libcni.parse_cap_args(cap_args))
    except CNIError as exc:
        raise failure(exc) from exc


def _run(action: "Callable[..., T]", *args: object) -> "T":
    try:
        return action(*args)
    except CNIError as exc:
        raise failure(exc) from exc
    except OSError as exc:
        raise Failed(f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")) from exc


@cli.command(epilog=EXIT_CODES)
@click.argument("network")
@click.argument("netns")
@_runtime_options(attachment=True)
def add(network: str, netns: str, conf_dir: str, cni_path: str, cache_dir: str, ifname: str,
        container_id: "str | None", cni_args: str, cap_args: str) -> None:
    """Attach the container whose network namespace is NETNS to NETWORK.

    Runs ADD on each plugin of the network's list in order, chaining results,
    caches the final result (as libcni does) and prints it. If ADD fails, run
    `pycni del` with the same arguments to undo what was done.
    """
    rt, net = _setup(network, conf_dir, cni_path, cache_dir)
    att = _attachment(netns, ifname, container_id, cni_args, cap_args)
    result = _run(rt.add, net, att)
    click.echo(json.dumps(result, indent=4))


@cli.command(epilog=EXIT_CODES)
@click.argument("network")
@click.argument("netns")
@_runtime_options(attachment=True)
def check(network: str, netns: str, conf_dir: str, cni_path: str, cache_dir: str, ifname: str,
          container_id: "str | None", cni_args: str, cap_args: str) -> None:
    """Check that the attachment of NETNS to NETWORK is as its cached result says.

    Needs cniVersion 0.4.0 or later; does nothing when the list sets disableCheck.
    """
    rt, net = _setup(network, conf_dir, cni_path, cache_dir)
    att = _attachment(netns, ifname, container_id, cni_args, cap_args)
    if not _run(rt.check, net, att):
        click.echo(f"pycni: network {network!r} sets disableCheck: nothing checked", err=True)


@cli.command("del", epilog=EXIT_CODES)
@click.argument("network")
@click.argument("netns")
@_runtime_options(attachment=True)
def delete(network: str, netns: str, conf_dir: str, cni_path: str, cache_dir: str, ifname: str,
           container_id: "str | None", cni_args: str, cap_args: str) -> None:
    """Detach NETNS from NETWORK (DEL in reverse order); safe to repeat.

    NETNS may be gone already, or "" together with --container-id.
    """
    rt, net = _setup(network, conf_dir, cni_path, cache_dir)
    att = _attachment(netns, ifname, container_id, cni_args, cap_args)
    _run(rt.delete, net, att)


@cli.command(epilog=EXIT_CODES)
@click.argument("network")
@click.argument("netns", required=False)
@_runtime_options(attachment=False)
@click.option("--valid", multiple=True, metavar="CONTAINERID/IFNAME",
              help="An attachment that is still valid (repeatable). Without it, a cached "
                   "attachment is valid while its network namespace exists.")
def gc(network: str, netns: "str | None", conf_dir: str, cni_path: str, cache_dir: str,
       valid: "tuple[str, ...]") -> None:
    """Clean up NETWORK: DEL stale cached attachments, then GC each plugin.

    A cached attachment that is not valid gets a full DEL; then (cniVersion
    1.1.0 or later) every plugin gets GC with cni.dev/valid-attachments listing
    the attachments still cached and those given with --valid. The plugins
    release everything else: use the cache directory the node's runtime uses
    (libcni's default, /var/lib/cni), or name its live attachments with
    --valid. NETNS is accepted for cnitool compatibility and ignored. Errors are
    collected: GC goes on and reports them all.
    """
    from cni.tool import netns_scan
    rt, net = _setup(network, conf_dir, cni_path, cache_dir)
    keep = {tuple(v.rsplit("/", 1)) for v in valid}
    if any(len(k) != 2 for k in keep):
        raise click.BadParameter("expected CONTAINERID/IFNAME", param_hint="--valid")
    if not keep and not netns_scan.can_probe():
        raise Failed("telling live attachments from stale ones needs root; "
                     "pass --valid CONTAINERID/IFNAME for each live one")
    def is_valid(entry: "CacheEntry") -> bool:
        if keep:
            return (entry.container_id, entry.ifname) in keep
        return netns_scan.alive(entry.netns)

    deleted, errors = _run(rt.gc, net, is_valid, sorted(keep))
    for entry in deleted:
        click.echo(f"deleted stale attachment {entry.container_id} {entry.ifname}"
                   f"{' (netns ' + entry.netns + ')' if entry.netns else ''}")
    for exc in errors:
        click.echo(f"pycni: {failure(exc).format_message()}", err=True)
    if errors:
        sys.exit(1)


@cli.command(epilog=EXIT_CODES)
@click.argument("network")
@click.argument("netns", required=False)
@_runtime_options(attachment=False)
def status(network: str, netns: "str | None", conf_dir: str, cni_path: str,
           cache_dir: str) -> None:
    """Ask each plugin of NETWORK whether it can serve ADD now (STATUS).

    Stops at the first plugin that cannot. Needs cniVersion 1.1.0 or later
    (below that, as in libcni, nothing is asked and the answer is yes).
    NETNS is accepted for cnitool compatibility and ignored.
    """
    rt, net = _setup(network, conf_dir, cni_path, cache_dir)
    if not _run(rt.status, net):
        click.echo(f"pycni: network {network!r} is cniVersion {net.cni_version}: STATUS needs "
                   "1.1.0, nothing asked", err=True)


# -- IPAM inspection -------------------------------------------------------------


@cli.group(epilog=EXIT_CODES)
def ipam() -> None:
    """Inspect and repair host-local IPAM state (the reference's on-disk format)."""


def _ipam_options(f: "F") -> "F":
    f = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)
    f = CONF_DIR(f)
    f = click.option("--data-dir", metavar="DIR",
                     help="host-local dataDir (default: the network config's, else "
                          f"{DEFAULT_DATA_DIR}).")(f)
    return click.argument("network", required=False)(f)


def _views(network: "str | None", data_dir: "str | None", conf_dir: str) -> "list[NetworkView]":
    from cni.tool import ipam_views
    try:
        return ipam_views.views(network, data_dir, conf_dir)
    except CNIError as exc:
        raise failure(exc) from exc


@ipam.command("ls", epilog=EXIT_CODES)
@_ipam_options
def ipam_ls(network: "str | None", data_dir: "str | None", conf_dir: str, as_json: bool) -> None:
    """List every allocation (of NETWORK, or of all networks) and range utilisation.

    Shows IP, container ID, interface, age of the reservation file and, for a
    file that cannot be read as a reservation, what is wrong with it. Ranges
    (used / size) are shown when the network's config is in the config directory.
    """
    views = _views(network, data_dir, conf_dir)
    if as_json:
        click.echo(json.dumps({"networks": [v.to_dict() for v in views]}, indent=2))
        return
    now = time.time()
    _table(["NETWORK", "IP", "CONTAINER ID", "IFNAME", "AGE", "PROBLEM"],
           [[v.name, a.ip, a.container_id, a.ifname or "-", _age(now - a.mtime), a.problem]
            for v in views for a in v.allocations])
    ranges = [[v.name, str(u.set_index), u.range, str(u.used), str(u.size), f"{u.percent:.0f}%"]
              for v in views for u in v.ranges or []]
    if ranges:
        click.echo()
        _table(["NETWORK", "SET", "RANGE", "USED", "SIZE", "USE"], ranges)
    for v in views:
        if v.note:
            click.echo(f"({v.name}: {v.note})", err=True)
        elif v.ranges is None:
            click.echo(f"({v.name}: no config in {conf_dir}, utilisation unknown)", err=True)


def _findings(network: "str | None", data_dir: "str | None", conf_dir: str, cache_dir: str,
              min_age: float) -> "list[Finding]":
    from cni.tool import ipam_views, netns_scan
    if not netns_scan.can_probe():
        raise Failed("looking inside network namespaces needs root")
    views = _views(network, data_dir, conf_dir)
    cached = _cached(cache_dir)
    scans: "dict[str, Scan]" = {}  # one walk through the namespaces per bridge (it filters the host veths)
    for v in views:
        if v.bridge not in scans:
            scans[v.bridge] = netns_scan.scan(_netns_of(cached), v.bridge)
    return [f for v in views
            for f in ipam_views.classify(v, cached, scans[v.bridge], min_age=min_age)]


def _cached(cache_dir: str) -> "Cached":
    """(network, container ID, ifname) -> (netns path, alive) for every cache entry."""
    from cni.tool import libcni, netns_scan
    return {e.key(): (e.netns, netns_scan.alive(e.netns))
            for e in libcni.ResultCache(cache_dir).entries() if not e.problem}


def _netns_of(cached: "Cached") -> "list[str]":
    return sorted({netns for netns, alive in cached.values() if alive})


_MIN_AGE = click.option("--min-age", default=60.0, show_default=True, metavar="SECONDS",
                        help="Ignore reservations younger than this (an ADD may be in flight).")


@ipam.command("leaks", epilog=EXIT_CODES)
@_ipam_options
@CACHE_DIR
@_MIN_AGE
def ipam_leaks(network: "str | None", data_dir: "str | None", conf_dir: str, cache_dir: str,
               as_json: bool, min_age: float) -> None:
    """List allocations that no live attachment explains, with the evidence.

    An allocation is explained by an address seen inside a live network
    namespace, or by a libcni cache entry whose namespace is alive. Otherwise
    it is a leak (no cache entry), stale (its cache entry's namespace is gone)
    or corrupt (an unreadable reservation file). While host veths exist whose
    peer is in a namespace pycni cannot see, suspects are reported as
    'unsure' and never released.
    """
    findings = [f for f in _findings(network, data_dir, conf_dir, cache_dir, min_age) if f.leaked]
    _show_findings(findings, as_json)


def _show_findings(findings: "list[Finding]", as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"leaks": [f.to_dict() for f in findings]}, indent=2))
        return
    now = time.time()
    _table(["NETWORK", "IP", "CONTAINER ID", "IFNAME", "AGE", "KIND", "EVIDENCE"],
           [[f.network, f.allocation.ip, f.allocation.container_id, f.allocation.ifname or "-",
             _age(now - f.allocation.mtime), f.kind, "; ".join(f.evidence)] for f in findings])


@ipam.command("release", epilog=EXIT_CODES)
@_ipam_options
@CACHE_DIR
@_MIN_AGE
@click.option("--yes", is_flag=True, help="Really release (default: only show what would go).")
def ipam_release(network: "str | None", data_dir: "str | None", conf_dir: str, cache_dir: str,
                 as_json: bool, min_age: float, yes: bool) -> None:
    """Release the leaked allocations that `pycni ipam leaks` lists.

    A dry run unless --yes. Each release happens under the network's lock and
    only if the reservation file is unchanged since it was examined. 'unsure'
    rows are never released.
    """
    from cni.tool import ipam_views
    findings = [f for f in _findings(network, data_dir, conf_dir, cache_dir, min_age)
                if f.leaked and f.kind != "unsure"]
    if not yes:
        _show_findings(findings, as_json)
        if not as_json:
            click.echo(f"dry run: {len(findings)} allocation(s) would be released; "
                       "add --yes to release them", err=True)
        return
    outcomes = _run(ipam_views.release, findings)
    if as_json:
        click.echo(json.dumps({"released": [
            {"network": f.network, "ip": f.allocation.ip, "outcome": o} for f, o in outcomes]},
            indent=2))
    else:
        for f, outcome in outcomes:
            click.echo(f"{f.network} {f.allocation.ip}: {outcome}")
    if any(o != "released" for _, o in outcomes):
        sys.exit(1)


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _table(header: "list[str]", rows: "list[list[str]]") -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# -- lint ------------------------------------------------------------------------


@cli.command(epilog=EXIT_CODES)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def lint(files: "tuple[str, ...]") -> None:
    """Validate network config files (.conflist, .conf, .json).

    Every plugin is checked against the generic schema and, when pycni knows
    its type (bridge, host-local, loopback), against that plugin's schema; the
    `ipam` section against its IPAM's. Problems are printed as
    FILE: FIELD.PATH: message, with a hint. Exit status 1 if any file has one.
    """
    from cni.tool import lint as _lint
    bad = 0
    for path in files:
        problems, notes = _lint.check_file(path)
        for p in problems:
            click.echo(f"{path}: {p}", err=True)
        for n in notes:
            click.echo(f"{path}: note: {n}", err=True)
        if problems:
            bad += 1
        else:
            click.echo(f"{path}: ok")
    if bad:
        raise Failed(f"{bad} of {len(files)} file(s) have problems")


# -- install ---------------------------------------------------------------------


@cli.command(epilog=EXIT_CODES)
@click.option("--bin-dir", default="/opt/cni/bin", show_default=True, metavar="DIR",
              help="Where runtimes look for plugins (their CNI_PATH).")
@click.option("--conf-dir", default="/etc/cni/net.d", show_default=True, metavar="DIR",
              help="Where runtimes look for network configs.")
@click.option("--conf", "conf_name", metavar="NAME",
              help="Also install this sample config from conf/ (e.g. 10-pycni.conflist).")
@click.option("--force", is_flag=True,
              help="Replace files that are not pycni's (another vendor's plugins).")
@click.option("--mode", type=click.Choice(["exec", "daemon"]), default="exec", show_default=True,
              help="exec: each call runs the plugin; daemon: shims hand calls to `pycni daemon`.")
@click.option("--socket", "socket_path", default="/run/pycni/pycni.sock", show_default=True,
              metavar="PATH", help="Daemon mode: the daemon's socket.")
@click.option("--strict", is_flag=True,
              help="Daemon mode: while the daemon is away, ADD answers code 11 (try again later) "
              "instead of running the plugin itself. DEL always runs.")
def install(bin_dir: str, conf_dir: str, conf_name: "str | None", force: bool, mode: str,
            socket_path: str, strict: bool) -> None:
    """Install the plugins (bridge, host-local, loopback) into --bin-dir.

    From the frozen bundle each plugin becomes a symlink to the bundle's
    executable; from a virtualenv, a small launcher that runs the venv's
    interpreter in isolated mode (-I). In daemon mode each plugin name is a
    shim (native when a C compiler or the bundle's prebuilt copy is there,
    else Python) and those files move to --bin-dir/.pycni/, where the shims
    run them when the daemon is away. Every file is replaced atomically
    (written aside, then renamed), so a runtime exec'ing a plugin meanwhile
    sees the old file or the new one, never half of one. A file that is not
    pycni's is left alone unless --force.
    """
    from cni.tool import install as _install
    if strict and mode != "daemon":
        raise click.UsageError("--strict is for --mode daemon")
    try:
        done = _install.plugins(bin_dir, force=force, mode=mode, socket_path=socket_path,
                                strict=strict)
        if conf_name:
            done.append(_install.sample_conf(conf_name, conf_dir, force=force))
    except _install.Refused as exc:
        raise Failed(str(exc)) from exc
    except OSError as exc:
        raise Failed(f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")) from exc
    for line in done:
        click.echo(line)


@cli.command(epilog=EXIT_CODES)
@click.option("--bin-dir", default="/opt/cni/bin", show_default=True, metavar="DIR",
              help="Where the plugins were installed.")
def uninstall(bin_dir: str) -> None:
    """Remove pycni's plugins and shims (and daemon mode's .pycni/) from --bin-dir.

    Only files that are pycni's are removed; anything else is left alone.
    """
    from cni.tool import install as _install
    try:
        done = _install.uninstall(bin_dir)
    except OSError as exc:
        raise Failed(f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")) from exc
    for line in done or [f"nothing of pycni's in {bin_dir}"]:
        click.echo(line)


# -- daemon ----------------------------------------------------------------------

SOCKET_OPTION = click.option("--socket", "socket_path", default="/run/pycni/pycni.sock",
                             show_default=True, metavar="PATH", help="The daemon's unix socket.")


@cli.group(invoke_without_command=True, epilog=EXIT_CODES)
@SOCKET_OPTION
@click.option("--cni-bin-dir", "cni_bin_dirs", default="/opt/cni/bin", show_default=True,
              metavar="DIRS", help="Plugin directories (colon-separated) for work the daemon starts "
              "itself; a call carries its own CNI_PATH.")
@click.option("--max-workers", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="CNI calls run at once; more wait in a queue.")
@click.option("--max-request-bytes", type=click.IntRange(1024), default=1 << 20, show_default=True,
              help="Largest request accepted (the shim runs a larger one itself).")
@click.option("--read-timeout", type=click.FloatRange(0.1), default=10.0, show_default=True,
              help="Seconds a client has to send its whole request.")
@click.option("--write-timeout", type=click.FloatRange(0.1), default=10.0, show_default=True,
              help="Seconds a client has to take the reply.")
@click.option("--trace-imports", is_flag=True, hidden=True,
              help="Log any module a worker imports after the fork (tests).")
@click.pass_context
def daemon(ctx: click.Context, socket_path: str, cni_bin_dirs: str, max_workers: int,
           max_request_bytes: int, read_timeout: float, write_timeout: float,
           trace_imports: bool) -> None:
    """Run the daemon in the foreground: the shims installed by
    `pycni install --mode daemon` hand it every CNI call.

    Each call runs in a process forked from the warm daemon, in the caller's
    namespaces, with the same code, checks, locks and files as an exec'd
    plugin. /healthz, /readyz and /metrics (Prometheus) are served on the same
    socket. SIGTERM or SIGINT: stop being ready, finish the calls accepted,
    exit. Socket activation (systemd's LISTEN_FDS) is honoured.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = socket_path
        return
    from cni.daemon import server
    dirs = tuple(d for d in cni_bin_dirs.split(":") if d)
    options = server.Options(socket_path, dirs, max_workers, max_request=max_request_bytes,
                             read_timeout=read_timeout, write_timeout=write_timeout,
                             trace_imports=trace_imports)
    try:
        status = server.serve(options)
    except server.StartError as exc:
        raise Failed(str(exc)) from exc
    except OSError as exc:
        raise Failed(f"{exc.filename or options.socket_path}: {exc.strerror}") from exc
    sys.exit(status)


@daemon.command("status", epilog=EXIT_CODES)
@click.option("--socket", "socket_path", default=None, metavar="PATH",
              help="The daemon's unix socket (default: as given to `pycni daemon`, "
              "/run/pycni/pycni.sock).")
@click.option("--json", "as_json", is_flag=True, help="The daemon's status document, as JSON.")
@click.pass_obj
def daemon_status(parent_socket: str, socket_path: "str | None", as_json: bool) -> None:
    """Is the daemon up and ready; its version, calls in flight and served.

    Exit status 1 when no daemon answers on the socket, or it is not ready.
    """
    from cni.daemon import client
    path = socket_path or parent_socket
    try:
        code, _, body = client.request(path, "GET", "/v1/status", timeout=5.0)
    except (OSError, ValueError) as exc:
        raise Failed(f"no daemon answers on {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    state = json.loads(body)
    if as_json:
        click.echo(json.dumps(state, indent=2))
    else:
        served = ", ".join(f"{k} {v}" for k, v in state["served"].items()) or "none yet"
        click.echo(f"daemon: up, {state['state']} (pid {state['pid']}, pycni {state['version']}, "
                   f"protocol {state['protocol']})")
        click.echo(f"socket: {path}")
        click.echo(f"uptime: {_age(state['uptime_seconds'])}")
        click.echo(f"in flight: {state['in_flight']} of {state['max_workers']} workers, "
                   f"queued: {state['queued']}")
        click.echo(f"served: {served}")
    if code != 200 or not state.get("ready"):
        sys.exit(1)


# -- version ---------------------------------------------------------------------


@cli.command(epilog=EXIT_CODES)
def version() -> None:
    """Print pycni's version and the CNI spec versions it supports."""
    from cni import version as _version
    frozen = " (frozen bundle)" if getattr(sys, "frozen", False) else ""
    click.echo(f"pycni {__version__}{frozen}")
    click.echo(f"CNI spec versions: {', '.join(_version.SUPPORTED)}")
    click.echo(f"Python {sys.version.split()[0]} at {sys.executable}")
