"""Stack files are read as Pulumi reads them: keys it refuses, keys out of place, misspellings at
any depth and `secure:` values no secrets provider wrote are errors that name the line and the fix.

Each case edits a copy of a test stack file in a temporary directory and reads it with the same
function every offline command uses (`meshtools.stacks.load_stack`).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from config.problems import SettingsError
from meshtools.stacks import load_stack
from tests.conftest import TEST_STACKS

PARSE_KEY = (
    "could not parse {key} as a configuration key (configuration keys should be of the form `<namespace>:<name>`)"
)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(text)
    return path


def edited(old: str, new: str, source: str = "dev") -> str:
    text = (TEST_STACKS / f"Pulumi.{source}.yaml").read_text()
    assert text.count(old) == 1, f"the test stack {source} holds {old!r} once"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return number


def problems(directory: Path, name: str) -> list[str]:
    """The problem lines of a stack file, as every command prints them."""
    with pytest.raises(SettingsError) as caught:
        load_stack(name, directory)
    return [line.removeprefix("  - ") for line in str(caught.value).splitlines()[1:]]


# --------------------------------------------------------------------------- keys Pulumi refuses


def test_a_dot_for_the_colon_is_named_with_its_line_and_the_key_meant(tmp_path: Path) -> None:
    """The CLI reads a key without a colon as the project's (`mesh-tracing:mesh-tracing.samplingPercent`,
    sdk v3.276.0 workspace/loaders.go): an unknown key of ours, named with the key meant."""
    text = edited("mesh-tracing:samplingPercent: 100", "mesh-tracing.samplingPercent: 10")
    write(tmp_path, "qa", text)
    [found] = problems(tmp_path, "qa")
    assert found.startswith(
        f"Pulumi.qa.yaml:{line_of(text, 'mesh-tracing.samplingPercent')}: mesh-tracing:mesh-tracing.samplingPercent: "
        "got 10 — unknown key; did you mean mesh-tracing:samplingPercent? allowed: environment,"
    )


def test_a_key_moved_out_of_its_block_is_named_with_where_it_belongs(tmp_path: Path) -> None:
    """`signozUrl` two spaces left: still YAML, now a key of `config:` without a colon, which the CLI
    reads as the project's `mesh-tracing:signozUrl`, a key of the kiali block."""
    text = edited("    signozUrl: http://localhost:8080", "  signozUrl: http://localhost:8080")
    write(tmp_path, "qa", text)
    [found] = problems(tmp_path, "qa")
    assert found.startswith(
        f"Pulumi.qa.yaml:{line_of(text, 'signozUrl')}: mesh-tracing:signozUrl: got 'http://localhost:8080' — "
        "unknown key; signozUrl is a key of mesh-tracing:kiali: move it into that block; allowed: environment,"
    )


def test_a_key_without_a_namespace_is_the_projects_as_the_cli_reads_it(tmp_path: Path) -> None:
    text = edited("mesh-tracing:samplingPercent: 100", "samplingPercent: 25")
    write(tmp_path, "qa", text)
    assert load_stack("qa", tmp_path).settings.sampling_percent == 25


def test_a_key_the_cli_cannot_parse_is_refused_in_its_words(tmp_path: Path) -> None:
    text = edited("mesh-tracing:samplingPercent: 100", "mesh-tracing:sampling:percent: 10")
    write(tmp_path, "qa", text)
    assert problems(tmp_path, "qa") == [
        f"Pulumi.qa.yaml:{line_of(text, 'sampling:percent')}: mesh-tracing:sampling:percent: got 10 — "
        + PARSE_KEY.format(key="mesh-tracing:sampling:percent")
    ]


