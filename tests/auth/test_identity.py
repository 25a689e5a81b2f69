"""``Identity``: attributes, custom claims, immutability, and the Convex ``UserIdentity`` wire
form it round-trips through."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from livebase.auth.identity import Identity

CLAIMS: dict[str, Any] = {
    "iss": "https://accounts.example.com",
    "sub": "user-7",
    "aud": "my-app",
    "iat": 1_796_378_400,
    "exp": 1_796_382_000,
    "jti": "token-1",
    "name": "Grace Hopper",
    "given_name": "Grace",
    "email": "grace@example.com",
    "email_verified": True,
    "picture": "https://example.com/grace.png",
    "phone_number_verified": "false",
    "org": "navy",
    "roles": ["admin", "ops"],
    "properties": {"id": "123", "team": {"name": "compilers"}},
}


def test_attributes_and_custom_claims() -> None:
    identity = Identity.from_claims(CLAIMS)
    assert identity.subject == "user-7"
    assert identity.issuer == "https://accounts.example.com"
    assert identity.token_identifier == "https://accounts.example.com|user-7"
    assert identity.name == "Grace Hopper"
    assert identity.email == "grace@example.com"
    assert identity.email_verified is True
    assert identity.picture == "https://example.com/grace.png"
    assert identity.expires_at == 1_796_382_000.0
    assert identity["org"] == "navy" and identity.get("org") == "navy"
    assert identity["roles"] == ["admin", "ops"]
    assert identity["properties.team.name"] == "compilers"
    assert identity.get("missing") is None and identity.get("missing", 0) == 0
    assert "org" in identity and "properties.id" in identity and "nope" not in identity
    with pytest.raises(KeyError):
        identity["properties.nope"]
    assert identity.claims == CLAIMS


def test_absent_standard_claims_are_none() -> None:
    identity = Identity.from_claims({"iss": "https://i.example", "sub": "s"})
    assert (identity.name, identity.email, identity.email_verified, identity.picture) == (
        None,
        None,
        None,
        None,
    )
    assert identity.expires_at is None
    assert identity.to_wire() == {
        "tokenIdentifier": "https://i.example|s",
        "subject": "s",
        "issuer": "https://i.example",
    }


def test_it_is_immutable_and_owns_its_claims() -> None:
    claims = {**CLAIMS, "properties": {"id": "123"}}
    identity = Identity.from_claims(claims)
    claims["org"] = "army"
    claims["properties"]["id"] = "999"
    assert identity["org"] == "navy" and identity["properties.id"] == "123"
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.subject = "someone-else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        identity.claims["sub"] = "someone-else"  # type: ignore[index]
    assert hash(identity) == hash(Identity.from_claims(CLAIMS))
    assert repr(identity) == "Identity('https://accounts.example.com|user-7')"  # no claims


def test_the_wire_form_is_convex_user_identity() -> None:
    wire = Identity.from_claims(CLAIMS).to_wire()
    assert wire == {
        "tokenIdentifier": "https://accounts.example.com|user-7",
        "subject": "user-7",
        "issuer": "https://accounts.example.com",
        "name": "Grace Hopper",
        "givenName": "Grace",
        "email": "grace@example.com",
        "emailVerified": True,
        "pictureUrl": "https://example.com/grace.png",
        "phoneNumberVerified": False,
        "org": "navy",
        "roles": ["admin", "ops"],
        "properties.id": "123",
        "properties.team.name": "compilers",
    }
    # The per-token claims are not part of who the user is: a refreshed token, same identity.
    refreshed = Identity.from_claims({**CLAIMS, "iat": 1_796_390_000, "exp": 1_796_393_600})
    assert refreshed.to_wire() == wire


def test_a_custom_claim_cannot_pose_as_the_identity() -> None:
    claims = {
        "iss": "https://i.example",
        "sub": "s",
        "tokenIdentifier": "https://other.example|admin",
        "subject": "admin",
        "issuer": "https://other.example",
        "pictureUrl": "https://evil.example/x.png",
        "picture": "https://i.example/s.png",
    }
    wire = Identity.from_claims(claims).to_wire()
    assert wire["tokenIdentifier"] == "https://i.example|s"
    assert (wire["subject"], wire["issuer"]) == ("s", "https://i.example")
    assert wire["pictureUrl"] == "https://i.example/s.png"


def test_wire_round_trip() -> None:
    identity = Identity.from_claims(CLAIMS)
    again = Identity.from_wire(identity.to_wire())
    assert again.to_wire() == identity.to_wire()
    assert again.token_identifier == identity.token_identifier
    assert (again.name, again.email, again.email_verified, again.picture) == (
        identity.name,
        identity.email,
        identity.email_verified,
        identity.picture,
    )
    assert again["org"] == "navy" and again["properties.team.name"] == "compilers"


def test_from_wire_as_the_admin_key_passes_it() -> None:
    identity = Identity.from_wire({"subject": "u1", "issuer": "https://i.example", "name": "U"})
    assert identity.token_identifier == "https://i.example|u1"
    assert identity.name == "U"
    with pytest.raises(ValueError, match="tokenIdentifier"):
        Identity.from_wire(
            {"subject": "u1", "issuer": "https://i.example", "tokenIdentifier": "x|admin"}
        )
    with pytest.raises(ValueError, match="subject"):
        Identity.from_wire({"issuer": "https://i.example"})
    with pytest.raises(ValueError, match="object"):
        Identity.from_wire(["not", "a", "dict"])  # type: ignore[arg-type]


def test_from_claims_needs_sub_and_iss() -> None:
    with pytest.raises(ValueError, match="sub"):
        Identity.from_claims({"iss": "https://i.example"})
    with pytest.raises(ValueError, match="iss"):
        Identity.from_claims({"sub": "s", "iss": 7})
