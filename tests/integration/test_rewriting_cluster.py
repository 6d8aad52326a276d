"""A cluster that really breaks a promise: a mutating webhook rewrites one field of every StatefulSet.

The webhook is started here (Python, TLS from a CA made for the test, bound to loopback, which
the local apiserver reaches) and registered for StatefulSets created in ordinal's namespaces.
It sets ``spec.minReadySeconds`` to 7 whatever was sent. A conformance test then runs against
that cluster; its failure MUST lead with ``api.spec-rewritten``, naming the field, the value the
test sent and the value the server stored, not with a readiness wait that timed out later.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from junit_cases import cases

from ordinal.kube.rest import Kube, Resource
from ordinal.labels import RUN_LABEL

ROOT = Path(__file__).resolve().parents[2]
WEBHOOKS = Resource(
    "admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", namespaced=False
)
CONFIG_NAME = "ordinal-test-rewrites-min-ready"
REWRITTEN = 7
TEST = "conformance/test_identity.py::test_pods_carry_their_ordinal_identity"


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, signer: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Rewriter(BaseHTTPRequestHandler):
    """Answers AdmissionReviews: every StatefulSet CREATE gets ``spec.minReadySeconds`` = 7."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        request = review["request"]
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        if request["kind"]["kind"] == "StatefulSet" and request["operation"] == "CREATE":
            patch = [{"op": "add", "path": "/spec/minReadySeconds", "value": REWRITTEN}]
            response |= {"patchType": "JSONPatch", "patch": base64.b64encode(json.dumps(patch).encode()).decode()}
            Rewriter.seen.append(
                f"{request['namespace']}/{request.get('name') or request['object']['metadata']['name']}"
            )
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the apiserver calls often
        return


@pytest.fixture
def rewriting_webhook(kube: Kube, tmp_path: Path) -> Iterator[list[str]]:
    """A mutating webhook on 127.0.0.1 registered for StatefulSets in ordinal's namespaces; removed afterwards."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ordinal-test-webhook-ca", ca_key, None, ca_key)
    cert = _cert("127.0.0.1", key, ca, ca_key)
    (tmp_path / "tls.crt").write_bytes(_pem(cert))
    (tmp_path / "tls.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Rewriter)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="rewriting-webhook", daemon=True)
    thread.start()
    Rewriter.seen = []
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": CONFIG_NAME},
        "webhooks": [
            {
                "name": "rewrite-min-ready.ordinal.test",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{server.server_address[1]}/mutate",
                    "caBundle": base64.b64encode(_pem(ca)).decode(),
                },
                "rules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["statefulsets"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {"matchExpressions": [{"key": RUN_LABEL, "operator": "Exists"}]},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }
        ],
    }
    try:
        kube.create(WEBHOOKS, config)
        yield Rewriter.seen
    finally:
        kube.delete(WEBHOOKS, CONFIG_NAME)  # missing_ok: gone already is fine
        server.shutdown()
        server.server_close()


def test_a_field_rewritten_by_a_webhook_is_the_first_line_of_the_failure(
    local_cluster: dict[str, Any], rewriting_webhook: list[str], kube: Kube, tmp_path: Path
) -> None:
    """The suite MUST fail on a cluster that rewrites what it was sent, first line: field, sent, stored."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDINAL_") or k == "ORDINAL_CLUSTER_DIR"}
    env |= {"KUBECONFIG": local_cluster["kubeconfig"], "ORDINAL_DNS": f"direct:{local_cluster['dns']}"}
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", TEST, f"--junitxml={junit}", "-q"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = done.stdout[-4000:] + done.stderr[-2000:]
    assert rewriting_webhook, f"the webhook was never called for a StatefulSet\n{output}"
    (case,) = cases(junit)
    assert (done.returncode, case.outcome) == (1, "failure"), output
    first = re.sub(r"^[\w.]*InvariantViolated: ", "", case.message).splitlines()[0]
    pattern = (
        r"StatefulSet (?P<ns>\S+)/(?P<name>\S+) as sent: 1 broken promise; first: \[api\.spec-rewritten\] "
        rf"statefulset (?P=ns)/(?P=name) spec\.minReadySeconds: expected 0, saw {REWRITTEN}"
    )
    assert re.fullmatch(pattern, first), first
    print(f"\nfirst line of the failure: {first}")
