"""Object stores on 127.0.0.1 that the real Run:ai Model Streamer reads, as vLLM does.

Each store is a context manager: entering starts its server on 127.0.0.1 (a free port),
leaving stops it. `upload({relative path: bytes}, prefix)` puts files under the store's
bucket and returns the model's URI as vLLM takes it (`s3://`, `gs://`, `az://`), and the
`env...` methods give the environment a pod carries to reach the store - the only way the
streamer is configured here. `mounts()` names files the pod must have mounted (the CA
bundle, for stores reached under the clouds' own host names); `pod_argv` runs a command
with them.

- `S3Store`: moto's server in a subprocess. Right after it starts, an IAM user, its access
  key and a policy allowing s3:* are created, then moto's auth is switched on
  (`/moto-api/reset-auth`): every later request must be signed with that key.
- `GcsStore`: a small Cloud Storage of our own - JSON API with ranged media reads, the
  OAuth token endpoint of service-account keys, and the XML API with HMAC keys (`s3://`).
  Every request must carry a credential it can check: a token it issued, a JWT signed by
  a service-account key it made, or a SigV4 signature of one of its HMAC keys. It is
  reached at an emulator endpoint (env only), or as storage.googleapis.com through a
  `TlsInterceptor` - the only way google-cloud-cpp (the C++ reader) uses Application
  Default Credentials: it reads anonymously whenever CLOUD_STORAGE_EMULATOR_ENDPOINT is
  set, unless RUNAI_STREAMER_GCS_CREDENTIAL_FILE names a key. `GceMetadataServer` is GKE's
  metadata server (Workload Identity); its tokens are tokens of the store.
- `AzureStore`: Azurite (installed from npm into ~/.cache/krmfn/azurite) as
  `<account>.blob.core.windows.net` through a `TlsInterceptor` - the C++ reader only
  builds `https://<AZURE_STORAGE_ACCOUNT_NAME>.<AZURE_STORAGE_ENDPOINT_SUFFIX>` - with a
  login.microsoftonline.com of one tenant for DefaultAzureCredential (client secret, or
  AKS Workload Identity's federated token).
- `TlsInterceptor`: the pod's HTTPS_PROXY, answering the clouds' host names with
  certificates of a CA of its own, which the pod trusts through the mounted bundle.

Only the Python standard library at import; the clients (boto3, cryptography, ...) are
imported where used, from the runtime venv.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, cast
from xml.sax.saxutils import escape

LOCALHOST = "127.0.0.1"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
AZURE_LOGIN_HOST = "login.microsoftonline.com"
# Azurite is installed here with npm on first use, outside the repository.
AZURITE_PREFIX = Path(os.environ.get("KRMFN_AZURITE_PREFIX", "~/.cache/krmfn/azurite")).expanduser()
AZURITE_VERSION = "3.35.0"


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now (for servers that cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Until something accepts connections on the port; raises if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((LOCALHOST, port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {LOCALHOST}:{port} after {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _join(prefix: str, name: str) -> str:
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


class Unavailable(RuntimeError):
    """A tool a store needs (npm, bwrap) is missing here."""


# Where a pod's image keeps the CA bundle that OpenSSL/libcurl read (Debian, Ubuntu).
POD_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def pod_argv(argv: list[str], mounts: Mapping[str, Path]) -> list[str]:
    """`argv` with files mounted over paths of the filesystem, as a pod's volumes would
    be (bubblewrap: the host's root, with each mount bound read-only on top)."""
    if not mounts:
        return list(argv)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise Unavailable("bwrap (bubblewrap) is needed to mount the stand-in CA bundle")
    binds = [arg for path, host in mounts.items() for arg in ("--ro-bind", str(host), path)]
    return [bwrap, "--die-with-parent", "--dev-bind", "/", "/", *binds, "--", *argv]


# --------------------------------------------------------------------------------------
# The clouds' own host names: a CONNECT proxy with a CA of its own
# --------------------------------------------------------------------------------------


class TlsInterceptor:
    """The pod's HTTPS_PROXY, answering CONNECT for the clouds' real host names itself.

    The C++ readers of the streamer have no endpoint setting for Azure (and reach Cloud
    Storage's ADC only without an emulator endpoint), but libcurl follows HTTPS_PROXY.
    Hosts are routed either to a handler, on a TLS connection made here with a
    certificate of `ca_pem` for that host, or tunnelled unopened to a local port (a
    server holding a `certificate()` of its own). A pod trusts the CA the way pods with
    a private CA do: the bundle mounted over the image's (`mounts()`, read by libcurl
    and OpenSSL) and REQUESTS_CA_BUNDLE for Python's requests.
    """

    SYSTEM_BUNDLE = Path(POD_CA_BUNDLE)

    def __init__(self) -> None:
        self.connects: list[str] = []
        self._routes: dict[str, Any] = {}
        self._dir: Path | None = None
        self._listener: socket.socket | None = None
        self._ca: tuple[Any, Any] | None = None
        self._contexts: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    # -- certificates -------------------------------------------------------------------

    @property
    def ca_pem(self) -> Path:
        assert self._dir is not None, "enter the interceptor first"
        return self._dir / "ca.pem"

    @property
    def bundle(self) -> Path:
        """The image's CA bundle with the interceptor's CA appended."""
        assert self._dir is not None, "enter the interceptor first"
        return self._dir / "ca-certificates.crt"

    def certificate(self, *hosts: str) -> tuple[Path, Path]:
        """(certificate chain, key) PEM files for these host names (or IP addresses)."""
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        assert self._dir is not None and self._ca is not None, "enter the interceptor first"
        ca_cert, ca_key = self._ca
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        stem = self._dir / f"{secrets.token_hex(4)}-{hosts[0].replace('*', '_')}"
        chain, private = stem.with_suffix(".pem"), stem.with_suffix(".key")
        chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return chain, private

    def _make_ca(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "krmfn stand-in CA")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        self._ca = (cert, key)
        pem = cert.public_bytes(serialization.Encoding.PEM)
        self.ca_pem.write_bytes(pem)
        system = self.SYSTEM_BUNDLE.read_bytes() if self.SYSTEM_BUNDLE.exists() else b""
        self.bundle.write_bytes(system + b"\n" + pem)

    def _context(self, host: str) -> Any:
        import ssl

        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                chain, key = self.certificate(host)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(chain, key)
                self._contexts[host] = context
            return context

    # -- routes -------------------------------------------------------------------------

    def handle(self, host: str, handler: Any) -> None:
        """Answer `host` (fnmatch pattern) here: `handler(tls_socket)` serves the connection.
        The latest route of a host wins; `drop` removes it."""
        with self._lock:
            self._routes.pop(host, None)
            self._routes[host] = handler

    def tunnel(self, host: str, port: int) -> None:
        """Pass `host`'s connections unopened to 127.0.0.1:`port` (a TLS server)."""
        with self._lock:
            self._routes.pop(host, None)
            self._routes[host] = port

    def drop(self, host: str, target: Any = None) -> None:
        """Stop routing `host` (only if it still goes to `target`, when given)."""
        with self._lock:
            if target is None or self._routes.get(host) == target:
                self._routes.pop(host, None)

    # -- server -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._listener is not None, "enter the interceptor first"
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> TlsInterceptor:
        import tempfile

        self._dir = Path(tempfile.mkdtemp(prefix="krmfn-tls-"))
        self._make_ca()
        self._listener = socket.socket()
        self._listener.bind((LOCALHOST, 0))
        self._listener.listen(64)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def env(self) -> dict[str, str]:
        proxy = f"http://{LOCALHOST}:{self.port}"
        local = f"{LOCALHOST},localhost"
        return {
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "NO_PROXY": local,
            "no_proxy": local,
            # Python's requests trusts certifi's bundle, not the image's, unless told.
            "REQUESTS_CA_BUNDLE": POD_CA_BUNDLE,
        }

    def mounts(self) -> dict[str, Path]:
        return {POD_CA_BUNDLE: self.bundle}

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        import fnmatch

        with self._lock:
            self._open.add(conn)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
            host = target.rsplit(":", 1)[0].lower()
            self.connects.append(f"{method} {target}")
            with self._lock:
                routes = list(self._routes.items())
            route = next(
                (to for pattern, to in reversed(routes) if fnmatch.fnmatch(host, pattern)), None
            )
            if method != "CONNECT" or route is None:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if isinstance(route, int):
                self._pipe(conn, socket.create_connection((LOCALHOST, route)))
                return
            tls = self._context(host).wrap_socket(conn, server_side=True)
            with self._lock:
                self._open.add(tls)
            route(tls)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        with self._lock:
            self._open.add(b)

        def copy(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=copy, args=(b, a), daemon=True)
        other.start()
        copy(a, b)
        other.join()
        with self._lock:
            self._open.discard(b)
        b.close()


# --------------------------------------------------------------------------------------
# S3: moto
# --------------------------------------------------------------------------------------


class S3Store:
    """moto's S3 in a subprocess, refusing any request not signed with `access_key_id`."""

    def __init__(self, bucket: str = "models", region: str = "us-east-1") -> None:
        self.bucket = bucket
        self.region = region
        self.port = 0
        self.access_key_id = ""
        self.secret_access_key = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def __enter__(self) -> S3Store:
        import boto3  # imported here: only the runtime venv has it

        self.port = free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOCALHOST, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, self._process, 30)
            # moto accepts anything until auth is switched on: make the user and its key.
            anyone = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
            iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=self.region, **anyone)
            iam.create_user(UserName="model-loader")
            key = iam.create_access_key(UserName="model-loader")["AccessKey"]
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
            iam.put_user_policy(
                UserName="model-loader", PolicyName="s3", PolicyDocument=json.dumps(policy)
            )
            self.access_key_id = key["AccessKeyId"]
            self.secret_access_key = key["SecretAccessKey"]
            # From now on every request needs a valid signature of a known key.
            request = urllib.request.Request(
                f"{self.endpoint}/moto-api/reset-auth",
                data=b"0",
                method="POST",
                headers={"Content-Type": "text/plain"},
            )
            urllib.request.urlopen(request, timeout=10).close()
            bucket_args: dict[str, Any] = {"Bucket": self.bucket}
            if self.region != "us-east-1":
                bucket_args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            self._client().create_bucket(**bucket_args)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            _stop(self._process)
            self._process = None

    def _client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def upload(self, files: Mapping[str, bytes], prefix: str = "") -> str:
        """Puts each file at `prefix/relative path` of the bucket; returns `uri(prefix)`."""
        client = self._client()
        for name, data in files.items():
            client.put_object(Bucket=self.bucket, Key=_join(prefix, name), Body=data)
        return self.uri(prefix)

    def uri(self, prefix: str = "") -> str:
        return f"s3://{self.bucket}/{prefix.strip('/')}"

    def env(
        self,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
    ) -> dict[str, str]:
        """The pod env of an S3-compatible endpoint with static keys (the store's own by
        default; pass others to be refused)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id if access_key_id is None else access_key_id,
            "AWS_SECRET_ACCESS_KEY": (
                self.secret_access_key if secret_access_key is None else secret_access_key
            ),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": region or self.region,
            # A local endpoint has no virtual-hosted bucket names.
            "RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING": "0",
            # No instance metadata to ask for credentials off EC2.
            "AWS_EC2_METADATA_DISABLED": "true",
        }


# --------------------------------------------------------------------------------------
# Cloud Storage: our own server (JSON API, XML API with HMAC, OAuth) and a metadata server
# --------------------------------------------------------------------------------------


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class ServiceAccountKey:
    """A service account of the store with a key of its own: `json_key()` is the file
    `gcloud iam service-accounts keys create` would give, its `token_uri` the store's."""

    email: str
    key_id: str
    private_key_pem: str
    public_key: Any
    token_uri: str
    project: str

    def json_key(self) -> str:
        return json.dumps(
            {
                "type": "service_account",
                "project_id": self.project,
                "private_key_id": self.key_id,
                "private_key": self.private_key_pem,
                "client_email": self.email,
                "client_id": "100000000000000000001",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": self.token_uri,
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "universe_domain": "googleapis.com",
            },
            indent=2,
        )

    def write(self, path: Path) -> Path:
        path.write_text(self.json_key())
        path.chmod(0o600)
        return path


