"""The wire contract of docs/api.md, shared by the server and the Python client.

``requests`` and ``replies`` are the msgspec structs of every body; ``parse`` decodes a
body in the order of errors of docs/api.md §1; ``rules`` and ``checks`` hold the field rules
msgspec's types cannot say; ``cursor`` is the session list's opaque cursor. Nothing here
imports server code (http, service, store, access, config): only msgspec, the error tree
and ids.
"""
