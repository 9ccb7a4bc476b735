"""huihua (会话): the chat-history service behind AI chat apps."""

__version__ = "0.1.0"
