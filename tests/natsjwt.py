"""NATS JWTs for operator-mode tests: an operator, accounts and users, each
with a fresh nkey, signed with Ed25519 the way the Go server checks them
(header `{"typ":"JWT","alg":"ed25519-nkey"}`, base64url without padding,
the signature over `header.claims`), and `.creds` files for the users."""

import base64
import json
import os
import time

import nkeys


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Key:
    """A fresh nkey of the given kind ("O" operator, "A" account, "U" user)."""

    PREFIX = {"O": nkeys.PREFIX_BYTE_OPERATOR, "A": nkeys.PREFIX_BYTE_ACCOUNT, "U": nkeys.PREFIX_BYTE_USER}

    def __init__(self, kind):
        self.seed = nkeys.encode_seed(os.urandom(32), self.PREFIX[kind])
        self.pair = nkeys.from_seed(bytearray(self.seed))
        self.public = self.pair.public_key.decode()

    def sign(self, data):
        return self.pair.sign(data)


def _jwt(issuer, subject, name, nats):
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    claims = {"jti": _b64(os.urandom(16)).upper(), "iat": int(time.time()), "iss": issuer.public,
              "name": name, "sub": subject.public, "nats": nats}
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = ("%s.%s" % (header, body)).encode()
    return "%s.%s.%s" % (header, body, _b64(issuer.sign(signing_input)))


def operator_jwt(op, name="OP"):
    return _jwt(op, op, name, {"type": "operator", "version": 2})


def account_jwt(op, acc, name):
    limits = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
              "wildcards": True, "conn": -1, "leaf": -1}
    return _jwt(op, acc, name, {"limits": limits, "default_permissions": {"pub": {}, "sub": {}},
                                "type": "account", "version": 2})


def user_jwt(acc, user, name):
    return _jwt(acc, user, name, {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                                  "type": "user", "version": 2})


def creds_text(jwt, user):
    return ("-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n\n"
            "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n"
            % (jwt, user.seed.decode()))


class Operator:
    """An operator with a system account and accounts made on demand;
    ``config()`` is the server configuration that trusts them
    (`resolver: MEMORY` with every account preloaded)."""

    def __init__(self):
        self.key = Key("O")
        self.jwt = operator_jwt(self.key)
        self.accounts = {}
        self.system = self.account("SYS")

    def account(self, name):
        if name not in self.accounts:
            k = Key("A")
            self.accounts[name] = (k, account_jwt(self.key, k, name))
        return self.accounts[name][0]

    def user(self, account, name):
        """(user key, user JWT) of a new user of ``account``."""
        u = Key("U")
        return u, user_jwt(self.account(account), u, name)

    def config(self):
        preload = "\n".join('  %s: "%s"' % (k.public, j) for k, j in self.accounts.values())
        return ('operator: "%s"\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n%s\n}\n'
                % (self.jwt, self.system.public, preload))