@dataclass
class HmacKey:
    access_id: str
    secret: str


@dataclass
class Request:
    """One request the store answered: what was asked and which credential it carried
    (`auth`: token:metadata, token:oauth, jwt:self-signed, jwt:assertion, hmac; refused
    for a bearer credential it does not know, none without any) and the status answered."""

    method: str
    path: str
    auth: str
    status: int


@dataclass
class _GcsState:
    project: str
    buckets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> how it was issued
    keys: dict[str, ServiceAccountKey] = field(default_factory=dict)  # by key id
    hmac_keys: dict[str, HmacKey] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_token(self, how: str) -> str:
        token = "ya29.local-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = how
        return token


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _verify_jwt(state: _GcsState, token: str, audience: str | None) -> ServiceAccountKey:
    """The service-account key that signed this RS256 JWT (a self-signed access token, or
    the assertion of an OAuth token request); raises _Refused otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        head = json.loads(_b64url_decode(head_b64))
        body = json.loads(_b64url_decode(body_b64))
        signature = _b64url_decode(sig_b64)
    except ValueError as error:
        raise _Refused(401, "authError", f"not a JWT: {error}") from error
    key = state.keys.get(head.get("kid", ""))
    if key is None or head.get("alg") != "RS256":
        raise _Refused(401, "authError", f"unknown key id {head.get('kid')!r}")
    try:
        key.public_key.verify(
            signature, f"{head_b64}.{body_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature as error:
        raise _Refused(401, "authError", "bad JWT signature") from error
    if body.get("iss") != key.email:
        raise _Refused(401, "authError", f"JWT issuer {body.get('iss')!r} is not {key.email}")
    if float(body.get("exp", 0)) < time.time():
        raise _Refused(401, "authError", "JWT expired")
    if audience is not None and body.get("aud") not in (audience, GOOGLE_TOKEN_URI):
        raise _Refused(401, "authError", f"JWT audience {body.get('aud')!r} is not {audience}")
    return key


def _sigv4_check(state: _GcsState, handler: BaseHTTPRequestHandler) -> HmacKey:
    """The HMAC key whose AWS SigV4 signature this request carries; raises _Refused."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise _Refused(403, "AccessDenied", "Anonymous caller does not have storage.objects.get")
    fields = dict(
        part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    access_id, date, region, service, terminal = fields["Credential"].split("/")
    key = state.hmac_keys.get(access_id)
    if key is None:
        raise _Refused(403, "InvalidAccessKeyId", "The access key is not known")
    raw_path, _, raw_query = handler.path.partition("?")
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        name, _, value = item.partition("=")
        pairs.append(
            (
                urllib.parse.quote(urllib.parse.unquote_plus(name), safe="-_.~"),
                urllib.parse.quote(urllib.parse.unquote_plus(value), safe="-_.~"),
            )
        )
    signed = fields["SignedHeaders"].split(";")
    headers = "".join(
        f"{name}:{' '.join((handler.headers.get(name) or '').split())}\n" for name in signed
    )
    canonical = "\n".join(
        [
            handler.command,
            raw_path,
            "&".join(f"{n}={v}" for n, v in sorted(pairs)),
            headers,
            fields["SignedHeaders"],
            handler.headers.get("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ]
    )
    scope = f"{date}/{region}/{service}/{terminal}"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            handler.headers.get("x-amz-date", ""),
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    signing = ("AWS4" + key.secret).encode()
    for part in (date, region, service, terminal):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        raise _Refused(403, "SignatureDoesNotMatch", "The request signature does not match")
    return key


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a `Range: bytes=...` header, None for the whole object."""
    if not header or not header.startswith("bytes="):
        return None
    first_text, _, last_text = header[len("bytes=") :].split(",")[0].strip().partition("-")
    if first_text == "":
        first, last = max(size - int(last_text), 0), size - 1
    else:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        raise _Refused(416, "invalid", f"range {header} of {size} bytes")
    return first, last


class _GcsHandler(BaseHTTPRequestHandler):
    server: _GcsServer
    protocol_version = "HTTP/1.1"
    auth = "none"  # the credential of the request being answered, as Request.auth

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing -----------------------------------------------------------------------

    @property
    def state(self) -> _GcsState:
        return self.server.state

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # Recorded before the client can see the answer (and a test read the record).
        with self.state.lock:
            self.state.requests.append(Request(self.command, self.path, self.auth, status))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode())

    def _bearer(self) -> str:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise _Refused(401, "required", "Anonymous caller does not have storage access")
        token = auth[len("Bearer ") :].strip()
        how = self.state.tokens.get(token)
        if how is not None:
            return f"token:{how}"
        if token.count(".") == 2:
            _verify_jwt(self.state, token, None)
            return "jwt:self-signed"
        raise _Refused(401, "authError", "Invalid Credentials")

    def _bucket(self, name: str) -> dict[str, bytes]:
        bucket = self.state.buckets.get(name)
        if bucket is None:
            raise _Refused(404, "notFound", f"The specified bucket does not exist: {name}")
        return bucket

    # -- verbs --------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        if self.path.startswith(("http://", "https://")):
            # The AWS CRT client (the S3 reader) sends the absolute form, as to a proxy.
            self.path = "/" + self.path.split("://", 1)[1].partition("/")[2]
        path, _, query_text = self.path.partition("?")
        query = dict(urllib.parse.parse_qsl(query_text, keep_blank_values=True))
        xml = not (path.startswith(("/storage/v1/", "/download/storage/v1/")) or path == "/token")
        self.auth = "none"
        try:
            if self.command == "POST" and path == "/token":
                self.auth = "jwt:assertion"
                self._token()
                return
            if xml:
                self.auth = "hmac"
                _sigv4_check(self.state, self)
                self._xml(path, query)
            else:
                self.auth = "refused" if self.headers.get("Authorization") else "none"
                self.auth = self._bearer()
                self._json_api(path, query)
        except _Refused as refused:
            if xml:
                body = (
                    f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{refused.code}</Code>"
                    f"<Message>{escape(refused.message)}</Message></Error>"
                )
                self._send(refused.status, body.encode(), "application/xml")
            else:
                error = {"code": refused.status, "message": refused.message}
                self._json(
                    refused.status,
                    {
                        "error": {
                            **error,
                            "errors": [{**error, "reason": refused.code, "domain": "global"}],
                        }
                    },
                )

    # -- OAuth: the token_uri of the service-account keys ---------------------------------

    def _token(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        try:
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                raise _Refused(400, "unsupported_grant_type", str(form.get("grant_type")))
            # google-auth signs for Google's own token URI whatever the key file says.
            token_uri = f"http://{LOCALHOST}:{self.server.server_address[1]}/token"
            _verify_jwt(self.state, form.get("assertion", ""), token_uri)
        except _Refused as refused:
            self._json(400, {"error": "invalid_grant", "error_description": refused.message})
            return
        token = self.state.issue_token("oauth")
        self._json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    # -- JSON API -------------------------------------------------------------------------

    def _resource(self, bucket: str, name: str, data: bytes) -> dict[str, Any]:
        stamp = "2025-01-01T00:00:00.000Z"
        return {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/1",
            "selfLink": f"http://{LOCALHOST}:{self.server.server_address[1]}/storage/v1/b/"
            f"{bucket}/o/{urllib.parse.quote(name, safe='')}",
            "name": name,
            "bucket": bucket,
            "generation": "1",
            "metageneration": "1",
            "contentType": "application/octet-stream",
            "storageClass": "STANDARD",
            "size": str(len(data)),
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "crc32c": _crc32c(data),
            "etag": "CAE=",
            "timeCreated": stamp,
            "updated": stamp,
        }

    def _json_api(self, path: str, query: dict[str, str]) -> None:
        media = path.startswith("/download/")
        parts = path.removeprefix("/download").removeprefix("/storage/v1/").split("/")
        if len(parts) < 2 or parts[0] != "b":
            raise _Refused(404, "notFound", f"no such API: {path}")
        bucket_name = urllib.parse.unquote(parts[1])
        bucket = self._bucket(bucket_name)
        if len(parts) == 2:
            self._json(
                200,
                {
                    "kind": "storage#bucket",
                    "id": bucket_name,
                    "name": bucket_name,
                    "projectNumber": "1",
                    "location": "US",
                    "storageClass": "STANDARD",
                    "etag": "CAE=",
                    "timeCreated": "2025-01-01T00:00:00.000Z",
                    "updated": "2025-01-01T00:00:00.000Z",
                    "metageneration": "1",
                },
            )
            return
        if parts[2] != "o":
            raise _Refused(404, "notFound", f"no such API: {path}")
        if len(parts) == 3:
            self._list(bucket_name, bucket, query)
            return
        name = urllib.parse.unquote("/".join(parts[3:]))
        data = bucket.get(name)
        if data is None:
            raise _Refused(404, "notFound", f"No such object: {bucket_name}/{name}")
        if media or query.get("alt") == "media":
            self._media(
                data,
                {
                    "x-goog-generation": "1",
                    "x-goog-metageneration": "1",
                    "x-goog-stored-content-length": str(len(data)),
                    "x-goog-stored-content-encoding": "identity",
                },
            )
            return
        self._json(200, self._resource(bucket_name, name, data))

    def _list(self, bucket_name: str, bucket: dict[str, bytes], query: dict[str, str]) -> None:
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        names = sorted(n for n in bucket if n.startswith(prefix))
        items: list[str] = []
        prefixes: set[str] = set()
        for name in names:
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
            else:
                items.append(name)
        start = int(query.get("pageToken") or 0)
        size = int(query.get("maxResults") or 1000)
        page = items[start : start + size]
        listing: dict[str, Any] = {
            "kind": "storage#objects",
            "items": [self._resource(bucket_name, n, bucket[n]) for n in page],
        }
        if prefixes and start == 0:
            listing["prefixes"] = sorted(prefixes)
        if start + size < len(items):
            listing["nextPageToken"] = str(start + size)
        self._json(200, listing)

    def _media(self, data: bytes, headers: dict[str, str]) -> None:
        span = _byte_range(self.headers.get("Range"), len(data))
        if span is None:
            hashes = f"crc32c={_crc32c(data)},md5={base64.b64encode(hashlib.md5(data).digest()).decode()}"
            self._send(
                200,
                data,
                "application/octet-stream",
                {**headers, "x-goog-hash": hashes, "Accept-Ranges": "bytes"},
            )
            return
        first, last = span
        self._send(
            206,
            data[first : last + 1],
            "application/octet-stream",
            {
                **headers,
                "Content-Range": f"bytes {first}-{last}/{len(data)}",
                "Accept-Ranges": "bytes",
            },
        )

    # -- XML API (S3-compatible, HMAC keys) ---------------------------------------------

    def _xml(self, path: str, query: dict[str, str]) -> None:
        bucket_name, _, key = urllib.parse.unquote(path.lstrip("/")).partition("/")
        bucket = self._bucket(bucket_name)
        if not key:
            self._xml_list(bucket_name, bucket, query)
            return
        data = bucket.get(key)
        if data is None:
            raise _Refused(404, "NoSuchKey", f"The specified key does not exist: {key}")
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        self._media(
            data,
            {
                "ETag": etag,
                "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT",
                "x-goog-generation": "1",
            },
        )

    def _xml_list(self, bucket_name: str, bucket: dict[str, bytes], query: dict[str, str]) -> None:
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        url = query.get("encoding-type") == "url"

        def enc(text: str) -> str:
            return escape(urllib.parse.quote(text, safe="/") if url else text)

        contents, prefixes = [], set()
        for name in sorted(n for n in bucket if n.startswith(prefix)):
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
                continue
            data = bucket[name]
            contents.append(
                f"<Contents><Key>{enc(name)}</Key><LastModified>2025-01-01T00:00:00.000Z"
                f'</LastModified><ETag>"{hashlib.md5(data).hexdigest()}"</ETag>'
                f"<Size>{len(data)}</Size><StorageClass>STANDARD</StorageClass></Contents>"
            )
        common = "".join(
            f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in sorted(prefixes)
        )
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            "<ListBucketResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'>"
            f"<Name>{escape(bucket_name)}</Name><Prefix>{enc(prefix)}</Prefix>"
            f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>1000</MaxKeys>"
            + (f"<Delimiter>{enc(delimiter)}</Delimiter>" if delimiter else "")
            + ("<EncodingType>url</EncodingType>" if url else "")
            + "<IsTruncated>false</IsTruncated>"
            + "".join(contents)
            + common
            + "</ListBucketResult>"
        )
        self._send(200, body.encode(), "application/xml")


def _crc32c(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


class _GcsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _GcsState) -> None:
        super().__init__((LOCALHOST, 0), _GcsHandler)
        self.state = state


class GcsStore:
    """A Cloud Storage bucket on 127.0.0.1 that checks every credential it is shown.

    Reached one of two ways. Without `proxy`, through the emulator settings of the two
    clients: STORAGE_EMULATOR_HOST (google-cloud-storage, the listing and pull_files) and
    CLOUD_STORAGE_EMULATOR_ENDPOINT (google-cloud-cpp, the tensor reads). With `proxy`, as
    storage.googleapis.com and oauth2.googleapis.com themselves, with no endpoint setting
    at all - the only way google-cloud-cpp uses Application Default Credentials (it goes
    anonymous whenever the emulator variable is set).
    """

    GOOGLE_HOSTS = ("storage.googleapis.com", "oauth2.googleapis.com")

    def __init__(
        self,
        bucket: str = "models",
        project: str = "krmfn-test",
        proxy: TlsInterceptor | None = None,
    ) -> None:
        self.bucket = bucket
        self.project = project
        self.proxy = proxy
        self._state = _GcsState(project=project, buckets={bucket: {}})
        self._server: _GcsServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "enter the store first"
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """Where the store listens (the emulator endpoint)."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def token_uri(self) -> str:
        return GOOGLE_TOKEN_URI if self.proxy is not None else f"{self.endpoint}/token"

    @property
    def requests(self) -> list[Request]:
        with self._state.lock:
            return list(self._state.requests)

    def __enter__(self) -> GcsStore:
        self._server = _GcsServer(self._state)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        if self.proxy is not None:
            for host in self.GOOGLE_HOSTS:
                self.proxy.handle(host, self._serve_connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proxy is not None:
            for host in self.GOOGLE_HOSTS:
                self.proxy.drop(host, self._serve_connection)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _serve_connection(self, connection: socket.socket) -> None:
        assert self._server is not None
        _GcsHandler(connection, (LOCALHOST, 0), self._server)

    def upload(self, files: Mapping[str, bytes], prefix: str = "") -> str:
        with self._state.lock:
            for name, data in files.items():
                self._state.buckets[self.bucket][_join(prefix, name)] = bytes(data)
        return self.uri(prefix)

    def uri(self, prefix: str = "") -> str:
        return f"gs://{self.bucket}/{prefix.strip('/')}"

    def s3_uri(self, prefix: str = "") -> str:
        """The same objects through the XML API, as `s3://` with an HMAC key."""
        return f"s3://{self.bucket}/{prefix.strip('/')}"

    def clear_requests(self) -> None:
        with self._state.lock:
            self._state.requests.clear()

    # -- credentials --------------------------------------------------------------------

    def service_account_key(self, name: str = "model-loader") -> ServiceAccountKey:
        """A new service account with a key the store trusts (RSA, made here)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        key = ServiceAccountKey(
            email=f"{name}@{self.project}.iam.gserviceaccount.com",
            key_id=secrets.token_hex(20),
            private_key_pem=pem,
            public_key=private.public_key(),
            token_uri=self.token_uri,
            project=self.project,
        )
        with self._state.lock:
            self._state.keys[key.key_id] = key
        return key

    def hmac_key(self) -> HmacKey:
        """A new HMAC key (interoperability access) for the XML API."""
        key = HmacKey("GOOG1E" + secrets.token_hex(27).upper(), secrets.token_urlsafe(30))
        with self._state.lock:
            self._state.hmac_keys[key.access_id] = key
        return key

    def metadata_server(self, email: str | None = None) -> GceMetadataServer:
        """The GKE metadata server of Workload Identity, handing out tokens of this store."""
        return GceMetadataServer(
            self._state, email or f"model-loader@{self.project}.iam.gserviceaccount.com"
        )

    # -- pod env ------------------------------------------------------------------------

    def env(
        self,
        key_file: str | os.PathLike[str] | None = None,
        metadata: GceMetadataServer | None = None,
        key_variable: str = "RUNAI_STREAMER_GCS_CREDENTIAL_FILE",
    ) -> dict[str, str]:
        """The pod env reaching the store, with a mounted service-account key file (in
        `key_variable`: RUNAI_STREAMER_GCS_CREDENTIAL_FILE or GOOGLE_APPLICATION_CREDENTIALS),
        or Workload Identity's metadata server, or neither (no credentials)."""
        if self.proxy is not None:
            env = self.proxy.env()
        else:
            env = {
                "STORAGE_EMULATOR_HOST": self.endpoint,  # google-cloud-storage (Python)
                "CLOUD_STORAGE_EMULATOR_ENDPOINT": self.endpoint,  # google-cloud-cpp
            }
        if key_file is not None:
            env[key_variable] = os.fspath(key_file)
        if metadata is not None:
            env.update(metadata.env())
        return env

    def hmac_env(self, key: HmacKey) -> dict[str, str]:
        """`s3://` against the XML API with an HMAC key (`AWS_ENDPOINT_URL` is
        https://storage.googleapis.com in a real pod; the store's address here)."""
        return {
            "AWS_ACCESS_KEY_ID": key.access_id,
            "AWS_SECRET_ACCESS_KEY": key.secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "auto",
            "RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING": "0",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def mounts(self) -> dict[str, Path]:
        """Files the pod needs mounted (the CA bundle, when reached as Google's hosts)."""
        return self.proxy.mounts() if self.proxy is not None else {}


class _MetadataHandler(BaseHTTPRequestHandler):
    server: _MetadataServer
    protocol_version = "HTTP/1.1"
    PREFIX: ClassVar[str] = "/computeMetadata/v1/"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str, content_type: str = "application/text") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        self.server.paths.append(self.path)
        if path == "/":
            self._send(200, "computeMetadata/\n")
            return
        if self.headers.get("Metadata-Flavor") != "Google":
            self._send(403, "Missing Metadata-Flavor: Google header")
            return
        if not path.startswith(self.PREFIX):
            self._send(404, "not found")
            return
        what = path[len(self.PREFIX) :].rstrip("/")
        state = self.server.state
        account = "instance/service-accounts/default"
        # google-cloud-cpp asks by the account's email once it has read it.
        what = what.replace(f"instance/service-accounts/{self.server.email}", account)
        scopes = ["https://www.googleapis.com/auth/cloud-platform"]
        if what == "project/project-id":
            self._send(200, state.project)
        elif what == "project/numeric-project-id":
            self._send(200, "100000000001")
        elif what == "universe/universe-domain":
            self._send(200, "googleapis.com")
        elif what == account and "recursive=true" in query:
            info = {"aliases": ["default"], "email": self.server.email, "scopes": scopes}
            self._send(200, json.dumps(info), "application/json")
        elif what == f"{account}/email":
            self._send(200, self.server.email)
        elif what == f"{account}/scopes":
            self._send(200, "\n".join(scopes))
        elif what == f"{account}/token":
            token = state.issue_token("metadata")
            body = {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
            self._send(200, json.dumps(body), "application/json")
        else:
            self._send(404, f"no metadata {what}")


class _MetadataServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _GcsState, email: str) -> None:
        super().__init__((LOCALHOST, 0), _MetadataHandler)
        self.state = state
        self.email = email
        self.paths: list[str] = []


class GceMetadataServer:
    """The GKE metadata server (`metadata.google.internal`) on 127.0.0.1: tokens for the
    Kubernetes service account's Google service account, valid at its `GcsStore`."""

    def __init__(self, state: _GcsState, email: str) -> None:
        self.email = email
        self._state = state
        self._server: _MetadataServer | None = None

    @property
    def host(self) -> str:
        assert self._server is not None, "enter the metadata server first"
        return f"{LOCALHOST}:{self._server.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        assert self._server is not None
        return list(self._server.paths)

    def __enter__(self) -> GceMetadataServer:
        self._server = _MetadataServer(self._state, self.email)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def env(self) -> dict[str, str]:
        return {
            # google-auth (Python): where to ask, and where to ping to decide it is on GCE.
            "GCE_METADATA_HOST": self.host,
            "GCE_METADATA_IP": self.host,
            # google-cloud-cpp (the C++ reader).
            "GCE_METADATA_ROOT": self.host,
        }


# --------------------------------------------------------------------------------------
# Azure Blob Storage: Azurite
# --------------------------------------------------------------------------------------


def azurite_blob() -> Path:
    """The azurite-blob program, installed with npm into AZURITE_PREFIX on first use."""
    program = AZURITE_PREFIX / "node_modules" / ".bin" / "azurite-blob"
    if program.exists():
        return program
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise Unavailable("Azurite needs node and npm")
    AZURITE_PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(AZURITE_PREFIX),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"azurite@{AZURITE_VERSION}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    return program


class _EntraHandler(BaseHTTPRequestHandler):
    """login.microsoftonline.com for one tenant: OIDC discovery and client-credentials
    tokens, given a client secret or a federated (Kubernetes) token as assertion."""

    server: Any  # the _Entra below
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, value: Any) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        entra: _Entra = self.server
        path = self.path.partition("?")[0]
        base = f"https://{AZURE_LOGIN_HOST}/{entra.tenant}"
        if path.endswith("/discovery/instance"):
            self._json(
                200,
                {
                    "tenant_discovery_endpoint": f"{base}/v2.0/.well-known/openid-configuration",
                    "api-version": "1.1",
                    "metadata": [
                        {
                            "preferred_network": AZURE_LOGIN_HOST,
                            "preferred_cache": AZURE_LOGIN_HOST,
                            "aliases": [AZURE_LOGIN_HOST],
                        }
                    ],
                },
            )
        elif path == f"/{entra.tenant}/v2.0/.well-known/openid-configuration":
            self._json(
                200,
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "jwks_uri": f"https://{AZURE_LOGIN_HOST}/{entra.tenant}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "id_token", "token"],
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_post",
                        "private_key_jwt",
                    ],
                },
            )
        else:
            self._json(404, {"error": "not_found", "error_description": path})

    def do_POST(self) -> None:
        entra: _Entra = self.server
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        if self.path.partition("?")[0] != f"/{entra.tenant}/oauth2/v2.0/token":
            entra.grants.append("unknown tenant")
            self._json(400, {"error": "invalid_request", "error_description": "AADSTS90002"})
            return
        if form.get("client_id") != entra.client_id:
            how = "unknown client"
        elif "client_secret" in form:
            how = "secret" if form["client_secret"] == entra.client_secret else "wrong secret"
        elif "client_assertion" in form:
            ok = form["client_assertion"] == entra.federated_token
            how = "federated token" if ok else "wrong assertion"
        else:
            how = "no credential"
        entra.grants.append(how)
        if how not in ("secret", "federated token"):
            self._json(
                401, {"error": "invalid_client", "error_description": f"AADSTS7000215: {how}"}
            )
            return
        now = int(time.time())
        claims = {
            "aud": "https://storage.azure.com",
            "iss": f"https://sts.windows.net/{entra.tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": entra.tenant,
            "appid": entra.client_id,
            "oid": entra.client_id,
            "sub": entra.client_id,
        }

        def part(value: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        # Azurite's "basic" OAuth checks issuer, audience and lifetime, not the signature:
        # the credential is checked here, where the token is handed out.
        token = f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{part('unsigned')}"
        self._json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            },
        )


