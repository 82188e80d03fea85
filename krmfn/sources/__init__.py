"""Model artifact sources: one class per URI scheme.

A source knows how to parse its URI and what it puts into a pod: the `model-storage`
volume (or none, for object storage), the mount and env of marked containers, the args
they need, and the template variables it defines. Adding a scheme is adding a class,
`class X(Source, scheme="x")`, in a module imported here: it registers itself.
"""

from krmfn.sources import claims, huggingface, images, objects
from krmfn.sources.base import (
    DEFAULT_MOUNT_ROOT,
    SCHEMES,
    VOLUME_NAME,
    Options,
    Source,
    parse_uri,
)
from krmfn.sources.claims import HuggingFaceCacheOnClaim, PersistentVolumeClaim
from krmfn.sources.huggingface import HuggingFace

__all__ = [
    "DEFAULT_MOUNT_ROOT",
    "SCHEMES",
    "VOLUME_NAME",
    "HuggingFace",
    "HuggingFaceCacheOnClaim",
    "Options",
    "PersistentVolumeClaim",
    "Source",
    "claims",
    "huggingface",
    "images",
    "objects",
    "parse_uri",
]
