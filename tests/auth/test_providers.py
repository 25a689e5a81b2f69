"""``providers`` in ``auth.py``: Convex-shaped dicts, the typed helpers, and an ``AppLoadError``
naming the entry and the field for anything wrong."""

from __future__ import annotations

from typing import Any

import pytest

import livebase
from livebase.auth.providers import (
    BuiltinProvider,
    CustomJwtProvider,
    OidcProvider,
    builtin,
    custom_jwt,
    oidc,
    parse_providers,
)
from livebase.errors import AppLoadError

JWKS = "https://auth.example.com/.well-known/jwks.json"


def test_convex_shaped_dicts() -> None:
    providers = parse_providers(
        [
            {"domain": "https://accounts.example.com", "applicationID": "web"},
            {"domain": "https://tenant.auth0.com/", "application_id": "mobile"},
            {
                "type": "customJwt",
                "issuer": "https://auth.example.com",
                "jwks": JWKS,
                "algorithm": "ES256",
                "applicationID": "web",
            },
            {"type": "customJwt", "issuer": "x", "jwks": JWKS, "algorithm": "RS256"},
            {"type": "builtin"},
        ]
    )
    assert providers == [
        OidcProvider("https://accounts.example.com", "web"),
        OidcProvider("https://tenant.auth0.com/", "mobile"),
        CustomJwtProvider("https://auth.example.com", JWKS, "ES256", "web"),
        CustomJwtProvider("x", JWKS, "RS256"),
        BuiltinProvider(),
    ]


def test_helpers_build_the_same_dicts_and_objects_pass_through() -> None:
    assert oidc("https://a.example", "app") == {
        "domain": "https://a.example",
        "application_id": "app",
    }
    assert custom_jwt("iss", JWKS, "ES256", "app") == {
        "type": "customJwt",
        "issuer": "iss",
        "jwks": JWKS,
        "algorithm": "ES256",
        "application_id": "app",
    }
    assert builtin() == {"type": "builtin"}
    assert livebase.oidc is oidc and livebase.custom_jwt is custom_jwt
    assert livebase.builtin is builtin
    built = OidcProvider("https://a.example", "app")
    assert parse_providers([oidc("https://a.example", "app"), built, builtin("web")]) == [
        built,
        built,
        BuiltinProvider("web"),
    ]
    assert parse_providers(()) == []
    data = "data:text/plain;charset=utf-8;base64,eyJrZXlzIjogW119"
    assert parse_providers([custom_jwt("iss", data)])[0] == CustomJwtProvider("iss", data, "RS256")


OIDC = {"domain": "https://a.example", "application_id": "app"}
CUSTOM = {"type": "customJwt", "issuer": "iss", "jwks": JWKS, "algorithm": "RS256"}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"domain": "https://a.example"}, "`providers` must be a list"),
        ("https://a.example", "`providers` must be a list"),
        (["https://a.example"], "providers[0] must be a dict"),
        ([OIDC, {"type": "magic"}], "providers[1].type is 'magic'"),
        ([{"application_id": "app"}], "providers[0] has no domain"),
        ([{"domain": "https://a.example"}], "providers[0] has no application_id"),
        (
            [{**OIDC, "application_id": 42}],
            "providers[0].application_id must be a non-empty string, got int",
        ),
        ([{**OIDC, "application_id": " "}], "providers[0].application_id must be a non-empty"),
        (
            [{**OIDC, "domain": "accounts.example.com"}],
            "providers[0].domain must be an http(s) URL",
        ),
        ([{**OIDC, "domain": "ftp://a.example"}], "providers[0].domain must be an http(s) URL"),
        ([{**OIDC, "domain": "https://a.example:port"}], "providers[0].domain must be an http(s)"),
        (
            [{**OIDC, "domain": "https://a.example/?x=1"}],
            "providers[0].domain must not have a query",
        ),
        ([{**OIDC, "applicationId": "app"}], "providers[0] has unknown field 'applicationId'"),
        ([{**OIDC, "applicationID": "app"}], "both application_id and applicationID"),
        ([{**OIDC, "issuer": "x"}], "unknown field 'issuer'; an OIDC provider takes domain"),
        (
            [{**CUSTOM, "algorithm": "HS256"}],
            "providers[0].algorithm is 'HS256'; it must be RS256 or ES256",
        ),
        ([{k: v for k, v in CUSTOM.items() if k != "jwks"}], "providers[0] has no jwks"),
        (
            [{**CUSTOM, "jwks": "/jwks.json"}],
            "providers[0].jwks must be an http(s) URL or a data: URI",
        ),
        ([{**CUSTOM, "jwks": "data:nothing"}], "providers[0].jwks is a data: URI with no data"),
        ([{**CUSTOM, "issuer": None}], "providers[0] has no issuer"),
        ([{"type": "builtin"}, OIDC, {"type": "builtin"}], "providers[2]: a second builtin"),
        ([{"type": "builtin", "domain": "https://a.example"}], "unknown field 'domain'"),
        ([OidcProvider("not a url", "app")], "providers[0].domain must be an http(s) URL"),
        ([CustomJwtProvider("i", JWKS, "PS256")], "providers[0].algorithm is 'PS256'"),  # type: ignore[arg-type]
    ],
)
def test_errors_name_the_entry_and_the_field(value: Any, says: str) -> None:
    with pytest.raises(AppLoadError) as raised:
        parse_providers(value, where="/app/auth.py")
    assert raised.value.message.startswith("/app/auth.py: ")
    assert says in raised.value.message


def test_a_query_is_fine_in_a_key_set_url() -> None:
    url = "https://login.example.com/keys?appid=123"
    assert parse_providers([custom_jwt("iss", url)])[0] == CustomJwtProvider("iss", url, "RS256")
