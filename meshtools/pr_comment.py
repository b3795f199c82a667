"""Post or update one pull-request comment per stack, found again by the hidden marker in its body.

Runs in the preview workflow after `meshtools.plan diff --comment`. It edits only a comment that
starts with this stack's marker AND was written by the workflow's own identity (the GitHub Actions
bot, unless --author says otherwise), so it never touches the comment of `pulumi/actions`, of
another stack's job or of a person. Talks to the REST API at $GITHUB_API_URL with $GH_TOKEN (or
$GITHUB_TOKEN) for $GITHUB_REPOSITORY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from meshtools.cli import EXIT_OK, ToolError, run_command
from meshtools.plan import COMMENT_MARKER

BOT = "github-actions[bot]"
PAGE_SIZE = 100


class GitHub:
    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.base = f"{api_url.rstrip('/')}/repos/{repository}"
        self.token = token

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                data = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise ToolError(f"GitHub answered {error.code} to {method} {path}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ToolError(f"GitHub API at {self.base} is unreachable: {error}") from None
        return json.loads(data) if data else None

    def comments(self, pr: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.call("GET", f"/issues/{pr}/comments?per_page={PAGE_SIZE}&page={page}") or []
            found += batch
            if len(batch) < PAGE_SIZE:
                return found
            page += 1


def ours(comment: Mapping[str, Any], marker: str, author: str) -> bool:
    body = str(comment.get("body") or "")
    return body.startswith(marker) and (comment.get("user") or {}).get("login") == author


def post_or_update(github: GitHub, pr: int, stack: str, body: str, author: str = BOT) -> str:
    """Update this stack's comment in place, or create it; returns "updated …" or "created …"."""
    marker = COMMENT_MARKER.format(stack=stack)
    if not body.startswith(marker):
        raise ToolError(f"the comment body must start with the marker {marker!r} (write it with plan diff --comment)")
    mine = [c for c in github.comments(pr) if ours(c, marker, author)]
    if mine:
        comment_id = mine[0]["id"]
        github.call("PATCH", f"/issues/comments/{comment_id}", {"body": body})
        return f"updated comment {comment_id} for stack {stack}"
    created = github.call("POST", f"/issues/{pr}/comments", {"body": body})
    return f"created comment {created.get('id')} for stack {stack}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtools.pr_comment", description=__doc__)
    parser.add_argument("--pr", type=int, required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--author", default=BOT, help=f"login whose comments may be edited (default {BOT})")
    args = parser.parse_args(argv)
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
    repository = os.environ.get("GITHUB_REPOSITORY")
    if not token or not repository:
        raise ToolError("set GH_TOKEN (or GITHUB_TOKEN) and GITHUB_REPOSITORY, as GitHub Actions does")
    if not args.body_file.is_file():
        raise ToolError(f"{args.body_file} does not exist: run `python -m meshtools.plan diff --comment` first")
    github = GitHub(os.environ.get("GITHUB_API_URL", "https://api.github.com"), repository, token)
    print(post_or_update(github, args.pr, args.stack, args.body_file.read_text(), args.author))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_command(main))
