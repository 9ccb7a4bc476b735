"""Who may call what: the service key and user tokens, rate limits, the WeChat login client.

Used by ``huihua.http``. It reaches stored data only through what it is handed (a token
nonce look-up), never by importing the service or the store.
"""
