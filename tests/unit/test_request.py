"""cni.request: the CNI_* environment and CNI_ARGS (cni-spec.md 1.0, 6)."""

import pytest

from cni import request
from cni.errors import CNIError

FULL = {"CNI_CONTAINERID": "ctr-1", "CNI_NETNS": "/run/netns/c1", "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin:/usr/lib/cni"}


def env(command: str, **overrides: str) -> dict:
    out = {"CNI_COMMAND": command, **FULL, **overrides}
    return {k: v for k, v in out.items() if v is not None}


def error_of(fn, *args) -> CNIError:
    with pytest.raises(CNIError) as err:
        fn(*args)
    return err.value


@pytest.mark.parametrize("command", ["ADD", "CHECK"])
@pytest.mark.parametrize("missing, named", [
    (["CNI_CONTAINERID"], "CNI_CONTAINERID"),
    (["CNI_NETNS"], "CNI_NETNS"),
    (["CNI_IFNAME"], "CNI_IFNAME"),
    (["CNI_IFNAME", "CNI_CONTAINERID"], "CNI_CONTAINERID,CNI_IFNAME"),
    (["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"], "CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME"),
])
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_add_and_check_name_every_missing_variable(command, missing, named, how):
    e = env(command, **{k: (None if how == "unset" else "") for k in missing})
    err = error_of(request.from_env, e)
    assert err.code == 4
    assert err.msg == f"required env variables [{named}] missing"


@pytest.mark.parametrize("missing, named", [
    (["CNI_CONTAINERID"], "CNI_CONTAINERID"),
    (["CNI_IFNAME"], "CNI_IFNAME"),
    (["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"], "CNI_CONTAINERID,CNI_IFNAME"),
])
def test_del_needs_container_id_and_ifname_only(missing, named):
    err = error_of(request.from_env, env("DEL", **{k: None for k in missing}))
    assert (err.code, err.msg) == (4, f"required env variables [{named}] missing")


@pytest.mark.parametrize("netns", [None, ""])
def test_del_without_netns_is_fine(netns):
    req = request.from_env(env("DEL", CNI_NETNS=netns))
    assert (req.command, req.container_id, req.ifname, req.netns) == ("DEL", "ctr-1", "eth0", "")


@pytest.mark.parametrize("command", ["GC", "STATUS", "VERSION"])
def test_gc_status_version_need_no_attachment(command):
    """libcni sends them with empty CNI_CONTAINERID/NETNS/IFNAME/ARGS."""
    e = {"CNI_COMMAND": command, "CNI_CONTAINERID": "", "CNI_NETNS": "", "CNI_IFNAME": "",
         "CNI_ARGS": "", "CNI_PATH": "/opt/cni/bin"}
    req = request.from_env(e)
    assert req.command == command and req.path == ["/opt/cni/bin"]


@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_gc_status_do_not_validate_attachment_values(command):
    req = request.from_env({"CNI_COMMAND": command, "CNI_IFNAME": "a/b", "CNI_CONTAINERID": "-x",
                            "CNI_ARGS": "garbage"})
    assert req.command == command


def test_add_request_carries_everything():
    e = env("ADD", CNI_ARGS="IgnoreUnknown=1;IP=10.0.0.5")
    req = request.from_env(e, b'{"x":1}')
    assert (req.command, req.container_id, req.netns, req.ifname) == (
        "ADD", "ctr-1", "/run/netns/c1", "eth0")
    assert req.args == {"IgnoreUnknown": "1", "IP": "10.0.0.5"}
    assert req.path == ["/opt/cni/bin", "/usr/lib/cni"]
    assert req.stdin == b'{"x":1}' and req.env == e and req.env is not e


def test_cni_path_drops_empty_entries():
    req = request.from_env(env("ADD", CNI_PATH="::/opt/cni/bin::"))
    assert req.path == ["/opt/cni/bin"]


@pytest.mark.parametrize("command", ["ADD", "CHECK", "DEL"])
def test_invalid_ifname_is_code_4(command):
    assert error_of(request.from_env, env(command, CNI_IFNAME="e" * 16)).code == 4


@pytest.mark.parametrize("command", ["ADD", "CHECK", "DEL"])
def test_invalid_container_id_is_code_4(command):
    assert error_of(request.from_env, env(command, CNI_CONTAINERID="../x")).code == 4


@pytest.mark.parametrize("netns", ["/run/netns/a\0b", "/" + "x" * 4096])
def test_unusable_netns_path_is_code_4(netns):
    assert error_of(request.from_env, env("ADD", CNI_NETNS=netns)).code == 4


