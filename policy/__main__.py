"""Entry point Pulumi runs for `--policy-pack policy`; the rules live in policy/mesh_policies.py."""

import sys
from pathlib import Path

# The pack runs from policy/; the rules reuse the program's settings constants from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policy.mesh_policies import policies

PolicyPack(name="mesh-tracing", policies=policies())
