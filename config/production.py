"""The one production rule: whether a stack gets the production guard rails, and why."""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------- production

# Without `production:` a stack is production when a token of its environment's name (split on `-`,
# `_` and `.`) is one of these; a negating token beside it (`non-prod`, `pre-prod`) leaves the name
# undecided. `preprod` is one token, and not a production one.
PRODUCTION_TOKENS = ("prod", "production", "prd")
NEGATING_TOKENS = ("non", "pre", "not")
_TOKEN_SEPARATORS = re.compile(r"[-_.]")


@dataclass(frozen=True)
class ProductionDecision:
    """Whether a stack gets the production guard rails, and the rule that decided it.
    `production` is None when the environment's name cannot decide and `production:` is not set."""

    production: bool | None
    decided_by: str


def decide_production(environment: str, explicit: bool | None = None) -> ProductionDecision:
    """The one production rule: `mesh-tracing:production` when set, else the environment's name.
    The settings reader refuses an undecided stack; the program labels the mesh Telemetry with the
    decision, and the policy pack reads that label."""
    if explicit is not None:
        return ProductionDecision(explicit, f"mesh-tracing:production is {str(explicit).lower()}")
    tokens = [token for token in _TOKEN_SEPARATORS.split(environment.lower()) if token]
    for index, token in enumerate(tokens):
        if token not in PRODUCTION_TOKENS:
            continue
        beside = tokens[max(index - 1, 0) : index] + tokens[index + 1 : index + 2]
        negating = [t for t in beside if t in NEGATING_TOKENS]
        if negating:
            return ProductionDecision(
                None,
                f"environment {environment!r} carries {negating[0]!r} beside {token!r}, so its name does not "
                "say whether it is production",
            )
        return ProductionDecision(True, f"environment {environment!r} has the token {token!r}")
    listed = f"{', '.join(PRODUCTION_TOKENS[:-1])} or {PRODUCTION_TOKENS[-1]}"
    return ProductionDecision(False, f"environment {environment!r} has no token {listed}")
