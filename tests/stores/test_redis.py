"""RedisStore / AsyncRedisStore against real servers: standalone and a 3-node cluster.

The contract suite runs four times (sync/async x standalone/cluster); the tests below it pin
what only Redis has: the TTL on the key, connect-redis's touch, SCAN over the prefix only, keys
spread across cluster nodes, and recovery of the same store object after an outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.crc import key_slot

from coatcheck import StoreError
from coatcheck._errors import InvalidRecordError
from coatcheck.stores import AsyncRedisStore, RedisStore, encode_record
from coatcheck.testing import AsyncStoreContract, FakeClock, StoreContract, make_record
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.redis

DAY_MS = 86_400_000


# -- the contract, four ways ------------------------------------------------------------------


class TestRedisStoreContract(StoreContract):
    reports_expiry = True  # get_versioned reports the key's PTTL
    server_side_expiry = True
    touch_updates_stored_cookie = False  # connect-redis's touch: EXPIRE only, JSON as is

    @pytest.fixture
    def store(self, clock: FakeClock, redis_url: str, redis_prefix: str) -> Iterator[RedisStore]:
        store = RedisStore.from_url(redis_url, prefix=redis_prefix, clock=clock)
        yield store
        store.clear()
        store.close()


class TestRedisClusterStoreContract(StoreContract):
    reports_expiry = True  # get_versioned reports the key's PTTL
    server_side_expiry = True
    touch_updates_stored_cookie = False  # connect-redis's touch: EXPIRE only, JSON as is

    @pytest.fixture
    def store(
        self, clock: FakeClock, redis_cluster_nodes: list[str], redis_prefix: str
    ) -> Iterator[RedisStore]:
        store = RedisStore.from_url(
            redis_cluster_nodes[0], cluster=True, prefix=redis_prefix, clock=clock
        )
        yield store
        store.clear()
        store.close()


class TestAsyncRedisStoreContract(AsyncStoreContract):
    reports_expiry = True  # get_versioned reports the key's PTTL
    server_side_expiry = True
    touch_updates_stored_cookie = False  # connect-redis's touch: EXPIRE only, JSON as is

    @pytest.fixture
    def store(
        self, clock: FakeClock, redis_url: str, redis_prefix: str
    ) -> Iterator[AsyncRedisStore]:
        # Built outside any loop; redis.asyncio connects on the first command, in the test's
        # own asyncio.run loop, and the suite awaits aclose() in that same loop.
        yield AsyncRedisStore.from_url(redis_url, prefix=redis_prefix, clock=clock)
        with redis.Redis.from_url(redis_url) as client:
            RedisStore(client, prefix=redis_prefix).clear()


class TestAsyncRedisClusterStoreContract(AsyncStoreContract):
    reports_expiry = True  # get_versioned reports the key's PTTL
    server_side_expiry = True
    touch_updates_stored_cookie = False  # connect-redis's touch: EXPIRE only, JSON as is

    @pytest.fixture
    def store(
        self, clock: FakeClock, redis_cluster_nodes: list[str], redis_prefix: str
    ) -> Iterator[AsyncRedisStore]:
        yield AsyncRedisStore.from_url(
            redis_cluster_nodes[0], cluster=True, prefix=redis_prefix, clock=clock
        )
        with redis.cluster.RedisCluster.from_url(redis_cluster_nodes[0]) as client:
            RedisStore(client, prefix=redis_prefix).clear()


# -- standalone specifics ---------------------------------------------------------------------


@pytest.fixture
def client(redis_url: str, redis_prefix: str) -> Iterator[redis.Redis]:
    """A client on the shared server; keys under this test's prefix are deleted afterwards."""
    with redis.Redis.from_url(redis_url) as client:
        yield client
        RedisStore(client, prefix=redis_prefix).clear()


@pytest.fixture
def store(client: redis.Redis, redis_prefix: str, clock: FakeClock) -> RedisStore:
    return RedisStore(client, prefix=redis_prefix, clock=clock)


