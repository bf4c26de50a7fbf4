"""wpsnb.protocol.tokens against tokens minted and signed by the official server SDK (1.3.0)."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import jwt
import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from wpsnb.protocol.tokens import (
    ENTRA_AUDIENCE,
    ConnectionString,
    TokenError,
    access_key_problem,
    client_audiences,
    generate_access_key,
    mint_client_token,
    mint_reconnection_token,
    rest_audiences,
    validate_client_token,
    validate_reconnection_token,
    validate_rest_token,
)

# The official emulator's default key: realistic, and >= 32 bytes so PyJWT does not warn.
KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvu"
HUB = "Chat_Hub"
CS = f"Endpoint=http://127.0.0.1:18080;AccessKey={KEY};Version=1.0;"


def sdk(connection_string: str = CS, hub: str = HUB, **kwargs: object) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(connection_string, hub=hub, **kwargs)


def sdk_token(hub: str = HUB, connection_string: str = CS, **kwargs: object) -> tuple[str, str]:
    """(token, host) from the SDK's get_client_access_token; host as the client will send it."""
    answer = sdk(connection_string, hub).get_client_access_token(**kwargs)
    return answer["token"], urlsplit(answer["baseUrl"]).netloc


def check_client(token: str | None, host: str = "127.0.0.1:18080", hub: str = HUB, **kwargs: object):
    return validate_client_token(token, KEY, hub=hub, audiences=client_audiences("ws", host, hub), **kwargs)


def reason_of(call, *args: object, **kwargs: object) -> TokenError:
    with pytest.raises(TokenError) as caught:
        call(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------------------------------------------------------
# Connection strings


@pytest.mark.parametrize(
    "text",
    [
        CS,
        f"Endpoint=http://127.0.0.1:18080/;AccessKey={KEY};Version=1.0;",
        f"Endpoint=http://localhost;Port=8080;AccessKey={KEY};Version=1.0;",
        f"Endpoint=http://localhost/;Port=8080;AccessKey={KEY};Version=1.0;",
        f"endpoint=https://x.webpubsub.azure.com;accesskey={KEY};version=1.0;",
        f"ENDPOINT=http://h:1;ACCESSKEY={KEY}",
        "Endpoint=http://h:1;AccessKey=abc==def=ghi+/=;Version=1.0;",
        f"Endpoint=http://first:1;AccessKey={KEY};Endpoint=http://second:2;AccessKey=other;",
        f";;Endpoint=http://h:1;;AccessKey={KEY};;",
        f"Endpoint=http://h:1;AccessKey={KEY};Port=;",
    ],
)
def test_connection_string_parses_like_the_sdk(text: str) -> None:
    ours = ConnectionString.parse(text)
    client = sdk(text)
    assert ours.endpoint == client._config.endpoint.rstrip("/")
    assert ours.access_key == client._config.credential.key
    # str() is accepted verbatim by the SDK and means the same thing.
    again = sdk(str(ours))
    assert again._config.endpoint == ours.endpoint
    assert again._config.credential.key == ours.access_key
    reparsed = ConnectionString.parse(str(ours))
    assert (reparsed.endpoint, reparsed.access_key) == (ours.endpoint, ours.access_key)


def test_port_forms_give_the_same_endpoint() -> None:
    port_form = ConnectionString.parse(f"Endpoint=http://localhost;Port=8080;AccessKey={KEY};Version=1.0;")
    inline = ConnectionString.parse(f"Endpoint=http://localhost:8080;AccessKey={KEY};Version=1.0;")
    assert port_form.endpoint == inline.endpoint == "http://localhost:8080"
    assert port_form.version == "1.0"


def test_repr_never_shows_the_key() -> None:
    parsed = ConnectionString.parse(CS)
    assert KEY not in repr(parsed)
    assert KEY in str(parsed)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (f"AccessKey={KEY};Version=1.0;", "no Endpoint"),
        ("Endpoint=http://h:1;Version=1.0;", "no AccessKey"),
        (f"Endpoint=http://h:1;{KEY};Version=1.0;", "has no '='"),
        (f"Endpoint=http://h:1;AccessKey={KEY};Version=1.0;\n", "whitespace"),
    ],
)
def test_connection_string_errors_match_the_sdk_and_hide_the_key(text: str, fragment: str) -> None:
    with pytest.raises(ValueError):
        sdk(text)  # the SDK refuses these too
    with pytest.raises(ValueError) as caught:
        ConnectionString.parse(text)
    message = str(caught.value)
    assert fragment in message
    assert "Endpoint=http://<host>:<port>;AccessKey=<key>;Version=1.0;" in message
    assert KEY not in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (f"Endpoint=localhost:8080;AccessKey={KEY}", "must start with http:// or https://"),
        (f"Endpoint=ws://localhost:8080;AccessKey={KEY}", "must start with http:// or https://"),
        (f"Endpoint=http://localhost:8080;Port=8080;AccessKey={KEY}", "port twice"),
        (f"Endpoint=http://localhost;Port=http;AccessKey={KEY}", "Port must be a number"),
        (f"Endpoint=http://localhost:99999;AccessKey={KEY}", "invalid port"),
        ("Endpoint=http://localhost:8080;AccessKey=", "empty AccessKey"),
    ],
)
def test_connection_string_mistakes_the_sdk_would_only_find_later(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        ConnectionString.parse(text)
    assert fragment in str(caught.value)
    assert KEY not in str(caught.value)


# ------------------------------------------------------------------------------------------------------------
# Access keys


def test_generated_keys_are_random_valid_and_work_with_the_sdk() -> None:
    keys = {generate_access_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert len(key) >= 43 and ";" not in key and access_key_problem(key) is None
    key = keys.pop()
    connection_string = ConnectionString(endpoint="http://127.0.0.1:18080", access_key=key)
    token = sdk(str(connection_string)).get_client_access_token()["token"]
    audiences = client_audiences("ws", "127.0.0.1:18080", HUB)
    claims = validate_client_token(token, key, hub=HUB, audiences=audiences)
    assert claims.user_id is None


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("tooShortKey123", "14 bytes"),
        ("é" * 15, "30 bytes"),
        (" " + KEY, "whitespace"),
        (KEY + "\n", "whitespace"),
        (KEY[:20] + ";" + KEY[20:], "';'"),
        (KEY[:20] + "\x07" + KEY[20:], "control characters"),
        (12345, "must be a str"),
    ],
)
def test_access_key_rule(key: object, fragment: str) -> None:
    problem = access_key_problem(key)
    assert problem is not None and fragment in problem
    if isinstance(key, str):
        assert key.strip() not in problem


