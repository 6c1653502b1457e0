"""The cluster's secrets for `render-cluster`: the CA, the bootstrap token, an admin kubeconfig.

Only `render-cluster` imports this module, and `cryptography` is imported inside the functions,
so no other command pays for it (tests/test_startup.py).

State (`--state DIR`): `ca.crt`, `ca.key` (PEM) and `token`, files 0600. A re-run with the same
directory reuses them, so regenerated node configs still join the cluster the first run built.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path
from typing import Any, NamedTuple

from capi_sysext.errors import InputError, Problem

# kubeadm's bootstrap token format "[a-z0-9]{6}.[a-z0-9]{16}" (token ID . token secret):
# https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/#token-format
TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
CA_VALID_DAYS = 3650  # kubeadm's own CA lifetime is ten years as well
SECRET_MODE = 0o600


class ClusterSecrets(NamedTuple):
    ca_cert_pem: str
    ca_key_pem: str
    token: str

    @property
    def ca_cert_hash(self) -> str:
        return ca_cert_hash(self.ca_cert_pem)


def ca_cert_hash(cert_pem: str) -> str:
    """`sha256:<hex>` over the DER SubjectPublicKeyInfo of the CA certificate: the value kubeadm
    join's `caCertHashes` / --discovery-token-ca-cert-hash pins (RFC 7469 style), see
    https://kubernetes.io/docs/reference/setup-tools/kubeadm/generated/kubeadm_join/"""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def new_token() -> str:
    def part(n: int) -> str:
        return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(n))

    return f"{part(6)}.{part(16)}"


def new_ca(common_name: str = "kubernetes") -> tuple[str, str]:
    """A self-signed CA (cert PEM, key PEM). kubeadm init uses a CA found at
    /etc/kubernetes/pki/ca.{crt,key} instead of creating one ("Use custom certificates",
    https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem


def _check_pair(cert_pem: str, key_pem: str, where: str) -> list[Problem]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    fix = f"restore the files in {where} or point --state at an empty directory"
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except ValueError as exc:
        return [Problem(f"{where}: ca.crt or ca.key is not a PEM certificate/key: {exc}", fix)]
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if cert.public_key().public_bytes(enc, pub) != key.public_key().public_bytes(enc, pub):
        return [Problem(f"{where}: ca.key does not belong to ca.crt", fix)]
    return []


class StateLoad(NamedTuple):
    secrets: ClusterSecrets
    minted: bool  # True: new secrets the caller must save (when it has a state dir)


def load_or_mint(state: Path | None) -> StateLoad:
    """Reuse the secrets in `state` if it holds them; mint new ones otherwise.

    A state dir holding only some of the files is an error, not a partial re-mint: a new CA
    would silently orphan every node that joined the old one.
    """
    if state is not None:
        if not state.is_dir():
            raise InputError(
                [Problem(f"--state {state} is not a directory", "create it (mkdir) first")]
            )
        names = ("ca.crt", "ca.key", "token")
        present = [n for n in names if (state / n).exists()]
        if present and len(present) != len(names):
            missing = ", ".join(n for n in names if n not in present)
            raise InputError(
                [
                    Problem(
                        f"--state {state} is incomplete: {missing} missing",
                        "restore the missing files, or use an empty --state directory "
                        "for a new cluster",
                    )
                ]
            )
        if present:
            cert, key = ((state / n).read_text() for n in ("ca.crt", "ca.key"))
            token = (state / "token").read_text().strip()
            problems = _check_pair(cert, key, str(state))
            if not TOKEN_RE.match(token):
                problems.append(
                    Problem(
                        f"{state}/token is not a bootstrap token ([a-z0-9]{{6}}.[a-z0-9]{{16}})",
                        "restore it, or use an empty --state directory for a new cluster",
                    )
                )
            if problems:
                raise InputError(problems)
            return StateLoad(ClusterSecrets(cert, key, token), minted=False)
    cert, key = new_ca()
    return StateLoad(ClusterSecrets(cert, key, new_token()), minted=True)


def state_files(s: ClusterSecrets) -> dict[str, str]:
    return {"ca.crt": s.ca_cert_pem, "ca.key": s.ca_key_pem, "token": s.token + "\n"}


def admin_kubeconfig(s: ClusterSecrets, cluster_name: str, server: str) -> dict[str, Any]:
    """A kubeconfig for a client certificate in group system:masters (O=system:masters), the
    group kubeadm's own admin.conf used before 1.29 and its super-admin.conf uses since
    (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles,
    https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/)."""
    import base64
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(s.ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(s.ca_key_pem.encode(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, "capi-sysext-admin"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    user = f"{cluster_name}-admin"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": b64(s.ca_cert_pem.encode()),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(cert.public_bytes(serialization.Encoding.PEM)),
                    "client-key-data": b64(
                        key.private_bytes(
                            serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption(),
                        )
                    ),
                },
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": user,
    }
