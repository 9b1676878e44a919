"""``GoogleCloudStorageObserver``: Sacred's ``GoogleCloudStorageObserver(bucket, basedir, resource_dir,
source_dir, priority)``.

Runs go to ``gs://<bucket>/<basedir>/<id>/`` in the file store's layout (see
:mod:`experimentkit.backends.objectstore.observer`).  google-cloud-storage is imported when an
observer is built; credentials come from Google's usual places.  The bucket must exist (as in Sacred).
``STORAGE_EMULATOR_HOST`` points the client at an emulator.
"""

from __future__ import annotations

from typing import Any, Optional

from ..objectstore.observer import ObjectStoreObserver, join_key, parse_bucket_url

__all__ = ["GoogleCloudStorageObserver", "DEFAULT_GCS_PRIORITY", "parse_gcs_url", "gcs_join"]

DEFAULT_GCS_PRIORITY = 20
gcs_join = join_key


def parse_gcs_url(value: str) -> tuple:
    """``(bucket, basedir)`` from ``gs://<bucket>/path/to/exp`` (the ``--gcs`` value)."""
    return parse_bucket_url(value, "gs", "--gcs")


class GoogleCloudStorageObserver(ObjectStoreObserver):
    """Stores runs in a Google Cloud Storage bucket."""

    VERSION = "GoogleCloudStorageObserver-0.1.0"

    def __init__(
        self,
        bucket: str,
        basedir: str,
        resource_dir: Optional[str] = None,
        source_dir: Optional[str] = None,
        priority: int = DEFAULT_GCS_PRIORITY,
        client: Any = None,
    ):
        super().__init__(bucket, basedir, resource_dir, source_dir, priority)
        if client is None:
            from google.auth.exceptions import DefaultCredentialsError
            from google.cloud import storage

            try:
                client = storage.Client()
            except DefaultCredentialsError:
                raise ValueError(
                    "No Google Cloud credentials found: set GOOGLE_APPLICATION_CREDENTIALS "
                    "or run 'gcloud auth application-default login'"
                ) from None
        self.client = client
        self._bucket = client.bucket(bucket)

    def __repr__(self) -> str:
        return f"GoogleCloudStorageObserver(bucket={self.bucket!r}, basedir={self.basedir!r})"

    def replay_spec(self) -> dict:
        """Rebuild in another process (``experimentkit sync``); credentials are not part of it."""
        return {
            "factory": "experimentkit.backends.gcs.observer:GoogleCloudStorageObserver",
            "kwargs": {
                "bucket": self.bucket,
                "basedir": self.basedir,
                "resource_dir": self.resource_dir,
                "source_dir": self.source_dir,
                "priority": self.priority,
            },
        }

    # ---- primitives ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        if not self._bucket.exists():
            raise ValueError(
                f"The bucket {self.bucket!r} does not exist in Google Cloud Storage: create it first"
            )

    def _put(self, key: str, data: bytes, content_type: Optional[str] = None) -> None:
        self._bucket.blob(key).upload_from_string(
            data, content_type=content_type or "application/octet-stream"
        )

    def _get(self, key: str) -> Optional[bytes]:
        blob = self._bucket.blob(key)
        return blob.download_as_bytes() if blob.exists() else None

    def _exists(self, prefix: str) -> bool:
        return any(True for _ in self.client.list_blobs(self.bucket, prefix=prefix, max_results=1))

    def _list_dirs(self, prefix: str) -> list:
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        blobs = self.client.list_blobs(self.bucket, prefix=prefix, delimiter="/")
        for _ in blobs:  # the prefixes are known only after the pages were read
            pass
        return [p[len(prefix) :].strip("/") for p in blobs.prefixes]