def test_access_key_rule_accepts_real_keys() -> None:
    assert access_key_problem(KEY) is None
    assert access_key_problem(base64.b64encode(bytes(range(32))).decode()) is None
    assert access_key_problem("é" * 16) is None  # 32 bytes of UTF-8


# ------------------------------------------------------------------------------------------------------------
# Client access tokens minted by the SDK


def test_sdk_token_with_user_roles_and_groups() -> None:
    roles = ["webpubsub.sendToGroup", "webpubsub.joinLeaveGroup.g1", "custom"]
    token, host = sdk_token(user_id="u1", roles=roles, groups=["g1", "g 2"])
    claims = check_client(token, host)
    assert claims.user_id == "u1"
    assert claims.roles == tuple(roles)
    assert claims.groups == ("g1", "g 2")
    assert claims.expires_at == pytest.approx(time.time() + 3600, abs=5)
    assert claims.claims["aud"].endswith("/client/hubs/" + HUB)


def test_sdk_token_with_a_single_role_string_and_no_groups() -> None:
    token, host = sdk_token(roles="webpubsub.sendToGroup")  # the SDK passes a bare string through
    assert isinstance(jwt.decode(token, options={"verify_signature": False})["role"], str)
    claims = check_client(token, host)
    assert claims.roles == ("webpubsub.sendToGroup",)
    assert claims.groups == ()
    assert claims.user_id is None


