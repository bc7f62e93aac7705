"""Parallel (parallel.ai): web research tasks and search, `x-api-key`.

Cloudflare's paths (cloudflare-aigw.md §4) pass through to `https://api.parallel.ai`:
`parallel/v1/tasks/runs` (create a task run; `GET v1/tasks/runs/{id}/result` waits for it),
`parallel/v1beta/search`, `parallel/v1beta/findall/ingest`. Bodies are JSON and billing is per
request, not per token, so no usage is logged for these. Parallel's OpenAI-compatible
`chat/completions` (its Chat API) streams OpenAI SSE; OpenAI usage is read there.
"""

from __future__ import annotations

from typing import Mapping

from aigw.providers import HttpProvider


class ParallelProvider(HttpProvider):
    """api.parallel.ai; a stored key goes in `x-api-key`."""

    name = "parallel"
    default_base_url = "https://api.parallel.ai"
    auth_header = "x-api-key"
    auth_scheme = ""

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """`x-api-key`, or a bearer token (the Chat API's OpenAI SDKs send one)."""
        return bool(headers.get("x-api-key") or headers.get("authorization"))
