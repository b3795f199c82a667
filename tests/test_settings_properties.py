"""Property tests: any bad value for any key fails with that key named, before any resource."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.problems import SettingsError
from config.reading import validate_settings
from config.types import MtlsMode
from meshtools.recording import Run
from tests.conftest import raw_settings, run_test_stack

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

not_a_dns_label = st.text(max_size=70).filter(lambda s: not DNS_LABEL.match(s) or len(s) > 63)


def _is_valid_percent_text(text: str) -> bool:
    """Config travels as text: `pulumi config set …samplingPercent 5` stores the string "5", which is valid."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100


not_a_percent = st.one_of(
    st.floats(allow_nan=True).filter(lambda f: not 0 <= f <= 100),
    st.integers().filter(lambda i: not 0 <= i <= 100),
    st.text().filter(lambda t: not _is_valid_percent_text(t)),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
not_an_mtls_mode = st.one_of(st.text().filter(lambda s: s not in set(MtlsMode)), st.integers(), st.booleans())
bad_attributes = st.one_of(
    st.dictionaries(st.sampled_from(["", "9starts-with-digit", "has space", "é"]), st.text(min_size=1), min_size=1),
    st.dictionaries(st.sampled_from(["team", "cloud.region"]), st.just(""), min_size=1),
    st.text(),
    st.lists(st.text(), min_size=1, max_size=3),
)
bad_namespaces = st.one_of(
    st.lists(not_a_dns_label, min_size=1, max_size=4),
    # null means "no override" for an optional per-namespace key, so it is not a bad value there.
    st.lists(
        st.fixed_dictionaries(
            {"name": st.just("app"), "samplingPercent": not_a_percent.filter(lambda v: v is not None)}
        ),
        min_size=1,
        max_size=1,
    ),
    st.lists(st.fixed_dictionaries({"name": st.just("app"), "mtlsMode": not_an_mtls_mode}), min_size=1, max_size=1),
    st.dictionaries(st.text(), st.text(), min_size=1),
)


def _is_boolean_text(text: str) -> bool:
    """`pulumi config set mesh-tracing:demo true` stores the text "true", which is a valid boolean."""
    try:
        return isinstance(json.loads(text), bool)
    except ValueError:
        return False


not_a_boolean = st.one_of(
    st.text().filter(lambda t: not _is_boolean_text(t)),
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.lists(st.booleans(), min_size=1, max_size=2),
)
unknown_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ", min_size=3, max_size=12).filter(
    lambda k: (
        k
        not in {
            "enabled",
            "namespace",
            "revision",
            "collector",
            "clickhouse",
            "auth",
            "istiod",
            "gateway",
            "protect",
        }
    )
)

BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "environment": not_a_dns_label,
    "cluster": not_a_dns_label,
    "samplingPercent": not_a_percent,
    "mtlsMode": not_an_mtls_mode,
    "resourceAttributes": bad_attributes,
    "tracedNamespaces": bad_namespaces,
    "demo": not_a_boolean,
    "istio": unknown_key.map(lambda k: {k: True}),
    "signoz": unknown_key.map(lambda k: {k: 1}),
    "kiali": unknown_key.map(lambda k: {k: "x"}),
}


@pytest.mark.parametrize("key", sorted(BAD_VALUES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_bad_value_is_named_and_registers_nothing(key: str, data: st.DataObject) -> None:
    bad = data.draw(BAD_VALUES[key], label=key)
    run = Run()
    with pytest.raises(SettingsError) as caught:
        run_test_stack(data.draw(st.sampled_from(["dev", "prod", "edge"])), {key: bad}, into=run)
    assert run.resources == []
    keys = [p.key for p in caught.value.problems]
    assert keys, "a settings error must list at least one problem"
    assert all(k.startswith(f"mesh-tracing:{key}") for k in keys), keys
    assert all(" — " in str(p) for p in caught.value.problems)


@settings(max_examples=50, deadline=None)
@given(percent=st.floats(min_value=0, max_value=100), mode=st.sampled_from(list(MtlsMode)))
def test_any_valid_sampling_and_mode_is_accepted(percent: float, mode: MtlsMode) -> None:
    s = validate_settings(raw_settings("dev") | {"samplingPercent": percent, "mtlsMode": mode.value})
    assert (s.sampling_percent, s.mtls_mode) == (percent, mode)


@settings(max_examples=25, deadline=None)
@given(names=st.lists(st.from_regex(r"\A[a-z][a-z0-9]{0,20}\Z"), min_size=1, max_size=6, unique=True))
def test_valid_namespace_lists_keep_their_order(names: list[str]) -> None:
    names = [n for n in names if n not in {"default", "signoz"}]
    s = validate_settings(raw_settings("dev") | {"tracedNamespaces": names})
    assert [n.name for n in s.traced_namespaces] == names