def test_single_string_claims_as_other_sdks_write_them() -> None:
    audience = client_audiences("http", "127.0.0.1:18080", HUB)[0]
    token = jwt.encode(
        {
            "aud": audience,
            "exp": int(time.time()) + 60,
            "role": "webpubsub.joinLeaveGroup",
            "webpubsub.group": "lobby",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": "dotnet-user",
            "tenant": "contoso",
        },
        KEY,
        algorithm="HS256",
    )
    claims = check_client(token)
    assert claims.roles == ("webpubsub.joinLeaveGroup",)
    assert claims.groups == ("lobby",)
    assert claims.user_id == "dotnet-user"
    assert claims.claims["tenant"] == "contoso"  # custom claims are kept for the connect event


@pytest.mark.parametrize(
    "audience_template",
    [
        "ws://{host}/client/hubs/{hub}",
        "WS://{HOST}/CLIENT/HUBS/{HUB}",
        "http://{host}/client/hubs/{hub}/",
        "http://{host}/client?hub={hub}",
        "ws://{host}/client/?hub={hub}",
    ],
)
def test_audience_leniency(audience_template: str) -> None:
    token, host = sdk_token()
    audience = audience_template.format(host=host, hub=HUB, HOST=host.upper(), HUB=HUB.upper())
    claims = validate_client_token(token, KEY, hub=HUB, audiences=[audience])
    assert claims.roles == ()
    # and the other way round: a token whose aud has the odd form, checked against the canonical audience
    odd = mint_client_token(KEY, audience)
    assert check_client(odd, host).claims["aud"] == audience


def test_hub_matches_case_insensitively_and_default_port_is_ignored() -> None:
    token, _ = sdk_token(hub="Chat_Hub", connection_string=f"Endpoint=http://localhost:80;AccessKey={KEY}")
    # websockets/browsers omit a default port from Host
    assert check_client(token, host="localhost", hub="chat_hub").user_id is None


def test_wrong_hub_is_wrong_audience_with_a_useful_message() -> None:
    token, host = sdk_token(hub="other")
    error = reason_of(check_client, token, host)
    assert error.reason == "wrong-audience"
    assert "other" in str(error) and HUB in str(error)


def test_wrong_host_is_wrong_audience() -> None:
    token, _ = sdk_token()
    assert reason_of(check_client, token, "127.0.0.1:9999").reason == "wrong-audience"


def test_https_token_does_not_match_a_plain_endpoint() -> None:
    token, host = sdk_token(connection_string=f"Endpoint=https://127.0.0.1:18080;AccessKey={KEY}")
    assert reason_of(check_client, token, host).reason == "wrong-audience"
    audiences = client_audiences("wss", host, HUB)
    assert validate_client_token(token, KEY, hub=HUB, audiences=audiences).user_id is None


def test_mqtt_tokens_only_for_the_mqtt_endpoint() -> None:
    token, host = sdk_token(client_protocol="mqtt")
    assert reason_of(check_client, token, host).reason == "wrong-audience"
    audiences = client_audiences("ws", host, HUB, client_type="MQTT")
    assert validate_client_token(token, KEY, hub=HUB, audiences=audiences).roles == ()
    with pytest.raises(ValueError, match="unknown client type"):
        client_audiences("ws", host, HUB, client_type="signalr")


def test_expired_beyond_leeway() -> None:
    token, host = sdk_token(minutes_to_expire=-10)
    error = reason_of(check_client, token, host)
    assert error.reason == "expired"
    assert "min ago" in str(error) and "fresh client URL" in str(error)


def test_expired_within_leeway_is_accepted_unless_leeway_is_zero() -> None:
    token, host = sdk_token(minutes_to_expire=-2)
    assert check_client(token, host).user_id is None
    assert reason_of(check_client, token, host, leeway=0).reason == "expired"


def test_now_parameter_controls_the_clock() -> None:
    token, host = sdk_token(minutes_to_expire=1)
    assert check_client(token, host, now=time.time() + 60 + 299).roles == ()
    assert reason_of(check_client, token, host, now=time.time() + 60 + 301).reason == "expired"


def test_bad_signature() -> None:
    token, host = sdk_token(connection_string=f"Endpoint=http://127.0.0.1:18080;AccessKey={OTHER_KEY}")
    error = reason_of(check_client, token, host)
    assert error.reason == "bad-signature"
    assert "access key" in str(error)
    assert KEY not in str(error) and OTHER_KEY not in str(error)


