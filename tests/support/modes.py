"""Narrow a settings union in a test: the test states which member its stack must have."""

from __future__ import annotations

from config.signoz import DeploySigNoz, RemoteSigNoz
from config.stack import StackSettings


def deployed(settings: StackSettings) -> DeploySigNoz:
    assert isinstance(settings.signoz, DeploySigNoz), f"expected signoz.mode deploy, got {settings.signoz.mode}"
    return settings.signoz


def remote(settings: StackSettings) -> RemoteSigNoz:
    assert isinstance(settings.signoz, RemoteSigNoz), f"expected signoz.mode remote, got {settings.signoz.mode}"
    return settings.signoz
