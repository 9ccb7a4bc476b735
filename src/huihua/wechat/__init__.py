"""WeChat's server API as replies use it (docs/api.md §8.6-8.7): the shared access token, the
content check (``msgSecCheck`` version 2) and the "answer ready" subscription message.

The login client (``jscode2session``, no token) stays in access/wechat.py.
"""
