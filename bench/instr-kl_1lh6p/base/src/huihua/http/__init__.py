"""The HTTP layer: the ASGI app, the POST pipeline, the endpoint table, OpenAPI, observers.

It parses and checks requests (huihua.wire), admits them (huihua.access) and calls one use
case each (huihua.service). Only this package knows the web framework.
"""
