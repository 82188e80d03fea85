"""Models in object storage, streamed by vLLM's Run:ai Model Streamer: `s3://`, `gs://`,
`az://`. vLLM reads the weights from the store (`--load-format=runai_streamer`), with the
credentials the streamer reads from the environment. The model volume is a small emptyDir:
vLLM first pulls the model's config and tokenizer files into its assets cache, which must be
writable even where the container's root filesystem is not."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar

from krmfn.krm.errors import FieldError
from krmfn.sources.base import Options, Source, bad_uri, normalised

ENDPOINT_FIELD = "spec.modelArtifacts.endpoint"
REGION_FIELD = "spec.modelArtifacts.region"
ACCOUNT_FIELD = "spec.modelArtifacts.account"
CREDENTIALS_FIELD = "spec.modelArtifacts.credentials"
LOAD_FORMAT = "--load-format"

_S3 = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_RESERVED = (
    ("xn--", "sthree-", "amzn-s3-demo-"),
    ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"),
)
_GCS = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_AZURE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_ENDPOINT = re.compile(r"https?://[^\s/]+(/\S*)?")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _s3_bucket(name: str) -> str:
    """Amazon S3's rules for general purpose bucket names."""
    starts, ends = _S3_RESERVED
    if (
        _S3.fullmatch(name)
        and ".." not in name
        and not _is_ip(name)
        and not name.startswith(starts)
        and not name.endswith(ends)
    ):
        return ""
    return (
        "an S3 bucket name is 3 to 63 lower-case letters, digits, '.' and '-', starting and"
        " ending with a letter or digit, without '..', not an IP address, and without the"
        " prefixes and suffixes S3 reserves (xn--, sthree-, -s3alias, ...)"
    )


def _gcs_bucket(name: str) -> str:
    """Cloud Storage's rules for bucket names."""
    parts = name.split(".")
    if (
        _GCS.fullmatch(name)
        and (len(name) <= 63 or all(0 < len(p) <= 63 for p in parts))
        and not _is_ip(name)
        and not name.startswith("goog")
        and not re.search(r"g[o0]{2}g[l1]e", name)
    ):
        return ""
    return (
        "a Cloud Storage bucket name is 3 to 63 lower-case letters, digits, '-', '_' and '.'"
        " (up to 222 with dots, 63 between them), starting and ending with a letter or"
        " digit, not an IP address, not starting with 'goog' nor holding 'google'"
    )


def _azure_container(name: str) -> str:
    """Azure Blob Storage's rules for container names."""
    if _AZURE.fullmatch(name):
        return ""
    return (
        "an Azure container name is 3 to 63 lower-case letters, digits and '-', starting with"
        " a letter or digit, every '-' between letters or digits"
    )


class ObjectStore(Source):
    """`<scheme>://<bucket>/<path>`: the model's folder in a bucket (a container)."""

    __slots__ = ("bucket", "path")
    bucket: str
    path: str
    # The bucket naming rules of the store: a problem, or "" for a valid name.
    check_bucket: ClassVar[Any]
    uses = frozenset({"authSecretName"})

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> Source:
        bucket, _, path = rest.partition("/")
        problem = cls.check_bucket(bucket)
        if problem:
            raise bad_uri(uri, f"{bucket!r}: {problem}")
        for field, value, check in (
            ("endpoint", options.endpoint, _ENDPOINT),
            ("region", options.region, _REGION),
            ("account", options.account, _ACCOUNT),
        ):
            if value and not check.fullmatch(value):
                raise FieldError(
                    f"{value!r} is not a valid {field}", f"spec.modelArtifacts.{field}"
                )
        return cls(uri, options, bucket=bucket, path=normalised(uri, path))

    def volume(self) -> dict[str, Any]:
        return {"emptyDir": {}}

    @property
    def read_only(self) -> bool:
        return False  # vLLM writes the files it pulls

    def env(self) -> list[dict[str, Any]]:
        return [*self.store_env(), _value("VLLM_ASSETS_CACHE", self.options.mount_root)]

    def store_env(self) -> list[dict[str, Any]]:
        """What the streamer reads to reach the store."""
        raise NotImplementedError

    def args(self, given: list[str]) -> list[str]:
        if any(a == LOAD_FORMAT or a.startswith(f"{LOAD_FORMAT}=") for a in given):
            return []
        return [f"{LOAD_FORMAT}=runai_streamer"]

    @property
    def model_path(self) -> str:
        return f"{self.bucket}/{self.path}" if self.path else self.bucket

    @property
    def mounted_model_path(self) -> str:
        # What vLLM loads: the URI itself.
        return f"{self.scheme}://{self.model_path}"

    def describe(self) -> str:
        credentials = self.options.auth_secret_name
        given = f", credentials from Secret {credentials}" if credentials else ""
        return (
            f"streamed from {self.mounted_model_path} by the Run:ai streamer{given},"
            " config files in an emptyDir"
        )


def _value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


class S3(ObjectStore, scheme="s3"):
    """Amazon S3, or an S3-compatible store (MinIO, Ceph) at `endpoint`."""

    check_bucket = staticmethod(_s3_bucket)
    reads = ("endpoint", "region")

    def warnings(self) -> list[tuple[str, str]]:
        if self.options.region or self.options.endpoint:
            return []
        return [
            (
                "s3:// without region or endpoint: the pods get no AWS_REGION, so the"
                " streamer's AWS SDK uses us-east-1 and a bucket in another region is not"
                " found; set region",
                REGION_FIELD,
            )
        ]

    def store_env(self) -> list[dict[str, Any]]:
        env = self.secret_env(
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", optional=("AWS_SESSION_TOKEN",)
        )
        if self.options.endpoint:
            env += [
                _value("AWS_ENDPOINT_URL", self.options.endpoint),
                # S3-compatible stores address buckets by path, not by host name.
                _value("RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING", "0"),
                # No EC2 metadata to ask for credentials: do not wait for it.
                _value("AWS_EC2_METADATA_DISABLED", "true"),
            ]
        if self.options.region:
            env += [
                _value("AWS_REGION", self.options.region),
                _value("AWS_DEFAULT_REGION", self.options.region),
            ]
        return env