@pytest.mark.parametrize(
    ("old", "new", "key", "hint"),
    [
        (  # a key of a block, written at the top level
            "    signozUrl: http://localhost:8080",
            "  mesh-tracing:signozUrl: http://localhost:8080",
            "mesh-tracing:signozUrl",
            "unknown key; signozUrl is a key of mesh-tracing:kiali: move it into that block; allowed: environment,",
        ),
        (  # a key of one block in another
            "    traceRetentionDays: 7",
            "    traceRetentionDays: 7\n    signozUrl: https://signoz.example.com",
            "mesh-tracing:signoz.signozUrl",
            "unknown key; signozUrl is a key of mesh-tracing:kiali: move it into that block; allowed keys here: mode,",
        ),
        (  # a top-level key in a block
            "    traceRetentionDays: 7",
            "    traceRetentionDays: 7\n    samplingPercent: 5",
            "mesh-tracing:signoz.samplingPercent",
            "unknown key; samplingPercent is a top-level key (mesh-tracing:samplingPercent): move it out of this "
            "block; allowed keys here: mode,",
        ),
    ],
)
def test_a_key_in_the_wrong_block_is_named_with_where_it_belongs(
    tmp_path: Path, old: str, new: str, key: str, hint: str
) -> None:
    text = edited(old, new)
    write(tmp_path, "qa", text)
    [found] = problems(tmp_path, "qa")
    assert found.startswith(f"Pulumi.qa.yaml:{line_of(text, new.splitlines()[-1].strip())}: {key}: got ")
    assert found.partition(" — ")[2].startswith(hint)


@pytest.mark.parametrize(
    ("old", "new", "key", "meant"),
    [
        ("    istiod:\n", "    istoid:\n", "mesh-tracing:istio.istoid", "istiod"),
        (
            "      autoscaleMin: 1\n",
            "      autoscaleMinimum: 1\n",
            "mesh-tracing:istio.istiod.autoscaleMinimum",
            "autoscaleMin",
        ),
        (
            "    persistenceSize: 10Gi",
            "    persistenceSise: 10Gi",
            "mesh-tracing:signoz.clickhouse.persistenceSise",
            "persistenceSize",
        ),
        (
            "    - otel-demo",
            "    - name: otel-demo\n      samplingPercnt: 5",
            "mesh-tracing:tracedNamespaces[0].samplingPercnt",
            "samplingPercent",
        ),
    ],
)
def test_nested_misspellings_get_did_you_mean(tmp_path: Path, old: str, new: str, key: str, meant: str) -> None:
    text = edited(old, new)
    write(tmp_path, "qa", text)
    [found] = problems(tmp_path, "qa")
    misspelt = key.rsplit(".", 1)[-1]
    assert found.startswith(f"Pulumi.qa.yaml:{line_of(text, misspelt)}: {key}: got ")
    assert f" — unknown key; did you mean {meant}? allowed keys here: " in found


def test_the_old_config_form_of_a_key_is_the_same_key(tmp_path: Path) -> None:
    """Pulumi reads `<namespace>:config:<name>` as `<namespace>:<name>`."""
    write(tmp_path, "qa", edited("mesh-tracing:samplingPercent: 100", "mesh-tracing:config:samplingPercent: 5"))
    assert load_stack("qa", tmp_path).settings.sampling_percent == 5
    twice = edited(
        "mesh-tracing:samplingPercent: 100",
        "mesh-tracing:samplingPercent: 100\n  mesh-tracing:config:samplingPercent: 5",
    )
    write(tmp_path, "qa", twice)
    assert problems(tmp_path, "qa") == [
        f"Pulumi.qa.yaml:{line_of(twice, 'mesh-tracing:samplingPercent: 100')}: mesh-tracing:samplingPercent: got "
        "100 — the same key as mesh-tracing:config:samplingPercent; keep one of them"
    ]
    text = edited("mesh-tracing:samplingPercent: 100", "mesh-tracing:samplingPercent: 100\n  mesh-tracing:x:y:z: 1")
    write(tmp_path, "qa", text)
    assert problems(tmp_path, "qa") == [
        f"Pulumi.qa.yaml:{line_of(text, 'mesh-tracing:x:y:z')}: mesh-tracing:x:y:z: got 1 — "
        + PARSE_KEY.format(key="mesh-tracing:x:y:z")
    ]


# --------------------------------------------------------------------------- secure values


def passphrase_ciphertext(plaintext: bytes) -> str:
    """The shape of pulumi/sdk v3.276.0's symmetricCrypter.EncryptValue (go/common/resource/config/
    crypt.go), which the passphrase provider and the cloud KMS providers (awskms, azurekeyvault,
    gcpkms, hashivault: a KMS-wrapped data key, then the same crypter) write: `v1:` + standard base64
    of a 12-byte nonce + `:` + standard base64 of the AES-256-GCM output (plaintext + 16-byte tag)."""
    nonce, sealed = _bytes(12, b"nonce"), _bytes(len(plaintext) + 16, plaintext)
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


