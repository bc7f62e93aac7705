"""Ideogram: image generation; `Api-Key`, multipart or JSON bodies, JSON answers with image URLs.

Cloudflare's form: `ideogram/v1/ideogram-v3/generate` goes to
`https://api.ideogram.ai/v1/ideogram-v3/generate`. The v3 endpoints take `multipart/form-data`
(passed through byte for byte, boundary included), the legacy `generate` takes JSON
(`{"image_request": {…}}`). Answers: `{"created", "data": [{"url", "prompt", "resolution",
"seed", "is_image_safe"}]}`. Billing is per image: no tokens.
"""

from __future__ import annotations

from aigw.providers import HttpProvider


class IdeogramProvider(HttpProvider):
    """api.ideogram.ai."""

    name = "ideogram"
    default_base_url = "https://api.ideogram.ai"
    auth_header = "api-key"
    auth_scheme = ""
    stream_terminator = None
