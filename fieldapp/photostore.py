"""The photo store: photos' bytes kept by the sha256 of their content, apart from the database.

A store has four operations: put(bytes) -> sha256, get(sha256) -> bytes, exists(sha256), delete(sha256); and
shas() to list what it holds (backups). FolderStore keeps files under a folder (FIELDAPP_PHOTOS, by default
<instance folder>/photos) as ab/cd/<sha256>.jpg, each written to a temporary file and renamed, so that a reader
never sees half a photo. A stored file never changes: the same bytes have the same name.

When app servers are more than one they must share the photos: an S3-compatible store (AWS S3, MinIO, Aliyun
OSS, Tencent COS) takes the folder's place with the same five operations, e.g. with boto3: put is
put_object(Bucket, Key=ab/cd/<sha>.jpg, Body), get is get_object(...)["Body"].read(), exists is head_object,
delete is delete_object, shas is list_objects_v2 (see docs/scaling.md). Nothing else in the app touches files.
"""
import hashlib
import os
import tempfile
from pathlib import Path


class MissingPhoto(KeyError):
    """The store holds no photo by that sha256."""


def sha256(data):
    """The content address of data: its sha256 in hex."""
    return hashlib.sha256(data).hexdigest()


def _checked(sha):
    """sha if it is 64 lowercase hex digits (it becomes a path), else MissingPhoto."""
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise MissingPhoto(sha)
    return sha


class FolderStore:
    """Photos as files under a folder, content-addressed: ab/cd/<sha256>.jpg."""

    def __init__(self, root):
        self.root = Path(root)

    def path(self, sha):
        """Where the photo sha256 lives (or would live)."""
        sha = _checked(sha)
        return self.root / sha[:2] / sha[2:4] / f"{sha}.jpg"

    def put(self, data):
        """Keep data (once: the same bytes are one file) and return its sha256."""
        sha = sha256(data)
        path = self.path(sha)
        if path.exists():
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha

    def get(self, sha):
        """The bytes of the photo sha256; MissingPhoto if the store has none."""
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            raise MissingPhoto(sha) from None

    def exists(self, sha):
        """Whether the store holds the photo sha256."""
        try:
            return self.path(sha).is_file()
        except MissingPhoto:
            return False

    def delete(self, sha):
        """Remove the photo sha256 (nothing if it is not there)."""
        self.path(sha).unlink(missing_ok=True)

    def shas(self):
        """The sha256 of every photo held."""
        return [path.stem for path in self.root.glob("??/??/*.jpg")]


def from_config(config):
    """The app's photo store (config PHOTOS: a folder)."""
    return FolderStore(config["PHOTOS"])


def copy_all(source, dest):
    """Put every photo of the store source that dest lacks into dest; return how many were copied."""
    copied = 0
    for sha in source.shas():
        if not dest.exists(sha):
            dest.put(source.get(sha))
            copied += 1
    return copied


def back_up(store, dest, previous=None):
    """Copy every photo of the folder store into the new folder dest, complete or absent (written as
    dest.partial, then renamed). A photo already in previous (an earlier backup's folder) is hard-linked from
    there: each backup folder is whole on its own, and takes the room of its new photos only. Returns how many
    photos it holds."""
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".partial")
    target, earlier = FolderStore(partial), FolderStore(previous) if previous else None
    count = 0
    for sha in store.shas():
        path = target.path(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(earlier.path(sha) if earlier and earlier.exists(sha) else store.path(sha), path)
        except OSError:  # another file system, or one without hard links
            target.put(store.get(sha))
        count += 1
    partial.mkdir(parents=True, exist_ok=True)
    os.replace(partial, dest)
    return count