def test_tampered_payload_is_a_bad_signature() -> None:
    token, host = sdk_token(roles=["custom"])
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False}) | {"role": ["webpubsub.sendToGroup"]}
    forged_payload = jwt.encode(claims, "x" * 32, algorithm="HS256").split(".")[1]
    assert reason_of(check_client, f"{header}.{forged_payload}.{signature}", host).reason == "bad-signature"


def test_alg_none_and_other_algorithms_are_refused() -> None:
    audience = client_audiences("http", "127.0.0.1:18080", HUB)[0]
    payload = {"aud": audience, "exp": int(time.time()) + 60, "role": ["webpubsub.sendToGroup"]}
    unsigned = jwt.encode(payload, None, algorithm="none")
    error = reason_of(check_client, unsigned)
    assert error.reason == "bad-algorithm" and "'none'" in str(error)
    hs512 = jwt.encode(payload, KEY * 2, algorithm="HS512")
    assert reason_of(check_client, hs512).reason == "bad-algorithm"


def test_missing_exp_is_refused() -> None:
    audience = client_audiences("http", "127.0.0.1:18080", HUB)[0]
    token = jwt.encode({"aud": audience, "iat": int(time.time())}, KEY, algorithm="HS256")
    error = reason_of(check_client, token)
    assert error.reason == "invalid-claim" and "'exp'" in str(error)


def test_future_nbf_is_refused_but_skew_is_tolerated() -> None:
    audience = client_audiences("http", "127.0.0.1:18080", HUB)[0]
    now = time.time()
    lifetime = {"aud": audience, "exp": int(now) + 3600}
    early = jwt.encode(lifetime | {"nbf": int(now) + 600}, KEY, algorithm="HS256")
    assert reason_of(check_client, early).reason == "invalid-claim"
    skewed = jwt.encode(lifetime | {"nbf": int(now) + 60}, KEY, algorithm="HS256")
    assert check_client(skewed).roles == ()


@pytest.mark.parametrize(
    ("token", "reason"),
    [(None, "missing"), ("", "missing"), ("abc", "malformed"), ("a.b.c", "malformed"), ("e30.e30.", "bad-algorithm")],
)
def test_missing_and_malformed(token: str | None, reason: str) -> None:
    error = reason_of(check_client, token)
    assert error.reason == reason
    assert str(error)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"role": 5}, "invalid-claim"),
        ({"role": ["ok", 5]}, "invalid-claim"),
        ({"webpubsub.group": {"g": 1}}, "invalid-claim"),
        ({"sub": ["u1"]}, "invalid-claim"),
        ({"aud": 7}, "invalid-claim"),
        ({"aud": None}, "wrong-audience"),
        ({"exp": "tomorrow"}, "invalid-claim"),
    ],
)
def test_claims_of_the_wrong_type(claims: dict, reason: str) -> None:
    payload = {"aud": client_audiences("http", "127.0.0.1:18080", HUB)[0], "exp": int(time.time()) + 60}
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    assert reason_of(check_client, jwt.encode(payload, KEY, algorithm="HS256")).reason == reason


def test_initial_groups_are_passed_through_for_the_endpoint_to_judge() -> None:
    # An invalid group name is a 400 from the endpoint, not a token failure (401).
    token, host = sdk_token(groups=["fine", "   "])
    assert check_client(token, host).groups == ("fine", "   ")


def test_base64_looking_key_is_used_as_a_string() -> None:
    b64_key = base64.b64encode(bytes(range(32))).decode()  # 44 chars, contains '+', '/' and '='
    connection_string = f"Endpoint=http://127.0.0.1:18080;AccessKey={b64_key};Version=1.0;"
    parsed = ConnectionString.parse(connection_string)
    assert parsed.access_key == b64_key
    token, host = sdk_token(connection_string=connection_string, user_id="u")
    audiences = client_audiences("ws", host, HUB)
    assert validate_client_token(token, parsed.access_key, hub=HUB, audiences=audiences).user_id == "u"
    # The SDK signs with UTF-8(key), not with the base64-decoded bytes.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, base64.b64decode(b64_key), algorithms=["HS256"], options={"verify_aud": False})