def test_client_is_used_as_given(client: redis.Redis) -> None:
    assert RedisStore(client).client is client
    assert RedisStore(client).prefix == "sess:"


def test_key_is_prefix_plus_sid_and_value_the_express_json(
    store: RedisStore, client: redis.Redis, redis_prefix: str, clock: FakeClock
) -> None:
    record = make_record(clock(), 60, user="bob", note="Grüße")
    store.set("abc", record)
    assert client.get(redis_prefix + "abc") == encode_record(record).encode()
    assert client.type(redis_prefix + "abc") == b"string"


def test_ttl_follows_cookie_expires(
    store: RedisStore, client: redis.Redis, redis_prefix: str, clock: FakeClock
) -> None:
    store.set("abc", make_record(clock(), 60))
    assert client.ttl(redis_prefix + "abc") == 60
    assert 59_000 < client.pttl(redis_prefix + "abc") <= 60_000


def test_ttl_is_one_day_without_expires(
    store: RedisStore, client: redis.Redis, redis_prefix: str, clock: FakeClock
) -> None:
    store.set("abc", make_record(clock(), None))
    assert client.ttl(redis_prefix + "abc") == 86_400
    assert DAY_MS - 1_000 < client.pttl(redis_prefix + "abc") <= DAY_MS


def test_setting_an_expired_record_deletes_the_key(
    store: RedisStore, client: redis.Redis, redis_prefix: str, clock: FakeClock
) -> None:
    store.set("abc", make_record(clock(), 60))
    store.set("abc", make_record(clock(), -1))
    assert client.exists(redis_prefix + "abc") == 0


def test_touch_extends_the_ttl_and_leaves_the_value_bytes(
    store: RedisStore, client: redis.Redis, redis_prefix: str, clock: FakeClock
) -> None:
    store.set("abc", make_record(clock(), 10, user="bob"))
    before = client.get(redis_prefix + "abc")
    assert client.pttl(redis_prefix + "abc") <= 10_000
    store.touch("abc", make_record(clock(), 3600, user="somebody else"))
    assert 3_599_000 < client.pttl(redis_prefix + "abc") <= 3_600_000
    assert client.get(redis_prefix + "abc") == before


def test_touch_of_a_missing_session_creates_nothing(
    store: RedisStore, client: redis.Redis, redis_prefix: str, clock: FakeClock
) -> None:
    store.touch("nobody", make_record(clock(), 60))
    assert client.exists(redis_prefix + "nobody") == 0