@pytest.mark.parametrize("command", ["ADD", "CHECK"])
def test_cni_args_are_parsed_strictly_for_add_and_check(command):
    assert error_of(request.from_env, env(command, CNI_ARGS="FOO=bar")).code == 4


@pytest.mark.parametrize("args", ["FOO=bar", "none", "IP=a=b", "IgnoreUnknown=maybe"])
def test_del_ignores_invalid_cni_args(args):
    """A DEL refused over CNI_ARGS would leak the attachment; DEL uses none of them."""
    req = request.from_env(env("DEL", CNI_ARGS=args))
    assert req.args == {}


def test_del_keeps_valid_cni_args():
    assert request.from_env(env("DEL", CNI_ARGS="IgnoreUnknown=1;FOO=bar")).args == {
        "IgnoreUnknown": "1", "FOO": "bar"}


def test_with_command_keeps_everything_but_the_verb():
    req = request.from_env(env("ADD", CNI_ARGS="IP=10.0.0.5"), b"{}")
    other = req.with_command("DEL")
    assert other.command == "DEL" and other.env["CNI_COMMAND"] == "DEL"
    assert req.env["CNI_COMMAND"] == "ADD"
    for key in ("container_id", "netns", "ifname", "args", "path", "stdin", "conf"):
        assert getattr(other, key) == getattr(req, key)


# -- CNI_ARGS -----------------------------------------------------------------

@pytest.mark.parametrize("text, parsed", [
    ("", {}),
    ("IP=10.0.0.5", {"IP": "10.0.0.5"}),
    ("IgnoreUnknown=1;FOO=bar", {"IgnoreUnknown": "1", "FOO": "bar"}),
    ("IgnoreUnknown=true;FOO=bar", {"IgnoreUnknown": "true", "FOO": "bar"}),
    ("IgnoreUnknown=TRUE;FOO=bar", {"IgnoreUnknown": "TRUE", "FOO": "bar"}),
    ("FOO=bar;IgnoreUnknown=1", {"FOO": "bar", "IgnoreUnknown": "1"}),  # order does not matter
    ("IgnoreUnknown=0", {"IgnoreUnknown": "0"}),
    ("IgnoreUnknown=false;IP=10.0.0.5", {"IgnoreUnknown": "false", "IP": "10.0.0.5"}),
    ("MAC=c2:11:22:33:44:55", {"MAC": "c2:11:22:33:44:55"}),
    ("IP=", {"IP": ""}),
    ("K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;K8S_POD_INFRA_CONTAINER_ID=c;K8S_POD_UID=d",
     {"K8S_POD_NAMESPACE": "a", "K8S_POD_NAME": "b", "K8S_POD_INFRA_CONTAINER_ID": "c",
      "K8S_POD_UID": "d"}),
    ("IgnoreUnknown=1;K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;K8S_POD_INFRA_CONTAINER_ID=c;K8S_POD_UID=d",
     {"IgnoreUnknown": "1", "K8S_POD_NAMESPACE": "a", "K8S_POD_NAME": "b",
      "K8S_POD_INFRA_CONTAINER_ID": "c", "K8S_POD_UID": "d"}),
])
def test_cni_args_accepted(text, parsed):
    assert request.parse_args(text) == parsed


@pytest.mark.parametrize("text", ["FOO", "IP=10.0.0.5;", ";IP=10.0.0.5", "IP=a=b", "IP=1;;MAC=x",
                                  "IP"])
def test_cni_args_invalid_pair_is_code_4(text):
    err = error_of(request.parse_args, text)
    assert err.code == 4 and err.msg.startswith("ARGS: invalid pair")


@pytest.mark.parametrize("text", ["FOO=bar", "IgnoreUnknown=0;FOO=bar", "IgnoreUnknown=false;FOO=bar",
                                  "ip=10.0.0.5",  # keys are case-sensitive
                                  "=", "=x"])
def test_cni_args_unknown_key_is_code_4_unless_ignored(text):
    err = error_of(request.parse_args, text)
    assert err.code == 4 and "unknown args" in err.msg


def test_cni_args_unknown_message_is_go_like():
    err = error_of(request.parse_args, 'FOO=bar;IP=1.2.3.4;BAZ=q"\\')
    assert err.msg == 'ARGS: unknown args ["FOO=bar" "BAZ=q\\"\\\\"]'


@pytest.mark.parametrize("value", ["yes", "2", ""])
def test_cni_args_ignore_unknown_must_be_a_boolean(value):
    assert error_of(request.parse_args, f"IgnoreUnknown={value}").code == 4


def test_cni_args_too_long_is_code_4():
    assert error_of(request.parse_args, "IgnoreUnknown=1;X=" + "a" * 70000).code == 4
