"""The REST API at the HTTP level: what the SDKs never send but other callers might (docs/rest.md).

Requests are written by hand with aiohttp and signed the way the SDKs sign them (docs/tokens.md), sent with
the exact bytes of the URL given (``yarl.URL(..., encoded=True)``), so the tests control the percent-encoding.
Effects are checked through real WebSocket clients; error answers must carry ``{"code", "message"}`` and
``x-ms-error-code``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import jwt
import pytest
from official_sdk import mint_url
from service_wire import PLAIN, data_frames, open_client
from yarl import URL

from wpsnb.service.local import LocalService

API = "api-version=2024-12-01"


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any  # parsed JSON, or the text when it is not JSON, or None when empty

    @property
    def error(self) -> dict[str, Any]:
        """The error body, after checking it has the documented shape and matches the header."""
        assert isinstance(self.body, dict) and {"code", "message"} <= set(self.body), self.body
        assert self.headers["x-ms-error-code"] == self.body["code"]
        return self.body


class Rest:
    """Signed requests to one hub of the local service."""

    def __init__(self, session: aiohttp.ClientSession, service: LocalService, hub: str):
        self.session = session
        self.service = service
        self.hub = hub

    def bearer(self, url: str, **claims: Any) -> str:
        payload = {"aud": url, "exp": int(time.time()) + 60, **claims}
        return jwt.encode(payload, self.service.access_key, algorithm="HS256")

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        data: Any = None,
        content_type: str | None = None,
        authorization: str | None = "sign",
        hub_path: bool = True,
    ) -> Answer:
        """``path`` is below ``/api/hubs/{hub}/`` (or absolute with ``hub_path=False``), already encoded."""
        url = f"{self.service.endpoint}/api/hubs/{self.hub}/{path}" if hub_path else f"{self.service.endpoint}{path}"
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if authorization == "sign":
            headers["Authorization"] = "Bearer " + self.bearer(url)
        elif authorization is not None:
            headers["Authorization"] = authorization
        skip = () if content_type is not None else ("Content-Type",)
        async with self.session.request(
            method, URL(url, encoded=True), data=data, headers=headers, skip_auto_headers=skip
        ) as response:
            text = await response.text()
            body: Any = None
            if text:
                body = await response.json(content_type=None) if response.content_type == "application/json" else text
            return Answer(response.status, response.headers, body)


@pytest.fixture
async def rest(local_service: LocalService) -> AsyncIterator[Rest]:
    async with aiohttp.ClientSession() as session:
        yield Rest(session, local_service, "http" + uuid.uuid4().hex[:10])


# ---- health, routing and authentication ----------------------------------------------------------


async def test_health_needs_no_token(rest: Rest) -> None:
    assert (await rest("HEAD", "/api/health", authorization=None, hub_path=False)).status == 200
    assert (await rest("GET", "/api/health", authorization=None, hub_path=False)).status == 200


async def test_missing_or_wrong_bearer_is_401_with_a_readable_body(rest: Rest) -> None:
    missing = await rest("POST", f":send?{API}", data=b"{}", content_type="application/json", authorization=None)
    assert missing.status == 401
    assert missing.error["code"] == "Error.Unauthorized"
    assert "Authorization: Bearer" in missing.error["message"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")

    other_url = f"{rest.service.endpoint}/api/hubs/{rest.hub}/:closeConnections?{API}"
    wrong_audience = await rest(
        "POST",
        f":send?{API}",
        data=b"{}",
        content_type="application/json",
        authorization="Bearer " + rest.bearer(other_url),
    )
    assert wrong_audience.status == 401
    assert "sign the exact request URL" in wrong_audience.error["message"]

    entra = await rest("HEAD", f"groups/g?{API}", authorization="Bearer " + rest.bearer("https://webpubsub.azure.com"))
    assert (entra.status, entra.headers["x-ms-error-code"]) == (401, "Error.Unauthorized")
    assert (await rest("HEAD", f"groups/g?{API}", authorization="Basic abc")).status == 401


async def test_audience_without_query_is_accepted(rest: Rest) -> None:
    """The Docs say aud = the URL without its query; the Python SDK signs it with the query. Both work."""
    base = f"{rest.service.endpoint}/api/hubs/{rest.hub}/groups/g%201"
    answer = await rest("HEAD", f"groups/g%201?{API}", authorization="Bearer " + rest.bearer(base))
    assert answer.status == 404  # authenticated; the group simply has no members


async def test_unknown_paths_are_404_and_wrong_methods_405(rest: Rest) -> None:
    unknown = await rest("POST", f"groups/g/:shout?{API}")
    assert unknown.status == 404
    assert unknown.error["code"] == "Error.NotFound"
    outside = await rest("GET", "/api/nothing", hub_path=False)
    assert outside.status == 404
    wrong_method = await rest("GET", f"groups/g/connections/c1?{API}")
    assert wrong_method.status == 405
    assert "use PUT or DELETE" in wrong_method.error["message"]


async def test_invalid_hub_and_path_encoding_are_400(rest: Rest) -> None:
    rest.hub = "1st"
    hub = await rest("POST", f":send?{API}", data=b"1", content_type="application/json")
    assert hub.status == 400
    assert "hub name '1st' is invalid" in hub.error["message"]
    rest.hub = "fine"
    not_utf8 = await rest("HEAD", f"users/%FF%FE?{API}")
    assert not_utf8.status == 400
    blank_group = await rest("PUT", f"users/u/groups/%20%20?{API}")
    assert blank_group.status == 400
    assert "only whitespace" in blank_group.error["message"]


async def test_path_segments_are_decoded_exactly_once(local_service: LocalService, rest: Rest) -> None:
    """``%2F`` is part of the name, ``+`` stays ``+``, ``%2520`` is the three characters ``%20``."""
    names = ["a/b", "a+b", "a b", "%20", "ü/ß", "?#&="]
    async with open_client(mint_url(local_service, rest.hub, user_id="u", groups=names), PLAIN) as client:
        for name in names:
            answer = await rest(
                "POST", f"groups/{quote(name, safe='')}/:send?{API}", data=name.encode(), content_type="text/plain"
            )
            assert answer.status == 202
            assert (await client.recv())["group"] == name
        literal_plus = await rest("POST", f"groups/a+b/:send?{API}", data=b"x", content_type="text/plain")
        assert literal_plus.status == 202
        assert (await client.recv())["group"] == "a+b"


# ---- message bodies ------------------------------------------------------------------------------


async def test_content_types_map_to_data_types(local_service: LocalService, rest: Rest) -> None:
    async with (
        open_client(mint_url(local_service, rest.hub, user_id="u"), PLAIN) as client,
        open_client(mint_url(local_service, rest.hub, user_id="simple")) as simple,
    ):
        cases = [
            ("application/json; charset=utf-8", b'{"x" : [1, 2]}', ("json", {"x": [1, 2]}), '{"x" : [1, 2]}'),
            ("text/plain; charset=utf-8", "ü".encode(), ("text", "ü"), "ü"),
            ("text/plain; charset=iso-8859-1", "é".encode("latin-1"), ("text", "é"), "é"),
            ("TEXT/PLAIN", b"", ("text", ""), ""),
            ("application/octet-stream", b"\x01\x02", ("binary", "AQI="), b"\x01\x02"),
            (None, b"\x03", ("binary", "Aw=="), b"\x03"),  # no Content-Type: binary, as the emulator does
        ]
        for content_type, data, (data_type, value), raw in cases:
            answer = await rest("POST", f":send?{API}", data=data, content_type=content_type)
            assert answer.status == 202, (content_type, answer.body)
            frame = await client.recv()
            assert (frame["dataType"], frame["data"]) == (data_type, value), content_type
            assert await simple.recv_raw() == raw  # JSON exactly as posted, text as text, binary as binary


async def test_filter_sees_the_protocol(local_service: LocalService, rest: Rest) -> None:
    async with (
        open_client(mint_url(local_service, rest.hub, user_id="json"), PLAIN) as json_client,
        open_client(mint_url(local_service, rest.hub, user_id="simple")) as simple,
    ):
        only_simple = quote("protocol eq null", safe="")
        assert (
            await rest("POST", f":send?{API}&filter={only_simple}", data=b"raw", content_type="text/plain")
        ).status == 202
        assert await simple.recv_raw() == "raw"
        assert data_frames(await json_client.until_pong()) == []
        only_json = quote(f"protocol eq '{PLAIN}'", safe="")
        await rest("POST", f":send?{API}&filter={only_json}", data=b"framed", content_type="text/plain")
        assert (await json_client.recv())["data"] == "framed"


async def test_unsupported_content_type_is_415(local_service: LocalService, rest: Rest) -> None:
    async with open_client(mint_url(local_service, rest.hub, user_id="u"), PLAIN) as client:
        for content_type in ("application/xml", "application/x-protobuf", "multipart/form-data; boundary=x"):
            answer = await rest("POST", f"users/u/:send?{API}", data=b"<x/>", content_type=content_type)
            assert answer.status == 415, content_type
            assert answer.error["code"] == "Error.UnsupportedMediaType"
            assert "application/json" in answer.error["message"]
        assert data_frames(await client.until_pong()) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "not valid JSON"),
        (b"{'single': 'quotes'}", "not valid JSON"),
        (b"[NaN]", "not valid JSON"),
        (b"\xff", "not valid utf-8"),
    ],
)
async def test_invalid_json_bodies_are_400(rest: Rest, body: bytes, problem: str) -> None:
    answer = await rest("POST", f":send?{API}", data=body, content_type="application/json")
    assert answer.status == 400
    assert problem in answer.error["message"]


async def test_body_limit_is_1_mib(local_service: LocalService, rest: Rest) -> None:
    limit = 1024 * 1024
    async with open_client(mint_url(local_service, rest.hub, user_id="u")) as simple:
        at_limit = await rest(
            "POST", f"users/u/:send?{API}", data=b"\x00" * limit, content_type="application/octet-stream"
        )
        assert at_limit.status == 202
        assert len(await simple.recv_raw()) == limit
    too_big = await rest("POST", f":send?{API}", data=b"\x00" * (limit + 1), content_type="application/octet-stream")
    assert too_big.status == 413
    assert too_big.error["code"] == "Error.PayloadTooLarge"
    assert f"{limit}-byte limit (got {limit + 1} bytes)" in too_big.error["message"]

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to check up front
        for _ in range(17):
            yield b"\x00" * 65536

    chunked = await rest("POST", f":send?{API}", data=chunks(), content_type="application/octet-stream")
    assert chunked.status == 413
    assert chunked.error["code"] == "Error.PayloadTooLarge"


async def test_message_ttl_is_validated(rest: Rest) -> None:
    for ttl, status in (("0", 202), ("300", 202), ("301", 400), ("-1", 400), ("x", 400)):
        answer = await rest(
            "POST", f"connections/c/:send?{API}&messageTtlSeconds={ttl}", data=b"1", content_type="application/json"
        )
        assert answer.status == status, ttl


async def test_bad_filter_error_points_at_the_offending_part(rest: Rest) -> None:
    expression = "userId eq 'a' and length(groups) gt 'x'"
    answer = await rest(
        "POST", f":send?{API}&filter={quote(expression, safe='')}", data=b"1", content_type="application/json"
    )
    assert answer.status == 400
    assert answer.error["target"] == "filter"
    assert f"''x'' at position {expression.index(chr(39) + 'x')}" in answer.error["message"]  # the 'x' literal


# ---- listing connections -------------------------------------------------------------------------


async def test_list_connections_next_link_is_absolute_and_follows(local_service: LocalService, rest: Rest) -> None:
    group = "team/α"
    encoded = quote(group, safe="")
    urls = [mint_url(local_service, rest.hub, user_id=f"u{i}", groups=[group]) for i in range(3)]
    async with open_client(urls[0], PLAIN) as a, open_client(urls[1], PLAIN) as b, open_client(urls[2], PLAIN) as c:
        expected = {x.connected["connectionId"]: x.connected["userId"] for x in (a, b, c)}
        first = await rest("GET", f"groups/{encoded}/connections?{API}&maxpagesize=2&top=3")
        assert first.status == 200
        assert len(first.body["value"]) == 2
        next_link = first.body["nextLink"]
        parts = urlsplit(next_link)
        assert f"{parts.scheme}://{parts.netloc}" == local_service.endpoint
        assert parts.path == f"/api/hubs/{rest.hub}/groups/{encoded}/connections"
        query = parse_qs(parts.query)
        assert (query["maxpagesize"], query["top"]) == (["2"], ["1"])
        second = await rest("GET", next_link[len(local_service.endpoint) :], hub_path=False)
        assert second.status == 200
        assert second.body["nextLink"] is None
        found = {m["connectionId"]: m["userId"] for m in first.body["value"] + second.body["value"]}
        assert found == expected

        capped = await rest("GET", f"groups/{encoded}/connections?{API}&maxpagesize=2&top=2")
        assert (len(capped.body["value"]), capped.body["nextLink"]) == (2, None)  # top reached: no next page


@pytest.mark.parametrize(
    "query",
    [
        "maxpagesize=0",
        "maxpagesize=201",
        "maxpagesize=x",
        "top=0",
        "top=1&top=2",
        "continuationToken=%FF%FF",
        "continuationToken=",
    ],
)
async def test_list_connections_rejects_bad_paging_parameters(rest: Rest, query: str) -> None:
    answer = await rest("GET", f"groups/g/connections?{API}&{query}")
    assert answer.status == 400, answer.body
    assert answer.error["target"] in ("maxpagesize", "top", "continuationToken")


# ---- :addToGroups / :removeFromGroups ------------------------------------------------------------


async def test_add_to_groups_by_filter(local_service: LocalService, rest: Rest) -> None:
    async with (
        open_client(mint_url(local_service, rest.hub, user_id="alice"), PLAIN) as alice,
        open_client(mint_url(local_service, rest.hub, user_id="bob"), PLAIN) as bob,
    ):
        body = b'{"groups": ["room", "updates"], "filter": "userId eq \'alice\'"}'
        assert (await rest("POST", f":addToGroups?{API}", data=body, content_type="application/json")).status == 200
        await rest("POST", f"groups/room/:send?{API}", data=b"hi", content_type="text/plain")
        assert (await alice.recv())["group"] == "room"
        assert data_frames(await bob.until_pong()) == []
        nobody = b'{"groups": ["room"], "filter": "userId eq \'nobody\'"}'
        assert (
            await rest("POST", f":removeFromGroups?{API}", data=nobody, content_type="application/json")
        ).status == 200
        await rest("POST", f"groups/room/:send?{API}", data=b"still", content_type="text/plain")
        assert (await alice.recv())["data"] == "still"


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        (b'{"groups": []}', 400, "non-empty list"),
        (b'{"filter": "userId eq \'a\'"}', 400, "non-empty list"),
        (b'{"groups": ["ok", "  "]}', 400, "only whitespace"),
        (b'{"groups": ["ok"], "filter": 3}', 400, '"filter" must be a string'),
        (b'{"groups": ["ok"], "filter": "userId eq"}', 400, "position 9"),
        (b'["ok"]', 400, "must be a JSON object"),
        (b"{", 400, "not valid JSON"),
    ],
)
async def test_add_to_groups_rejects_bad_bodies(rest: Rest, body: bytes, status: int, problem: str) -> None:
    answer = await rest("POST", f":addToGroups?{API}", data=body, content_type="application/json")
    assert answer.status == status
    assert problem in answer.error["message"]


async def test_add_to_groups_needs_json(rest: Rest) -> None:
    answer = await rest("POST", f":removeFromGroups?{API}", data=b'{"groups": ["a"]}', content_type="text/plain")
    assert answer.status == 415


# ---- :generateToken and permissions --------------------------------------------------------------


async def test_generate_token_mints_a_working_client_token(local_service: LocalService, rest: Rest) -> None:
    answer = await rest(
        "POST",
        f":generateToken?userId=u%201&role=webpubsub.sendToGroup&minutesToExpire=3&{API}"
        "&group=g%2F1&group=g2&clientType=Default",
    )
    assert answer.status == 200
    token = answer.body["token"]
    claims = jwt.decode(token, local_service.access_key, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["aud"] == f"{local_service.endpoint}/client/hubs/{rest.hub}"
    assert (claims["sub"], claims["role"], claims["webpubsub.group"]) == (
        "u 1",
        ["webpubsub.sendToGroup"],
        ["g/1", "g2"],
    )
    url = f"ws://{local_service.endpoint[7:]}/client/hubs/{rest.hub}?access_token={token}"
    async with open_client(url, PLAIN) as client:
        assert client.connected["userId"] == "u 1"


@pytest.mark.parametrize(
    ("query", "code", "problem"),
    [
        ("clientType=MQTT", "NotSupported", "no MQTT or Socket.IO endpoint"),
        ("minutesToExpire=0", "Error.BadRequest", "minutesToExpire"),
        ("group=%20", "Error.BadRequest", "only whitespace"),
    ],
)
async def test_generate_token_rejects(rest: Rest, query: str, code: str, problem: str) -> None:
    answer = await rest("POST", f":generateToken?{query}&{API}")
    assert answer.status == 400
    assert answer.error["code"] == code
    assert problem in answer.error["message"]


async def test_permission_rules_are_capped_at_1000_per_connection(local_service: LocalService, rest: Rest) -> None:
    async with open_client(mint_url(local_service, rest.hub, user_id="u"), PLAIN) as client:
        path = f"permissions/sendToGroup/connections/{client.connected['connectionId']}?{API}&targetName="
        for index in range(1000):
            assert (await rest("PUT", f"{path}g{index}")).status == 200
        over = await rest("PUT", f"{path}one-more")
        assert over.status == 409
        assert over.error["code"] == "Error.Conflict"
        assert (await rest("PUT", f"{path}g0")).status == 200  # an existing rule can still change
        assert (await rest("PUT", path[: -len("&targetName=")])).status == 200  # and all-groups always works
        empty_target = await rest("HEAD", path)
        assert empty_target.status == 400
