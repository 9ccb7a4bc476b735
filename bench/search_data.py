"""The messages bench/search.py and bench/search_structures.py search: a vocabulary of some
3,200 words and phrases (a few hundred common ones written out, drawn most; 3,000 more made
of two of GB 2312's 3,755 commonest characters), messages drawn from it, and the loaders
of a searcher's messages (over HTTP) and of other users' (in bulk, into the store).
"""

from __future__ import annotations

import contextlib
import itertools
import random
import sqlite3
import sys
import time
from typing import Any

import httpx

# Common words and phrases (a few hundred; messages combine them).
WORDS = """
天气 今天 明天 昨天 下雨 晴天 温度 出门 带伞 周末 旅行 北京 上海 广州 深圳 杭州 成都 机票 酒店
火车 地铁 公交 打车 时间 地址 电话 手机 电脑 网络 软件 程序 代码 问题 答案 方法 建议 帮助 谢谢
你好 请问 可以 怎么 为什么 什么 哪里 多少 怎样 是否 已经 还是 或者 因为 所以 但是 如果 虽然 而且
工作 学习 考试 作业 老师 学生 学校 大学 专业 论文 报告 会议 项目 计划 目标 总结 经验 能力 技术
公司 老板 同事 客户 产品 市场 价格 优惠 购买 订单 快递 退货 质量 服务 评价 推荐 选择 比较 品牌
吃饭 早餐 午饭 晚饭 咖啡 奶茶 水果 蔬菜 米饭 面条 饺子 火锅 菜谱 做饭 好吃 健康 运动 跑步 睡觉
身体 医生 医院 感冒 发烧 咳嗽 头疼 药物 休息 心情 开心 难过 生气 担心 害怕 喜欢 讨厌 希望 相信
朋友 家人 父母 孩子 妈妈 爸爸 宝宝 猫咪 小狗 宠物 生日 礼物 节日 春节 中秋 电影 音乐 小说 游戏
写一首诗 讲个笑话 翻译一下 总结一下 解释一下 举个例子 详细说明 简单介绍 帮我写 帮我改 帮我查
秋天 春天 夏天 冬天 月亮 星星 太阳 大海 山上 花园 城市 农村 历史 文化 中国 世界 国家 经济 政治
数学 物理 化学 生物 英语 语文 地理 科学 研究 实验 数据 分析 模型 人工智能 机器学习 编程 算法
帮我写一首诗 今天天气怎么样
""".split()  # noqa: SIM905 (a word list reads best as text)


HITS = {1: "天", 2: "天气", 5: "帮我写一首"}  # each fills its page many times over
MISSES = {1: "龘", 2: "犇鑫", 5: "魑魅魍魉蠹"}  # no message has these characters
# No message has these either, though it has every character of them: "写诗" is a pair no
# message holds; each pair of "帮我写天气" is in some message, never all in one.
COMMON_MISSES = {2: "写诗", 5: "帮我写天气"}


def _common_characters() -> list[str]:
    """The 3,755 characters of GB 2312's first level: the commonest in use."""
    found = []
    for high in range(0xB0, 0xD8):
        for low in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):  # the last row is not full
                found.append(bytes((high, low)).decode("gb2312"))
    return found


def _vocabulary() -> tuple[list[str], list[float]]:
    """WORDS, and 3,000 two-character words more made of common characters (none of the
    misses'), each of those drawn a tenth as often as one of WORDS: a few thousand words in
    all, most text made of the commonest, and some 3,000 distinct characters in use."""
    rng = random.Random(7)
    common = [c for c in _common_characters() if c not in "".join(MISSES.values())]
    made: list[str] = []
    while len(made) < 3000:
        word = rng.choice(common) + rng.choice(common)
        if word not in made and word not in WORDS:
            made.append(word)
    return [*WORDS, *made], [1.0] * len(WORDS) + [0.1] * len(made)


VOCABULARY, _WEIGHTS = _vocabulary()
_CUMULATIVE = list(itertools.accumulate(_WEIGHTS))


def message(rng: random.Random, reply: bool) -> str:
    count = rng.randint(20, 60) if reply else rng.randint(3, 10)
    words = rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=count)
    return "".join(words) + rng.choice("。？！，")


