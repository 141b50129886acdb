"""A loopback OpenID Connect provider: discovery, JWKS, authorize, token (RS256 ID tokens with the
nonce) and userinfo, on 127.0.0.1. It signs in whoever `person` describes, without a form.

`tamper` makes it misbehave the way an attacker or a broken provider would: sign with another
key, name another audience or issuer, echo another nonce, issue an expired token, answer userinfo
about someone else.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "aspora-portal"
CLIENT_SECRET = "loopback-client-secret-for-tests"
KID = "loopback-key-1"


class LoopbackOidcProvider:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.person: dict = {}
        self.tamper: dict = {}
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.seen: list[tuple[str, str, dict]] = []  # (method, path, params)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.seen]

    # --- what the provider says -----------------------------------------------------------------
    def discovery(self) -> dict:
        return {
            "issuer": self.tamper.get("discovery_issuer", self.issuer),
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def id_token(self, *, claims: dict, nonce: str | None) -> str:
        now = int(time.time()) + self.tamper.get("time_offset", 0)
        payload = {
            "iss": self.tamper.get("iss", self.issuer),
            "aud": self.tamper.get("aud", CLIENT_ID),
            "iat": now,
            "exp": now + 300,
            "nonce": self.tamper.get("nonce", nonce),
            **{key: value for key, value in claims.items() if key != "groups"},
            "groups": claims.get("groups", []),
        }
        key = self.attacker_key if self.tamper.get("sign_with_attacker_key") else self.key
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": KID})

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                params = {key: values[0] for key, values in parse_qs(url.query).items()}
                provider.seen.append(("GET", url.path, params))
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, provider.discovery())
                if url.path == "/jwks":
                    return self._json(200, provider.jwks())
                if url.path == "/authorize":
                    return self._authorize(params)
                if url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    claims = provider.access_tokens.get(token)
                    if claims is None:
                        return self._json(401, {"error": "invalid_token"})
                    return self._json(200, {**claims, "sub": provider.tamper.get("userinfo_sub", claims["sub"])})
                return self._json(404, {"error": "not_found"})

            def _authorize(self, params: dict):
                if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
                    return self._json(400, {"error": "invalid_request"})
                redirect = params["redirect_uri"]
                if provider.tamper.get("deny"):
                    query = {"error": "access_denied", "error_description": "The person declined"}
                    query["state"] = params["state"]
                else:
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {
                        "claims": dict(provider.person),
                        "nonce": params.get("nonce"),
                        "redirect_uri": redirect,
                        "challenge": params.get("code_challenge"),
                        "method": params.get("code_challenge_method"),
                    }
                    query = {"code": code, "state": params["state"]}
                self.send_response(302)
                self.send_header("Location", f"{redirect}?{urlencode(query)}")
                self.end_headers()

            def do_POST(self):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length", 0))
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                provider.seen.append(("POST", url.path, {k: v for k, v in form.items() if k != "client_secret"}))
                if url.path != "/token":
                    return self._json(404, {"error": "not_found"})
                if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                    return self._json(401, {"error": "invalid_client"})
                grant = provider.codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return self._json(400, {"error": "invalid_grant"})
                if grant["challenge"]:
                    digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                        return self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                access_token = secrets.token_urlsafe(24)
                provider.access_tokens[access_token] = grant["claims"]
                id_token = provider.id_token(claims=grant["claims"], nonce=grant["nonce"])
                return self._json(
                    200, {"access_token": access_token, "id_token": id_token, "token_type": "Bearer", "expires_in": 300}
                )

        return Handler