class GoogleCloudStorage(ObjectStore, scheme="gs"):
    """Cloud Storage, with the credentials `credentials` names, as the Run:ai streamer
    reads them (it sends every gs:// URI to its GCS backend, which never reads AWS_*):

    - `workloadIdentity` (the default, no Secret): the pod's own identity, through
      Application Default Credentials;
    - `serviceAccountKey`: the Secret's `key.json`, a service account key, mounted as a
      file that RUNAI_STREAMER_GCS_CREDENTIAL_FILE and GOOGLE_APPLICATION_CREDENTIALS name;
    - `hmac`: the Secret's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, HMAC keys of
      Cloud Storage's interoperability API: vLLM then streams `s3://<bucket>/<path>`
      through the S3 backend, at Cloud Storage's endpoint with path addressing.
    """

    check_bucket = staticmethod(_gcs_bucket)
    reads = ("endpoint", "credentials")

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> Source:
        way, secret = options.credentials, options.auth_secret_name
        if way and way not in GCS_CREDENTIALS:
            raise FieldError(
                f"{way!r} is not one of {', '.join(GCS_CREDENTIALS)}", CREDENTIALS_FIELD
            )
        if secret and way in ("", "workloadIdentity"):
            raise FieldError(
                "gs:// with authSecretName needs credentials: serviceAccountKey (the Secret"
                " holds key.json, a service account key) or hmac (it holds AWS_ACCESS_KEY_ID"
                " and AWS_SECRET_ACCESS_KEY, HMAC keys); without a Secret the pods use their"
                " own identity (workloadIdentity)",
                CREDENTIALS_FIELD,
            )
        if way in ("serviceAccountKey", "hmac") and not secret:
            raise FieldError(
                f"credentials {way} are read from a Secret: set authSecretName",
                "spec.modelArtifacts.authSecretName",
            )
        if options.endpoint and way != "hmac":
            raise FieldError(
                "endpoint is Cloud Storage's S3-compatible endpoint, read with credentials"
                " hmac only",
                ENDPOINT_FIELD,
            )
        return super().parse(uri, rest, options)

    @property
    def _hmac(self) -> bool:
        return self.options.credentials == "hmac"

    @property
    def mounted_model_path(self) -> str:
        scheme = "s3" if self._hmac else self.scheme
        return f"{scheme}://{self.model_path}"

    def store_env(self) -> list[dict[str, Any]]:
        if self._hmac:
            return [
                *self.secret_env("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
                _value("AWS_ENDPOINT_URL", self.options.endpoint or GCS_S3_ENDPOINT),
                _value("RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING", "0"),
                _value("AWS_EC2_METADATA_DISABLED", "true"),
            ]
        if self.options.credentials == "serviceAccountKey":
            key = f"{GCS_KEY_FOLDER}/{GCS_KEY}"
            return [
                _value("RUNAI_STREAMER_GCS_CREDENTIAL_FILE", key),
                _value("GOOGLE_APPLICATION_CREDENTIALS", key),
            ]
        return []

    def credential_volume(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if self.options.credentials != "serviceAccountKey":
            return None
        secret = {
            "secretName": self.options.auth_secret_name,
            "items": [{"key": GCS_KEY, "path": GCS_KEY}],
        }
        volume = {"name": GCS_KEY_VOLUME, "secret": secret}
        mount = {"name": GCS_KEY_VOLUME, "mountPath": GCS_KEY_FOLDER, "readOnly": True}
        return volume, mount

    def describe(self) -> str:
        secret = self.options.auth_secret_name
        how = {
            "": "the pods' own identity",
            "workloadIdentity": "the pods' own identity",
            "serviceAccountKey": f"the service account key in Secret {secret}",
            "hmac": f"HMAC keys from Secret {secret}, as {self.mounted_model_path}",
        }[self.options.credentials]
        return (
            f"streamed from gs://{self.model_path} by the Run:ai streamer with {how},"
            " config files in an emptyDir"
        )


GCS_CREDENTIALS = ("workloadIdentity", "serviceAccountKey", "hmac")
GCS_S3_ENDPOINT = "https://storage.googleapis.com"
GCS_KEY = "key.json"
GCS_KEY_VOLUME = "gcs-credentials"
GCS_KEY_FOLDER = "/var/run/secrets/krmfn/gcs"


class AzureBlob(ObjectStore, scheme="az"):
    """Azure Blob Storage: `az://<container>/<path>` in the storage `account`; with
    `authSecretName`, a service principal (DefaultAzureCredential's environment), else the
    pod's managed identity."""

    check_bucket = staticmethod(_azure_container)
    reads = ("account",)

    @classmethod
    def parse(cls, uri: str, rest: str, options: Options) -> Source:
        if not options.account and not options.auth_secret_name:
            raise FieldError(
                "az:// needs the storage account: set account, or authSecretName to a"
                " Secret with AZURE_STORAGE_ACCOUNT_NAME",
                ACCOUNT_FIELD,
            )
        return super().parse(uri, rest, options)

    def store_env(self) -> list[dict[str, Any]]:
        keys = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")
        if self.options.account:
            return [
                _value("AZURE_STORAGE_ACCOUNT_NAME", self.options.account),
                *self.secret_env(*keys),
            ]
        return self.secret_env("AZURE_STORAGE_ACCOUNT_NAME", *keys)