def service_ciphertext() -> str:
    """pulumi/pkg v3.276.0 secrets/service/manager.go: standard base64 of the service's ciphertext."""
    return base64.b64encode(_bytes(61, b"service")).decode()


def _bytes(length: int, seed: bytes) -> bytes:
    """Bytes as random-looking as a ciphertext, the same in every test process (xdist collects the
    parameters in each worker)."""
    stream = b""
    while len(stream) < length:
        stream += hashlib.sha256(seed + len(stream).to_bytes(4, "big")).digest()
    return stream[:length]


SIGNING_KEY = "mesh-tracing:kialiSigningKey"


def with_secure(value: str) -> str:
    return edited("  mesh-tracing:kiali:", f"  {SIGNING_KEY}:\n    secure: {value}\n  mesh-tracing:kiali:")


@pytest.mark.parametrize(
    "ciphertext",
    [passphrase_ciphertext(b"0123456789abcdef0123456789abcdef"), passphrase_ciphertext(b""), service_ciphertext()],
    ids=["passphrase-or-cloud-kms", "passphrase-empty-secret", "pulumi-service"],
)
def test_each_secrets_providers_ciphertext_is_accepted(tmp_path: Path, ciphertext: str) -> None:
    write(tmp_path, "qa", with_secure(ciphertext))
    assert load_stack("qa", tmp_path).settings.environment == "dev"


@pytest.mark.parametrize(
    "placeholder",
    [
        "<encrypted by pulumi>",
        '""',
        "",
        "'   '",
        "v1:AAAAAAAAAAAAAAAA:not base64 at all",
        "v1:c2hvcnQ=:" + base64.b64encode(_bytes(32, b"sealed")).decode(),  # a 5-byte nonce
        "my password",
    ],
)
def test_a_secure_value_no_provider_wrote_is_refused_with_the_command(tmp_path: Path, placeholder: str) -> None:
    text = with_secure(placeholder)
    write(tmp_path, "qa", text)
    assert problems(tmp_path, "qa") == [
        f"Pulumi.qa.yaml:{line_of(text, SIGNING_KEY)}: {SIGNING_KEY}: got '<secure value>' — not a ciphertext of any "
        "Pulumi secrets provider (passphrase and cloud KMS write v1:<nonce>:<sealed>, the Pulumi service base64); "
        f"set it with `pulumi config set --secret --stack qa {SIGNING_KEY} <value>`"
    ]


# --------------------------------------------------------------------------- every fix hint names the stack


def test_the_missing_ingest_key_hint_names_the_stack(tmp_path: Path) -> None:
    """Finding 8: the hint for a missing ingest key must say which stack to set it in."""
    text = (TEST_STACKS / "Pulumi.prod.yaml").read_text()
    start = text.index("  mesh-tracing:signozIngestKey:")
    write(tmp_path, "central", text[:start] + "\n".join(text[start:].splitlines()[2:]) + "\n")
    assert problems(tmp_path, "central") == [
        "mesh-tracing:signozIngestKey: got <missing> — required: signoz.ingest checks it on every request "
        "(`pulumi config set --secret --stack central mesh-tracing:signozIngestKey <key>`)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "command"),
    [
        ("  kubernetes:context: kind-test\n", "", "`pulumi config set --stack eu-prod kubernetes:context <context>`"),
        (
            "  mesh-tracing:environment: dev\n",
            "  mesh-tracing:environment: dev\n  mesh-tracing:clickhousePassword: plain\n",
            "`pulumi config set --secret --stack eu-prod mesh-tracing:clickhousePassword <value>`",
        ),
    ],
)
def test_fix_hints_name_the_stack(tmp_path: Path, old: str, new: str, command: str) -> None:
    text = edited(old, new).replace("environment: dev", "environment: eu-prod")
    text = text.replace("mtlsMode: PERMISSIVE", "mtlsMode: STRICT").replace("strategy: anonymous", "strategy: token")
    write(tmp_path, "eu-prod", text)
    assert any(command in found for found in problems(tmp_path, "eu-prod"))
