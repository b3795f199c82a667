"""Tooling around the program: the mocks recording engine, deploy wrapper, plan and verify commands."""
