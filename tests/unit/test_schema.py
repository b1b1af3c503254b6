"""cni.schema: config classes, parsed as Go's encoding/json decodes the reference's configs."""

import pytest

from cni.errors import CNIError, DecodingFailure, InvalidConfig
from cni.schema import Config, fold, key


def _even(value: int) -> int:
    if value % 2:
        raise InvalidConfig(f"odd value {value}")
    return value


def _mark(conf: "Outer") -> None:
    conf.marked = True


def _refuse_both(conf: "Outer") -> None:
    if conf.flag and conf.count:
        raise InvalidConfig("flag and count together", field="count")


class Inner(Config):
    name: str = key("name", "")
    items: list[int] = key("items", [])


class Outer(Config):
    flag: bool = key("flag", False)
    count: int = key("count", 0, check=_even)
    ratio: float = key("ratio", 1.0)
    label: str | None = key("label")
    any_value: object = key("any")
    free: dict = key("free", {})
    flags: dict[str, bool | None] = key("flags", {})
    inner: Inner = key("inner")
    inners: list[Inner] | None = key("inners")
    strict: str = key("strict", "", error=DecodingFailure)
    needed: str = key("needed", "x", also=("needed_too",))
    RULES = (_mark,)
    ADD_RULES = (_refuse_both,)

    marked: bool


class Required(Config):
    name: str = key("name", missing="missing name")


def error_of(cls: type, raw: dict, command: str = "ADD") -> CNIError:
    with pytest.raises(CNIError) as err:
        cls.parse(raw, command)
    return err.value


def test_defaults_and_nested_defaults():
    conf = Outer.parse({})
    assert (conf.flag, conf.count, conf.ratio, conf.label, conf.any_value) == (False, 0, 1.0, None, None)
    assert (conf.free, conf.flags, conf.inners, conf.needed) == ({}, {}, None, "x")
    assert (conf.inner.name, conf.inner.items, conf.inner.raw) == ("", [], {})
    assert conf.marked is True  # rules run on every parse


def test_mutable_defaults_are_fresh_per_parse():
    first = Outer.parse({})
    first.free["k"] = 1
    first.inner.items.append(1)
    second = Outer.parse({})
    assert second.free == {} and second.inner.items == []


def test_values_of_every_kind():
    raw = {"flag": True, "count": 4, "ratio": 2, "label": "l", "any": [1, {"a": None}],
           "free": {"x": [1]}, "flags": {"a": True, "b": None}, "inner": {"name": "n", "items": [1]},
           "inners": [{"name": "a"}, {}], "strict": "s", "unknown": 5}
    conf = Outer.parse(raw, "DEL")
    assert (conf.flag, conf.count, conf.ratio, conf.label) == (True, 4, 2, "l")
    assert conf.any_value == [1, {"a": None}] and conf.free == {"x": [1]}
    assert conf.flags == {"a": True, "b": None}
    assert (conf.inner.name, conf.inner.items) == ("n", [1])
    assert [i.name for i in conf.inners] == ["a", ""]
    assert conf.raw is raw and conf.raw["unknown"] == 5  # unknown keys stay, untouched


@pytest.mark.parametrize("raw, field", [
    ({"flag": 1}, "flag"), ({"flag": "true"}, "flag"), ({"count": True}, "count"),
    ({"count": 2.0}, "count"), ({"count": "2"}, "count"), ({"ratio": True}, "ratio"),
    ({"ratio": "1"}, "ratio"), ({"label": 5}, "label"), ({"free": []}, "free"),
    ({"flags": {"a": 1}}, "flags.a"), ({"inner": "x"}, "inner"), ({"inner": {"name": 5}}, "inner.name"),
    ({"inner": {"items": [1, None]}}, "inner.items[1]"),
    ({"inners": [{}, {"items": "x"}]}, "inners[1].items"),
    ({"inners": [5]}, "inners[0]"),
])
def test_a_wrong_type_is_code_7_naming_the_path(raw, field):
    err = error_of(Outer, raw)
    assert (err.code, err.msg, err.field) == (7, f"invalid field {field}", field)
    assert err.details.startswith(f"{field} must be ")


def test_the_error_class_of_a_key_is_used_for_its_type_errors():
    assert error_of(Outer, {"strict": 5}).code == 6


def test_a_check_normalises_or_refuses_with_its_message_and_the_path():
    assert Outer.parse({"count": 6}).count == 6
    err = error_of(Outer, {"count": 3})
    assert (err.code, err.msg, err.field) == (7, "odd value 3", "count")


def test_checks_do_not_run_on_defaults():
    assert Outer.parse({"count": None}).count == 0


def test_add_rules_run_for_add_only():
    both = {"flag": True, "count": 2}
    err = error_of(Outer, both)
    assert (err.msg, err.field) == ("flag and count together", "count")
    assert Outer.parse(both, "DEL").count == 2


def test_a_required_key():
    assert Required.parse({"name": "n"}).name == "n"
    for raw in ({}, {"name": None}):
        err = error_of(Required, raw)
        assert (err.code, err.msg, err.field) == (7, "missing name", "name")


@pytest.mark.parametrize("spelling", ["COUNT", "Count", "cOuNt"])
def test_keys_match_case_insensitively(spelling):
    assert Outer.parse({spelling: 8}).count == 8
    assert error_of(Outer, {spelling: "x"}).field == "count"


def test_of_several_spellings_the_last_non_null_one_wins():
    """Go decodes the keys in document order into the same field; null leaves it as it was."""
    assert Outer.parse({"count": 2, "COUNT": 4}).count == 4
    assert Outer.parse({"COUNT": 4, "count": 2}).count == 2
    assert Outer.parse({"count": 2, "Count": None}).count == 2
    assert Outer.parse({"needed": "a", "needed_too": "b"}).needed == "b"


def test_go_folds_the_kelvin_sign_and_the_long_s():
    assert fold("\u212aey") == "KEY" and fold("\u017fet") == "SET"

    class K(Config):
        key_: str = key("key", "")
    assert K.parse({"\u212aEY": "v"}).key_ == "v"


def test_a_subclass_overrides_a_key_in_place_and_appends_its_own():
    class Base(Config):
        a: int = key("a", 0)
        b: int = key("b", 0)

    class Sub(Base):
        b: int = key("b", 5, check=_even)
        c: int = key("c", 0)
    assert [f.key for f in Sub.FIELDS] == ["a", "b", "c"]
    assert Sub.parse({}).b == 5 and error_of(Sub, {"B": 3}).field == "b"
    assert [f.key for f in Base.FIELDS] == ["a", "b"]


def test_nested_rules_name_their_own_path():
    def positive(conf: "Item") -> None:
        if conf.n < 0:
            raise InvalidConfig("negative", field=conf.path("n"))

    class Item(Config):
        n: int = key("n", 0)
        RULES = (positive,)

    class Holder(Config):
        items: list[Item] = key("items", [])
    assert error_of(Holder, {"items": [{"n": 1}, {"n": -1}]}).field == "items[1].n"


def test_unsupported_annotations_are_refused_when_the_class_is_made():
    with pytest.raises(TypeError):
        class Bad(Config):
            x: tuple = key("x", ())
    with pytest.raises(TypeError):
        class NoneDefault(Config):
            x: int = key("x")