def seed_user(base: str, user_id: str, count: int, rng: random.Random) -> None:
    """Give ``user_id`` ``count`` messages, in sessions of 100, as turns of question and reply."""
    with httpx.Client(base_url=base, timeout=60) as http:
        assert http.post("/add_user", json={"user_id": user_id, "user_name": "b"}).json()["ok"] == 0
        for s in range(count // 100):
            chats = [
                {"role": "ai" if i % 2 else "user", "msg": message(rng, bool(i % 2))}
                for i in range(100)
            ]
            body = {"user_id": user_id, "session_id": f"s{s:04d}", "chats": chats}
            reply = http.post("/add_chats", json=body).json()
            assert reply["ok"] == 0, reply


def _signatures() -> tuple[tuple[str, ...], Any]:
    """The signature columns of the build being measured (builds before 0013 stored one
    with each message, later ones none), and its signature function."""
    try:
        from huihua.store.search import signature
    except ImportError:  # a build from before the search package
        from huihua.store import signature  # type: ignore[attr-defined,no-redef]

        return tuple(signature.NAMES), signature.signature
    return (), signature.signature


def growth(url: str, rng: random.Random, users: int, each: int) -> None:
    """Bulk-load ``users`` x ``each`` messages into the SQLite store (with their signatures,
    where the build stores them)."""
    names, sign = _signatures()
    path = url.removeprefix("sqlite:///")
    texts = (message(rng, i % 2 == 1) for i in range(20_000))
    pool = [(m, sign(m) if names else []) for m in texts]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    columns = "".join(f", {name}" for name in names)
    marks = "".join(", ?" for _ in names)
    started, done = time.perf_counter(), 0
    for first in range(0, users, 1000):
        db.execute("BEGIN")
        ids = [f"g{u:06d}" for u in range(first, first + 1000)]
        now = 1_600_000_000_000 + first
        db.executemany(
            "INSERT INTO users (user_id, user_name, phone, email, created_at, updated_at) "
            "VALUES (?, 'grown', '', '', ?, ?)",
            [(u, now, now) for u in ids],
        )
        db.executemany(
            "INSERT INTO chat_sessions (user_id, session_id, session_title, chat_count, "
            "created_at, updated_at, last_seq) VALUES (?, 's', 'grown', ?, ?, ?, ?)",
            [(u, each, now, now, each) for u in ids],
        )
        rows = []
        for u in ids:
            for n in range(each):
                msg, sig = pool[rng.randrange(len(pool))]
                rows.append((u, n + 1, "ai" if n % 2 else "user", msg, now + n, *sig))
        db.executemany(
            "INSERT INTO chat_messages (user_id, session_id, seq, role, msg, created_at"
            f"{columns}) VALUES (?, 's', ?, ?, ?, ?{marks})",
            rows,
        )
        db.execute("COMMIT")
        done += len(rows)
        rate = done / (time.perf_counter() - started)
        print(f"\r  growth {done:>12,} messages, {rate:,.0f}/s", end="", file=sys.stderr)
    print(file=sys.stderr)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def neighbours(url: str, rng: random.Random, users: int, each: int) -> None:
    """Give the store ``users`` other users of ``each`` messages (one session each), drawn
    as the searcher's are, with their signatures: a store the searcher shares, so that the
    planners choose as they would on a real one (PostgreSQL, alone with one user, scans the
    table and sorts it)."""
    from sqlalchemy import create_engine, insert

    from huihua.store.engine import store_kind
    from huihua.store.tables import chat_messages, chat_sessions
    from huihua.store.tables import users as users_table

    pool = [message(rng, i % 2 == 1) for i in range(2000)]
    names, sign = _signatures()

    def columns(role: str, msg: str) -> dict[str, Any]:
        if not names:
            return {}
        return dict(zip(names, sign(msg) if role in ("user", "ai") else [None] * 16, strict=True))

    pool_rows = [(m, columns("ai" if i % 2 else "user", m)) for i, m in enumerate(pool)]
    engine = create_engine(store_kind(url).url)
    now = 1_600_000_000_000
    with engine.begin() as conn:
        for first in range(0, users, 100):
            ids = [f"n{u:06d}" for u in range(first, min(first + 100, users))]
            conn.execute(
                insert(users_table),
                [
                    {
                        "user_id": u,
                        "user_name": "n",
                        "phone": "",
                        "email": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for u in ids
                ],
            )
            conn.execute(
                insert(chat_sessions),
                [
                    {
                        "user_id": u,
                        "session_id": "s",
                        "session_title": "n",
                        "chat_count": each,
                        "created_at": now,
                        "updated_at": now,
                        "last_seq": each,
                    }
                    for u in ids
                ],
            )
            rows = []
            for u in ids:
                for n in range(each):
                    msg, sig = pool_rows[rng.randrange(len(pool_rows))]
                    role = "ai" if n % 2 else "user"
                    rows.append(
                        {
                            "user_id": u,
                            "session_id": "s",
                            "seq": n + 1,
                            "role": role,
                            "msg": msg,
                            "created_at": now + n,
                            **sig,
                        }
                    )
            conn.execute(insert(chat_messages), rows)
    engine.dispose()
