"""``S3Observer``: Sacred's ``S3Observer(bucket, basedir, resource_dir, source_dir, priority, region)``.

Runs go to ``s3://<bucket>/<basedir>/<id>/`` in the file store's layout (see
:mod:`experimentkit.backends.objectstore.observer`).  boto3 is imported when an observer is built;
credentials come from boto3's usual places (environment, ``~/.aws``), never from this object, so
nothing secret is stored in a replay journal.  ``endpoint_url`` (or ``AWS_ENDPOINT_URL``) points it at
an S3-compatible server (MinIO, a test server).
"""

from __future__ import annotations

import os
import re
from typing import Optional

from ..objectstore.observer import ObjectStoreObserver, join_key, parse_bucket_url

__all__ = ["S3Observer", "DEFAULT_S3_PRIORITY", "parse_s3_url", "s3_join"]

DEFAULT_S3_PRIORITY = 20
s3_join = join_key


def parse_s3_url(value: str) -> tuple:
    """``(bucket, basedir)`` from ``s3://<bucket>/path/to/exp`` (the ``--s3`` value)."""
    return parse_bucket_url(value, "s3", "--s3")


class S3Observer(ObjectStoreObserver):
    """Stores runs in an S3 bucket, creating the bucket if it does not exist."""

    VERSION = "S3Observer-0.1.0"

    def __init__(
        self,
        bucket: str,
        basedir: str,
        resource_dir: Optional[str] = None,
        source_dir: Optional[str] = None,
        priority: int = DEFAULT_S3_PRIORITY,
        region: Optional[str] = None,
        endpoint_url: Optional[str] = None,
    ):
        super().__init__(bucket, basedir, resource_dir, source_dir, priority)
        import boto3

        session = boto3.session.Session()
        self.region = region or session.region_name
        if self.region is None:
            raise ValueError(
                "You must either pass in an AWS region name, or have a region name "
                "specified in your AWS config file"
            )
        self.endpoint_url = (
            endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        self.s3 = session.client("s3", region_name=self.region, endpoint_url=self.endpoint_url)
        self._bucket_ready = False

    def __repr__(self) -> str:
        return f"S3Observer(bucket={self.bucket!r}, basedir={self.basedir!r})"

    def replay_spec(self) -> dict:
        """Rebuild in another process (``experimentkit sync``); credentials are not part of it."""
        return {
            "factory": "experimentkit.backends.s3.observer:S3Observer",
            "kwargs": {
                "bucket": self.bucket,
                "basedir": self.basedir,
                "resource_dir": self.resource_dir,
                "source_dir": self.source_dir,
                "priority": self.priority,
                "region": self.region,
                "endpoint_url": _redact(self.endpoint_url),
            },
        }

    # ---- primitives ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        if self._bucket_ready:
            return
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            kwargs: dict = {"Bucket": self.bucket}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            self.s3.create_bucket(**kwargs)
        self._bucket_ready = True

    def _put(self, key: str, data: bytes, content_type: Optional[str] = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)

    def _get(self, key: str) -> Optional[bytes]:
        from botocore.exceptions import ClientError

        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def _exists(self, prefix: str) -> bool:
        return self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0) > 0

    def _list_dirs(self, prefix: str) -> list:
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        names = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        ):
            names += [p["Prefix"][len(prefix) :].strip("/") for p in page.get("CommonPrefixes", ())]
        return names


def _redact(url: Optional[str]) -> Optional[str]:
    """``url`` without a password (``https://user:secret@host`` -> ``https://user:***@host``)."""
    if not url:
        return url
    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)
