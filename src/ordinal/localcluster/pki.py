"""Certificates, keys and kubeconfigs for the local cluster, made fresh on every ``up``.

One CA signs the apiserver's serving certificate and a client certificate per identity;
RBAC then sees real users (``system:kube-controller-manager``, ``system:kube-scheduler``,
the add-ons' own names) instead of one all-powerful token.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Identity:
    """A client identity: a kubeconfig is written for each."""

    name: str  # file stem
    user: str  # certificate CN
    groups: tuple[str, ...] = ()


IDENTITIES = (
    Identity("admin", "ordinal-admin", ("system:masters",)),
    Identity("controller-manager", "system:kube-controller-manager"),
    Identity("scheduler", "system:kube-scheduler"),
    Identity("coredns", "ordinal:coredns"),
    Identity("kwok", "ordinal:kwok", ("ordinal:addons",)),
    Identity("provisioner", "ordinal:provisioner", ("ordinal:addons",)),
    Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)),
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: Key) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _sign(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    *,
    server_names: tuple[str, ...] = (),
    server_ips: tuple[str, ...] = (),
    client: bool = True,
) -> x509.Certificate:
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    if server_names or server_ips:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if server_names or server_ips:
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
        alt += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_pki(
    pki: Path,
    *,
    apiserver_ips: tuple[str, ...],
    apiserver_url: str,
    extra: tuple[Identity, ...] = (),
    cluster_domain: str = "cluster.local",
) -> None:
    """Write CA, serving certs, client certs, the ServiceAccount key pair and one kubeconfig per identity.

    ``extra`` adds identities beyond :data:`IDENTITIES` (a real node's kubelet, kube-proxy).
    """
    pki.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("ordinal-local-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki / "ca.key", ca_key)
    _write_cert(pki / "ca.crt", ca_cert)

    names = (
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{cluster_domain}",
    )
    key = _key()
    _write_key(pki / "apiserver.key", key)
    _write_cert(
        pki / "apiserver.crt",
        _sign(ca_cert, ca_key, _name("kube-apiserver"), key, server_names=names, server_ips=apiserver_ips),
    )
    # ServiceAccount token signing: RSA, as every consumer of the issuer's JWKS supports it.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki / "sa.key", sa_key)
    (pki / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for ident in (*IDENTITIES, *extra):
        key = _key()
        cert = _sign(ca_cert, ca_key, _name(ident.user, ident.groups), key)
        _write_key(pki / f"{ident.name}.key", key)
        _write_cert(pki / f"{ident.name}.crt", cert)
        write_kubeconfig(
            pki / f"{ident.name}.kubeconfig",
            server=apiserver_url,
            ca=pki / "ca.crt",
            cert=pki / f"{ident.name}.crt",
            key=pki / f"{ident.name}.key",
            user=ident.name,
        )


CONTEXT = "ordinal-local"


def write_kubeconfig(path: Path, *, server: str, ca: Path, cert: Path, key: Path, user: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def write_token_kubeconfig(path: Path, *, server: str, ca: Path, token: str, user: str) -> None:
    """A kubeconfig that authenticates with a bearer token (a ServiceAccount's), as CI identities do."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
