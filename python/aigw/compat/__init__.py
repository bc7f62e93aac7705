"""/compat: one OpenAI-compatible API (and an Anthropic Messages front door) for every provider.

`ir` is the one intermediate representation; `openai_format`, `anthropic_format`,
`gemini_format`, `workers_ai_format` parse and render it; `translation` binds a request to a
`provider/model` target; `routes` evaluates dynamic routes (`dynamic/<name>`).
"""