def test_minted_client_token_has_the_sdk_claims() -> None:
    kwargs = {"user_id": "u1", "roles": ["webpubsub.sendToGroup"], "groups": ["g1"], "minutes_to_expire": 5}
    sdk_claims = jwt.decode(sdk_token(**kwargs)[0], options={"verify_signature": False})
    ours = mint_client_token(KEY, sdk_claims["aud"], **kwargs)
    our_claims = jwt.decode(ours, options={"verify_signature": False})
    assert jwt.get_unverified_header(ours) == {"alg": "HS256", "typ": "JWT"}
    assert set(our_claims) == set(sdk_claims)
    for name in ("aud", "sub", "role", "webpubsub.group"):
        assert our_claims[name] == sdk_claims[name]
    assert our_claims["exp"] - our_claims["iat"] == sdk_claims["exp"] - sdk_claims["iat"] == 300
    assert abs(our_claims["iat"] - sdk_claims["iat"]) <= 2
    bare = jwt.decode(mint_client_token(KEY, sdk_claims["aud"]), options={"verify_signature": False})
    bare_sdk = jwt.decode(sdk_token()[0], options={"verify_signature": False})
    assert set(bare) == set(bare_sdk) == {"aud", "iat", "exp"}


# ------------------------------------------------------------------------------------------------------------
# REST bearer tokens, captured from the SDK over loopback


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers each SDK call with the one status code the SDK accepts and records what it sent."""

    seen: list[dict[str, str]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "host": self.headers["Host"],
                "authorization": self.headers.get("Authorization", ""),
            }
        )
        status = {"POST": 202 if "/:send" in self.path else 204, "PUT": 200, "DELETE": 204, "HEAD": 200}
        self.send_response(status.get(self.command, 200))
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    handler = type("Recorder", (_Recorder,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield f"Endpoint=http://127.0.0.1:{port};AccessKey={KEY};Version=1.0;", handler.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _bearer(request: dict[str, str]) -> str:
    assert request["authorization"].startswith("Bearer ")
    return request["authorization"][len("Bearer ") :]


def test_sdk_rest_tokens_validate_for_their_own_requests(recorder) -> None:
    connection_string, seen = recorder
    client = sdk(connection_string, HUB)
    client.send_to_group("g 1/x+y", "hi", excluded=["c 1", "c2"])
    client.send_to_user("user@example.com", {"a": 1})
    client.send_to_all("hello", filter="userId eq 'u1'")
    client.grant_permission("sendToGroup", "conn1", target_name="a b")
    client.close_connection("conn1", reason="bye now")
    client.add_user_to_group("g/1", "u 1")
    assert client.group_exists("g.1") is True
    assert len(seen) == 7
    for request in seen:
        candidates = rest_audiences("http", request["host"], request["path"])
        claims = validate_rest_token(_bearer(request), KEY, request_urls=candidates)
        assert claims["aud"] == candidates[0]  # the SDK signs the full URL, query included
        assert claims["exp"] == pytest.approx(time.time() + 60, abs=5)
    # A token is bound to its own request.
    first, second = seen[0], seen[1]
    error = reason_of(
        validate_rest_token, _bearer(first), KEY, request_urls=rest_audiences("http", second["host"], second["path"])
    )
    assert error.reason == "wrong-audience"


def test_sdk_rest_token_failures(recorder) -> None:
    connection_string, seen = recorder
    sdk(connection_string, HUB).send_to_all("x")
    request = seen[0]
    urls = rest_audiences("http", request["host"], request["path"])
    wrong_key = reason_of(validate_rest_token, _bearer(request), OTHER_KEY, request_urls=urls)
    assert wrong_key.reason == "bad-signature"
    expired = reason_of(validate_rest_token, _bearer(request), KEY, request_urls=urls, now=time.time() + 400)
    assert expired.reason == "expired"
    assert validate_rest_token(_bearer(request), KEY, request_urls=urls, now=time.time() + 300)
    assert reason_of(validate_rest_token, None, KEY, request_urls=urls).reason == "missing"


def test_sdk_rest_token_carries_the_user_claim(recorder) -> None:
    connection_string, seen = recorder
    sdk(connection_string, HUB, user="bob").send_to_connection("c1", "x")
    request = seen[0]
    claims = validate_rest_token(
        _bearer(request), KEY, request_urls=rest_audiences("http", request["host"], request["path"])
    )
    assert claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"] == "bob"


@pytest.mark.parametrize(
    "audience_form",
    [
        "{base}{path}",  # Docs: without the query
        "{base}{path}/",  # ... with a trailing slash the request does not have
        "{BASE}{path}?{query}",  # case-insensitive
        "{base}{decoded_path}?{query}",  # signed before percent-encoding (one round of decoding)
        "{base_default_port}{path}?{query}",
    ],
)
def test_rest_audience_forms_other_signers_use(audience_form: str) -> None:
    path, query = "/api/hubs/chat/groups/g%201%2Fx/:send", "excluded=c%201&api-version=2024-12-01"
    audience = audience_form.format(
        base="http://localhost",
        BASE="HTTP://LOCALHOST",
        path=path,
        query=query,
        decoded_path="/api/hubs/chat/groups/g 1/x/:send",
        base_default_port="http://localhost:80",
    )
    token = jwt.encode({"aud": audience, "exp": int(time.time()) + 60}, KEY, algorithm="HS256")
    urls = rest_audiences("http", "localhost", f"{path}?{query}")
    assert validate_rest_token(token, KEY, request_urls=urls)["aud"] == audience


def test_rest_audience_of_another_path_is_refused() -> None:
    token = jwt.encode(
        {"aud": "http://localhost/api/hubs/chat/:send", "exp": int(time.time()) + 60}, KEY, algorithm="HS256"
    )
    urls = rest_audiences("http", "localhost", "/api/hubs/other/:send?api-version=2024-12-01")
    assert reason_of(validate_rest_token, token, KEY, request_urls=urls).reason == "wrong-audience"


def test_rest_audiences_candidates() -> None:
    urls = rest_audiences("http", "h:1", "/api/hubs/chat/users/u/?api-version=1")
    assert urls == ["http://h:1/api/hubs/chat/users/u/?api-version=1", "http://h:1/api/hubs/chat/users/u/"]
    assert rest_audiences("http", "h:1", "/api/health") == ["http://h:1/api/health"]


def test_entra_tokens_are_explained() -> None:
    token = jwt.encode({"aud": ENTRA_AUDIENCE, "exp": int(time.time()) + 60}, OTHER_KEY, algorithm="HS256")
    error = reason_of(validate_rest_token, token, KEY, request_urls=["http://h/api/health"])
    assert error.reason == "wrong-audience" and "Entra" in str(error) and "connection string" in str(error)


# ------------------------------------------------------------------------------------------------------------
# Reconnection tokens


def test_reconnection_token_round_trip_and_failures() -> None:
    now = time.time()
    token = mint_reconnection_token(KEY, "conn-1", now=now)
    assert validate_reconnection_token(token, KEY, "conn-1") is None
    assert token != mint_reconnection_token(KEY, "conn-1", now=now)  # random jti
    assert reason_of(validate_reconnection_token, token, KEY, "conn-2").reason == "wrong-audience"
    assert reason_of(validate_reconnection_token, token, KEY, "CONN-1").reason == "wrong-audience"
    assert reason_of(validate_reconnection_token, token, OTHER_KEY, "conn-1").reason == "bad-signature"
    assert validate_reconnection_token(token, KEY, "conn-1", now=now + 6.9 * 86400) is None
    late = reason_of(validate_reconnection_token, token, KEY, "conn-1", now=now + 7 * 86400 + 1)
    assert late.reason == "expired"
    short = mint_reconnection_token(KEY, "conn-1", now=now, days=1)
    assert reason_of(validate_reconnection_token, short, KEY, "conn-1", now=now + 86401).reason == "expired"
    assert reason_of(validate_reconnection_token, "garbage", KEY, "conn-1").reason == "malformed"


def test_a_client_token_is_not_a_reconnection_token() -> None:
    token, _ = sdk_token()
    error = reason_of(validate_reconnection_token, token, KEY, "conn-1")
    assert error.reason == "invalid-claim"
