"""TLS on the gRPC port: with a certificate configured the server speaks TLS only, and with a
client CA it accepts only clients holding a certificate that CA signed."""

import datetime as dt
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.conftest import Api, own_server
from tests.integration.helpers import ingest, recalled


def _issue(
    name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for ``name`` (and 127.0.0.1), self-signed when no issuer is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    ca = _issue("memoire-test-ca")
    server = _issue("localhost", ca)
    client = _issue("client", ca)
    files = {
        "ca": _pem(ca[0]),
        "server.crt": _pem(server[0]),
        "server.key": _key_pem(server[1]),
        "client.crt": _pem(client[0]),
        "client.key": _key_pem(client[1]),
    }
    paths = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    return paths


def _channel(target: str, pki: dict[str, Path], with_client_cert: bool) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki["client.key"].read_bytes() if with_client_cert else None,
        certificate_chain=pki["client.crt"].read_bytes() if with_client_cert else None,
    )
    return grpc.secure_channel(
        target, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )


def test_with_a_certificate_the_server_speaks_tls_only(loop_thread, embedder, database_url, pki):
    with own_server(
        loop_thread,
        embedder,
        database_url,
        tls_cert_file=str(pki["server.crt"]),
        tls_key_file=str(pki["server.key"]),
    ) as server:
        with _channel(server.target, pki, with_client_cert=False) as channel:
            api = Api(channel, server.new_app_key())
            ingest(api, "u1", "sent over TLS")
            assert [m.content for m in recalled(api, "u1", "TLS")] == ["sent over TLS"]
        with grpc.insecure_channel(server.target) as plain:
            api = Api(plain, server.new_app_key())
            with pytest.raises(grpc.RpcError) as caught:
                api.memory.Recall(pb_recall("u1"), timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_with_a_client_ca_only_clients_it_signed_get_in(loop_thread, embedder, database_url, pki):
    with own_server(
        loop_thread,
        embedder,
        database_url,
        tls_cert_file=str(pki["server.crt"]),
        tls_key_file=str(pki["server.key"]),
        tls_client_ca_file=str(pki["ca"]),
    ) as server:
        with _channel(server.target, pki, with_client_cert=True) as channel:
            ingest(Api(channel, server.new_app_key()), "u1", "mutual TLS")
        with _channel(server.target, pki, with_client_cert=False) as channel:
            with pytest.raises(grpc.RpcError) as caught:
                Api(channel, server.new_app_key()).memory.Recall(pb_recall("u1"), timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_without_its_key_is_refused_at_start(
    loop_thread, embedder, database_url, pki
):
    with (
        pytest.raises(ValueError, match="TLS_KEY_FILE"),
        own_server(loop_thread, embedder, database_url, tls_cert_file=str(pki["server.crt"])),
    ):
        pass


def pb_recall(user: str) -> pb.RecallRequest:
    return pb.RecallRequest(user_id=user, query="anything")