@pytest.mark.parametrize("raw", [b'"a string"', b"[1, 2]", b"{}", b'{"cookie": 1}', b"not json"])
def test_a_stored_value_that_is_no_record_reads_as_none_and_warns(
    store: RedisStore,
    client: redis.Redis,
    redis_prefix: str,
    raw: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid = "0123456789abcdefghijklmnopqrstuv"
    client.set(redis_prefix + sid, raw)
    with caplog.at_level(logging.WARNING, logger="coatcheck"):
        assert store.get(sid) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "012345" in caplog.text
    assert sid not in caplog.text
    assert store.all() == {}


@pytest.mark.parametrize("kind", ["list", "hash", "set"])
def test_a_key_of_the_wrong_type_reads_as_an_invalid_record_sync_and_async(
    store: RedisStore,
    client: redis.Redis,
    redis_url: str,
    redis_prefix: str,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # issue 10.7: WRONGTYPE used to fail every request carrying this id until the key expired
    sid = "wrongtype-abcdefghijklmnopqrstuv"
    key = redis_prefix + sid

    async def async_get() -> Any:
        async_store = AsyncRedisStore.from_url(redis_url, prefix=redis_prefix)
        try:
            return await async_store.get(sid)
        finally:
            await async_store.aclose()

    plant = {
        "list": lambda: client.rpush(key, "x"),
        "hash": lambda: client.hset(key, "a", "b"),
        "set": lambda: client.sadd(key, "x"),
    }[kind]
    for get in (lambda: store.get(sid), lambda: asyncio.run(async_get())):
        plant()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="coatcheck"):
            assert get() is None
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        assert "wrongt" in caplog.text
        assert sid not in caplog.text
        # destroyed like any invalid record (issue 10.7; this get used to leave it in place)
        assert client.type(key) == b"none"


def test_other_response_errors_of_get_still_raise(
    client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    # A real refusal: an ACL user that may not GET (nor run scripts).
    user = "coatcheck-noget-" + redis_prefix.strip(":").replace(":", "-")
    client.acl_setuser(
        user, enabled=True, passwords=["+pw"], commands=["+@all", "-get"], keys=["~*"]
    )
    try:
        url = redis_url.replace("redis://", f"redis://{user}:pw@")
        store = RedisStore.from_url(url, prefix=redis_prefix)
        with pytest.raises(StoreError, match="store get failed") as info:
            store.get("abc")
        assert isinstance(info.value.cause, redis.exceptions.NoPermissionError)
        store.close()
    finally:
        client.acl_deluser(user)


def _calls(client: redis.Redis) -> dict[str, int]:
    """Commands the server ran so far, by name (``INFO commandstats``)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


def _ran(client: redis.Redis, before: dict[str, int]) -> dict[str, int]:
    after = _calls(client)
    ran = {name: n - before.get(name, 0) for name, n in after.items()}
    return {name: n for name, n in ran.items() if n and name != "info"}


def _one_command_each(store: Any, record: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """get/set/touch/destroy of one session (sync or async store), each with the one Redis
    command it must cost."""
    return [
        ("set", lambda: store.set("abc", record), "set"),
        ("get", lambda: store.get("abc"), "get"),
        ("touch", lambda: store.touch("abc", record), "pexpire"),
        ("destroy", lambda: store.destroy("abc"), "del"),
    ]


def test_one_command_per_get_set_touch_destroy(
    store: RedisStore, client: redis.Redis, clock: FakeClock
) -> None:
    record = make_record(clock(), 60, user="bob")
    store.get("warm-up")  # the store's connection is open (its handshake is not counted)
    for operation, call, command in _one_command_each(store, record):
        before = _calls(client)
        call()
        assert _ran(client, before) == {command: 1}, operation


#: Clients the store serves straight on a connection (plain) and through execute_command.
CLIENT_KINDS = pytest.mark.parametrize(
    "options",
    [{}, {"decode_responses": True}, {"protocol": 3}, {"single_connection_client": True}],
    ids=["plain", "decode_responses", "resp3", "single_connection"],
)


@CLIENT_KINDS
def test_every_client_kind_gets_the_same_replies(
    redis_url: str, redis_prefix: str, clock: FakeClock, options: dict[str, Any]
) -> None:
    # A plain client is served by the store's own connections, the others through
    # execute_command: the same answers either way.
    with redis.Redis.from_url(redis_url, **options) as client:
        store = RedisStore(client, prefix=redis_prefix, clock=clock)
        record = make_record(clock(), 60, n=1)
        assert store.set_if("abc", record, None) is True
        got = store.get_versioned("abc")
        assert got is not None
        assert got.record == record
        assert store.set_if("abc", {**record, "n": 2}, "0" * 40) is False
        assert store.set_if("abc", {**record, "n": 2}, got.version) is True
        token = store.lock("abc", 5)
        assert token is not None
        assert store.lock("abc", 5) is None
        store.unlock("abc", token, touch=record)
        assert store.lock("abc", 5) is not None  # released
        assert store.get("abc") == {**record, "n": 2}
        store.destroy("abc")
        assert store.get("abc") is None
        store.close()


def test_a_store_shared_by_threads_keeps_each_reply_with_its_command(
    store: RedisStore, clock: FakeClock
) -> None:
    # The store's own connections are taken and given back by each command: 8 threads x 200
    # commands, each reading back exactly its own session.
    from concurrent.futures import ThreadPoolExecutor

    def work(n: int) -> bool:
        record = make_record(clock(), 60, n=n)
        for _ in range(100):
            store.set(f"t{n}", record)
            if store.get(f"t{n}") != record:
                return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))


def test_a_forked_child_uses_its_own_connections(store: RedisStore, clock: FakeClock) -> None:
    import os
    import warnings

    record = make_record(clock(), 60, n=1)
    store.set("parent", record)  # the parent now holds a connection
    with warnings.catch_warnings():  # 3.12+: "multi-threaded process" (the child only reads)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: use the store, then leave without running any cleanup
        ok = store.get("parent") == record
        store.set("child", record)
        os._exit(0 if ok and store.get("child") == record else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get("parent") == record  # the parent's connection is intact
    assert store.get("child") == record


def test_one_command_per_async_get_set_touch_destroy(
    redis_url: str, redis_prefix: str, client: redis.Redis, clock: FakeClock
) -> None:
    async def scenario() -> None:
        store = AsyncRedisStore.from_url(redis_url, prefix=redis_prefix, clock=clock)
        record = make_record(clock(), 60, n=1)
        await store.get("warm-up")
        for operation, call, command in _one_command_each(store, record):
            before = _calls(client)
            await call()
            assert _ran(client, before) == {command: 1}, operation
        await store.aclose()

    asyncio.run(scenario())


@CLIENT_KINDS
def test_every_async_client_kind_gets_the_same_replies(
    redis_url: str, redis_prefix: str, clock: FakeClock, options: dict[str, Any]
) -> None:
    # As for RedisStore: a plain client is served straight on its pool's connections, the
    # others through execute_command.
    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, **options)
        store = AsyncRedisStore(client, prefix=redis_prefix, clock=clock)
        record = make_record(clock(), 60, n=1)
        assert await store.set_if("abc", record, None) is True
        got = await store.get_versioned("abc")
        assert got is not None
        assert got.record == record
        assert await store.set_if("abc", {**record, "n": 2}, "0" * 40) is False
        assert await store.set_if("abc", {**record, "n": 2}, got.version) is True
        token = await store.lock("abc", 5)
        assert token is not None
        assert await store.lock("abc", 5) is None
        await store.unlock("abc", token, touch=record)
        assert await store.lock("abc", 5) is not None  # released
        assert await store.get("abc") == {**record, "n": 2}
        await store.destroy("abc")
        assert await store.get("abc") is None
        await client.aclose()  # closes every connection the store used: no ResourceWarning

    asyncio.run(scenario())


def test_an_async_store_shared_by_tasks_keeps_each_reply_with_its_command(
    redis_url: str, redis_prefix: str, clock: FakeClock
) -> None:
    # 16 tasks x 50 set/get pairs on one store, interleaved at every await: each reads back
    # exactly its own session, and the store opened no more connections than tasks ran at once.
    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        store = AsyncRedisStore(client, prefix=redis_prefix, clock=clock)

        async def work(n: int) -> bool:
            record = make_record(clock(), 60, n=n)
            for _ in range(50):
                await store.set(f"t{n}", record)
                if await store.get(f"t{n}") != record:
                    return False
            return True

        assert all(await asyncio.gather(*(work(n) for n in range(16))))
        pool = client.connection_pool
        assert len(pool._in_use_connections) + len(pool._available_connections) <= 16
        await client.aclose()

    asyncio.run(scenario())


def test_an_async_command_cancelled_mid_reply_leaves_nothing_for_the_next(
    redis_url: str, redis_prefix: str, client: redis.Redis, clock: FakeClock
) -> None:
    # The server holds every reply (CLIENT PAUSE) while the read is cancelled; its reply must
    # not be taken as the answer to the store's next command.
    async def scenario() -> None:
        store = AsyncRedisStore.from_url(redis_url, prefix=redis_prefix, clock=clock)
        first, second = make_record(clock(), 60, n=1), make_record(clock(), 60, n=2)
        await store.set("first", first)
        await store.set("second", second)
        client.client_pause(300)
        with pytest.raises(asyncio.TimeoutError):  # not yet the builtin one on Python 3.10
            await asyncio.wait_for(store.get("first"), 0.05)
        await asyncio.sleep(0.4)  # the paused reply has arrived by now, on a closed connection
        assert await store.get("second") == second
        assert await store.get("first") == first
        await store.aclose()

    asyncio.run(scenario())


def test_scan_covers_only_the_prefix_even_with_glob_characters(
    client: redis.Redis, redis_prefix: str, clock: FakeClock
) -> None:
    prefix = redis_prefix + "we*ird[1]?\\:"
    store = RedisStore(client, prefix=prefix, clock=clock)
    decoys = [
        redis_prefix + "weXYZird1Q:decoy",  # matches the prefix if it were an unescaped glob
        redis_prefix + "we",
        "sess:someone-elses",
    ]
    for key in decoys:
        client.set(key, encode_record(make_record(clock(), 60)), px=60_000)
    try:
        for n in range(5):
            store.set(f"s{n}", make_record(clock(), 60, n=n))
        assert store.length() == 5
        assert sorted(store.all()) == [f"s{n}" for n in range(5)]
        store.clear()
        assert store.length() == 0
        assert client.exists(*decoys) == len(decoys)
    finally:
        client.delete(*decoys)


def test_many_sessions_in_batches(store: RedisStore, clock: FakeClock) -> None:
    for n in range(1_200):  # more than one SCAN page and one MGET/DEL batch
        store.set(f"s{n:04d}", make_record(clock(), 60, n=n))
    found = store.all()
    assert len(found) == store.length() == 1_200
    assert found["s0042"]["n"] == 42
    store.clear()
    assert store.length() == 0


def test_a_decode_responses_client_works(
    redis_url: str, redis_prefix: str, clock: FakeClock
) -> None:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        store = RedisStore(client, prefix=redis_prefix, clock=clock)
        record = make_record(clock(), 60, user="Zoë")
        store.set("abc", record)
        assert store.get("abc") == record
        assert store.all() == {"abc": record}
        store.clear()


# -- failures ---------------------------------------------------------------------------------


def _nothing_listening() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_every_operation_fails_with_store_error_naming_it(clock: FakeClock) -> None:
    store = RedisStore.from_url(_nothing_listening(), clock=clock)
    record = make_record(clock(), 60)
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: store.get("abcdefghij"),
        "set": lambda: store.set("abcdefghij", record),
        "touch": lambda: store.touch("abcdefghij", record),
        "destroy": lambda: store.destroy("abcdefghij"),
        "all": store.all,
        "length": store.length,
        "clear": store.clear,
    }
    for operation, call in calls.items():
        with pytest.raises(StoreError) as info:
            call()
        assert info.value.operation == operation
        assert isinstance(info.value.cause, redis.exceptions.ConnectionError)
        assert "abcdefghij" not in str(info.value)
    store.close()


def test_a_bad_record_is_rejected_before_any_io(clock: FakeClock) -> None:
    store = RedisStore.from_url(_nothing_listening(), clock=clock)
    with pytest.raises(InvalidRecordError):
        store.set("abc", make_record(clock(), 60, bad={1, 2}))
    store.close()


def test_outage_then_the_same_store_recovers(private_redis: RedisServer, clock: FakeClock) -> None:
    store = RedisStore.from_url(private_redis.url, clock=clock)
    record = make_record(clock(), 60, user="bob")
    store.set("abc", record)
    assert store.get("abc") == record

    private_redis.stop()  # SIGTERM to the server's PID
    for operation, call in [
        ("get", lambda: store.get("abc")),
        ("set", lambda: store.set("abc", record)),
        ("touch", lambda: store.touch("abc", record)),
        ("destroy", lambda: store.destroy("abc")),
        ("length", store.length),
    ]:
        with pytest.raises(StoreError, match=f"store {operation} failed"):
            call()

    private_redis.start()  # same port, empty (no persistence)
    assert store.get("abc") is None
    store.set("abc", record)
    assert store.get("abc") == record
    store.close()


def test_async_outage_then_the_same_store_recovers(
    private_redis: RedisServer, clock: FakeClock
) -> None:
    async def scenario() -> None:
        store = AsyncRedisStore.from_url(private_redis.url, clock=clock)
        record = make_record(clock(), 60, user="bob")
        await store.set("abc", record)
        private_redis.stop()
        for operation in ("get", "destroy"):
            with pytest.raises(StoreError, match=f"store {operation} failed"):
                await getattr(store, operation)("abc")
        with pytest.raises(StoreError, match="store set failed"):
            await store.set("abc", record)
        private_redis.start()
        await store.set("abc", record)
        assert await store.get("abc") == record
        await store.aclose()

    asyncio.run(scenario())


# -- cluster ----------------------------------------------------------------------------------


def _keys_per_node(client: redis.cluster.RedisCluster, prefix: str) -> dict[str, int]:
    counts = {}
    for node in client.get_primaries():
        with redis.Redis(host=node.host, port=node.port) as direct:
            counts[node.name] = sum(1 for _ in direct.scan_iter(match=prefix + "*", count=1000))
    return counts


def test_cluster_spreads_sessions_and_all_length_clear_see_every_node(
    redis_cluster_nodes: list[str], redis_prefix: str, clock: FakeClock
) -> None:
    with redis.cluster.RedisCluster.from_url(redis_cluster_nodes[0]) as client:
        store = RedisStore(client, prefix=redis_prefix, clock=clock)
        sids = [f"sid-{n}" for n in range(300)]
        for n, sid in enumerate(sids):
            store.set(sid, make_record(clock(), 60, n=n))
        decoy = "coatcheck-decoy:" + redis_prefix
        client.set(decoy, b"{}", px=60_000)

        per_node = _keys_per_node(client, redis_prefix)
        assert len(per_node) == 3, per_node
        assert all(count > 0 for count in per_node.values()), per_node
        assert sum(per_node.values()) == 300
        assert len({key_slot((redis_prefix + sid).encode()) for sid in sids}) > 100

        found = store.all()
        assert len(found) == store.length() == 300
        assert found["sid-7"]["n"] == 7
        store.clear()
        assert store.length() == 0
        assert sum(_keys_per_node(client, redis_prefix).values()) == 0
        assert client.exists(decoy) == 1
        client.delete(decoy)


def test_async_cluster_all_length_clear_see_every_node(
    redis_cluster_nodes: list[str], redis_prefix: str, clock: FakeClock
) -> None:
    async def scenario() -> None:
        client = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster_nodes[0])
        store = AsyncRedisStore(client, prefix=redis_prefix, clock=clock)
        assert store.client is client
        await asyncio.gather(
            *(store.set(f"sid-{n}", make_record(clock(), 60, n=n)) for n in range(200))
        )
        assert len(await store.all()) == await store.length() == 200
        await store.clear()
        assert await store.length() == 0
        await store.aclose()  # not ours: the client stays open
        assert await client.ping()
        await client.aclose()

    asyncio.run(scenario())


def test_async_cluster_takes_many_concurrent_first_commands(
    redis_cluster_nodes: list[str], redis_prefix: str, clock: FakeClock
) -> None:
    """Fifty first commands at once on a fresh client: redis-py 8.1's lazy cluster discovery
    raced them (AttributeError about one run in ten) until the store initialised it first."""

    async def scenario() -> None:
        store = AsyncRedisStore.from_url(
            redis_cluster_nodes[0], cluster=True, prefix=redis_prefix, clock=clock
        )
        record = make_record(clock(), 60)
        await asyncio.gather(*(store.set(f"sid-{n}", record) for n in range(50)))
        await store.aclose()

    for _ in range(10):
        asyncio.run(scenario())
    with redis.cluster.RedisCluster.from_url(redis_cluster_nodes[0]) as client:
        store = RedisStore(client, prefix=redis_prefix)
        assert store.length() == 50
        store.clear()