@dataclass
class _Entra:
    tenant: str
    client_id: str
    client_secret: str
    federated_token: str
    grants: list[str] = field(default_factory=list)


class AzureStore:
    """Azurite's blob service as `<account>.blob.core.windows.net`, over HTTPS.

    The streamer's C++ reader builds `https://<AZURE_STORAGE_ACCOUNT_NAME>.<suffix>`
    itself (suffix AZURE_STORAGE_ENDPOINT_SUFFIX, blob.core.windows.net by default) and
    reads no connection string, so it cannot be given Azurite's path-style
    `http://127.0.0.1:<port>/<account>`. Azurite listens with a certificate of `proxy`'s CA
    for the account's real host name instead, and `proxy` tunnels that host to it; Azurite
    takes the account from the host name (its "production-style" URLs).
    """

    def __init__(
        self, proxy: TlsInterceptor, container: str = "models", account: str = "krmfnmodels"
    ) -> None:
        self.proxy = proxy
        self.container = container
        self.account = account
        self.account_key = base64.b64encode(secrets.token_bytes(64)).decode()
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        # The tenant of Microsoft Entra ID, with one app registration allowed on the account.
        self._entra = _Entra(
            tenant=str(uuid.uuid4()),
            client_id=str(uuid.uuid4()),
            client_secret=secrets.token_urlsafe(30),
            federated_token=secrets.token_urlsafe(60),
        )

    @property
    def grants(self) -> list[str]:
        """The token requests Entra ID answered: secret, federated token, or why refused."""
        return list(self._entra.grants)

    @property
    def host(self) -> str:
        return f"{self.account}.blob.core.windows.net"

    @property
    def endpoint(self) -> str:
        """Azurite itself, path-style (what a connection string would name)."""
        return f"https://{LOCALHOST}:{self.port}/{self.account}"

    def __enter__(self) -> AzureStore:
        import tempfile

        program = azurite_blob()
        self._workdir = Path(tempfile.mkdtemp(prefix="krmfn-azurite-"))
        cert, key = self.proxy.certificate(self.host, LOCALHOST)
        self.port = free_port()
        self._process = subprocess.Popen(
            [
                str(program),
                "--blobHost",
                LOCALHOST,
                "--blobPort",
                str(self.port),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
                "--disableTelemetry",
                "--cert",
                str(cert),
                "--key",
                str(key),
                "--oauth",
                "basic",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "AZURITE_ACCOUNTS": f"{self.account}:{self.account_key}"},
            cwd=self._workdir,
        )
        try:
            wait_for_port(self.port, self._process, 60)
            self.proxy.tunnel(self.host, self.port)
            self.proxy.handle(AZURE_LOGIN_HOST, self._serve_login)
            self._service().create_container(self.container)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.proxy.drop(self.host, self.port)
        self.proxy.drop(AZURE_LOGIN_HOST, self._serve_login)
        if self._process is not None:
            _stop(self._process)
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _serve_login(self, connection: socket.socket) -> None:
        _EntraHandler(connection, (LOCALHOST, 0), cast(Any, self._entra))

    def _service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(
            account_url=self.endpoint,
            credential={"account_name": self.account, "account_key": self.account_key},
            connection_verify=str(self.proxy.ca_pem),
        )

    def upload(self, files: Mapping[str, bytes], prefix: str = "") -> str:
        container = self._service().get_container_client(self.container)
        for name, data in files.items():
            container.upload_blob(_join(prefix, name), data, overwrite=True)
        return self.uri(prefix)

    def uri(self, prefix: str = "") -> str:
        return f"az://{self.container}/{prefix.strip('/')}"

    def sas_token(self, hours: float = 1) -> str:
        """A container SAS allowing read and list (what `az storage container
        generate-sas --permissions rl` gives)."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return str(
            generate_container_sas(
                self.account,
                self.container,
                account_key=self.account_key,
                permission=ContainerSasPermissions(read=True, list=True),
                expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours),
            )
        )

    def env(self, account_key: str | None = None, sas_token: str | None = None) -> dict[str, str]:
        """The pod env: the account, and its key (the store's own by default) or a SAS."""
        env = {**self.proxy.env(), "AZURE_STORAGE_ACCOUNT_NAME": self.account}
        if sas_token is not None:
            env["AZURE_STORAGE_SAS_TOKEN"] = sas_token
        else:
            env["AZURE_STORAGE_ACCOUNT_KEY"] = account_key or self.account_key
        return env

    def service_principal_env(self, client_secret: str | None = None) -> dict[str, str]:
        """DefaultAzureCredential with an app registration's secret (EnvironmentCredential)."""
        return {
            **self.proxy.env(),
            "AZURE_STORAGE_ACCOUNT_NAME": self.account,
            "AZURE_TENANT_ID": self._entra.tenant,
            "AZURE_CLIENT_ID": self._entra.client_id,
            "AZURE_CLIENT_SECRET": client_secret or self._entra.client_secret,
        }

    def workload_identity_env(self, token_file: Path, token: str | None = None) -> dict[str, str]:
        """DefaultAzureCredential as AKS Workload Identity's webhook sets it up: the projected
        service-account token in `token_file` (written here), exchanged at Entra ID."""
        token_file.write_text(token or self._entra.federated_token)
        return {
            **self.proxy.env(),
            "AZURE_STORAGE_ACCOUNT_NAME": self.account,
            "AZURE_TENANT_ID": self._entra.tenant,
            "AZURE_CLIENT_ID": self._entra.client_id,
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
            "AZURE_AUTHORITY_HOST": f"https://{AZURE_LOGIN_HOST}/",
        }

    def connection_string(self) -> str:
        """Azurite's own address, for the Python half only (the C++ reader ignores it)."""
        return (
            f"DefaultEndpointsProtocol=https;AccountName={self.account};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};"
        )

    def mounts(self) -> dict[str, Path]:
        return self.proxy.mounts()
