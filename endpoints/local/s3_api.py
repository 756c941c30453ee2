"""The S3 REST subset boto3 needs to stage data on the local host: objects under its S3 root.

A transform job reads its input from S3 and writes ``.out`` objects back; on one laptop the
client must be able to put the one and get the other without a cloud account or a second
server. This serves, on the host's own port, what that takes — nothing more:

=================  =========================================
PutObject          ``PUT /bucket/key`` (checksums verified)
GetObject          ``GET /bucket/key`` (one ``Range`` allowed)
HeadObject         ``HEAD /bucket/key``
DeleteObject       ``DELETE /bucket/key``
DeleteObjects      ``POST /bucket?delete``
ListObjectsV2      ``GET /bucket?list-type=2`` (prefix, delimiter, pages)
CreateBucket       ``PUT /bucket``
HeadBucket         ``HEAD /bucket``
=================  =========================================

Requests are told apart from the host's other APIs by their SigV4 credential scope
(``.../s3/aws4_request``, in the ``Authorization`` header or a presigned URL): boto3 signs
S3 calls for service ``s3`` and SageMaker calls for ``sagemaker``, whatever the path. The
signature itself is not checked — the host binds 127.0.0.1 and any dummy credentials do,
as for its SageMaker APIs. Anything else S3 has (multipart uploads, copies, versions, ACLs)
answers ``501 NotImplemented`` naming what is served.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, quote_plus
from xml.etree import ElementTree

from endpoints.local.object_store import FolderObjectStore, ObjectInfo, ObjectStoreError

__all__ = ["MAX_OBJECT_BYTES", "S3Api", "is_s3_request"]

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_OBJECT_BYTES = 5 * 1024**3  # S3's limit for one PutObject
MAX_DELETE_BODY = 1024 * 1024
MAX_LIST_KEYS = 1000
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
SUPPORTED = (
    "PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, ListObjectsV2, "
    "CreateBucket and HeadBucket"
)
_SEND_CHUNK = 1 << 20
_NOT_OPERANDS = frozenset({"x-id", "AWSAccessKeyId", "Signature", "Expires"})


def is_s3_request(scope: Scope) -> bool:
    """Whether the request is signed for S3: SigV4 with an ``.../s3/aws4_request`` scope
    (header or presigned URL), or SigV2 (``AWS key:signature``, or a URL presigned with
    ``AWSAccessKeyId``), which only S3 still speaks."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return b"/s3/aws4_request" in value or value.startswith(b"AWS ")
    query = scope.get("query_string", b"")
    if b"X-Amz-Credential=" in query:
        return b"%2Fs3%2Faws4_request" in query
    return b"AWSAccessKeyId=" in query and b"Signature=" in query


class S3Error(Exception):
    """An S3 error answer."""

    def __init__(self, status: int, code: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def _not_implemented(what: str) -> S3Error:
    return S3Error(
        501,
        "NotImplemented",
        f"{what} is not implemented by the local host's S3 API; it serves {SUPPORTED}. "
        "For files over 8 MiB, boto3's upload_file switches to multipart uploads: use "
        "put_object, or TransferConfig(multipart_threshold=...) above the file's size.",
    )


def _xml(root: ElementTree.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)


def _element(parent: ElementTree.Element, tag: str, text: Any) -> ElementTree.Element:
    child = ElementTree.SubElement(parent, tag)
    child.text = str(text)
    return child


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Answer:
    def __init__(
        self, status: int, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b""
    ) -> None:
        self.status = status
        self.headers = headers or []
        self.body = body


class S3Api:
    """ASGI app answering S3 REST calls from a :class:`FolderObjectStore` (``None``: the
    host has no S3 root, and every call says how to give it one)."""

    def __init__(self, store: FolderObjectStore | None) -> None:
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex[:16].upper().encode()
        method, path = scope["method"], scope["path"]
        try:
            answer = await self._route(scope, receive)
        except (S3Error, ObjectStoreError) as error:
            answer = self._error(error, method, path)
            if method in ("PUT", "POST"):
                # the body may be unread (a client that sent Expect: 100-continue holds it
                # back): the connection cannot carry another request after this answer
                answer.headers.append((b"connection", b"close"))
        except Exception:  # a bug here must answer 500, never kill the worker
            logger.exception("S3 %s %s failed", method, path)
            answer = self._error(
                S3Error(500, "InternalError", "Internal error in the local host's S3 API."),
                method,
                path,
            )
        logger.debug("S3 %s %s -> %s", method, path, answer.status)
        headers = [(b"x-amz-request-id", request_id), *answer.headers]
        if not any(name == b"content-length" for name, _ in headers):
            headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        if isinstance(answer, _FileAnswer):
            await answer.stream(send)
        else:
            await send({"type": "http.response.body", "body": answer.body})

    def _error(self, error: S3Error | ObjectStoreError, method: str, path: str) -> _Answer:
        if method == "HEAD":  # HEAD answers carry no body; botocore reads the status
            return _Answer(error.status, [(b"content-length", b"0")])
        root = ElementTree.Element("Error")
        _element(root, "Code", error.code)
        _element(root, "Message", error.message)
        for name, value in error.details.items():
            _element(root, name, value)
        _element(root, "Resource", path)
        return _Answer(error.status, [(b"content-type", b"application/xml")], _xml(root))

    def _folder(self) -> FolderObjectStore:
        if self.store is None:
            raise S3Error(
                501,
                "NotImplemented",
                "This local host was started without an S3 root, so it serves no S3 API; "
                "start it with --s3-root DIR (LocalEndpointHost(s3_root=...)).",
            )
        return self.store

    async def _route(self, scope: Scope, receive: Receive) -> _Answer:
        method = scope["method"]
        bucket, _, key = scope["path"].lstrip("/").partition("/")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        for name in [n for n in query if n in _NOT_OPERANDS or n.startswith("X-Amz-")]:
            del query[name]  # a presigned URL's signature, the operation's name: not operands
        headers = dict(scope["headers"])
        store = self._folder()
        if not bucket:
            raise _not_implemented(f"{method} / (ListBuckets)")
        if not key:
            if method == "PUT" and not query:
                await _drain(receive, MAX_DELETE_BODY)  # CreateBucketConfiguration: ignored
                store.create_bucket(bucket)
                return _Answer(200, [(b"location", f"/{bucket}".encode())])
            if method == "HEAD" and not query:
                store.bucket_path(bucket)
                return _Answer(200)
            if method == "GET" and query.get("list-type") == ["2"]:
                return self._list(store, bucket, query)
            if method == "POST" and "delete" in query:
                body = await _drain(receive, MAX_DELETE_BODY)
                _check_checksums(headers, body)
                return await asyncio.to_thread(self._delete_many, store, bucket, body)
            raise _not_implemented(f"{method} /{bucket}?{'&'.join(sorted(query))}")
        if query:
            raise _not_implemented(f"{method} /{bucket}/{key}?{'&'.join(sorted(query))}")
        if method == "PUT":
            if b"x-amz-copy-source" in headers:
                raise _not_implemented("CopyObject")
            return await self._put(store, bucket, key, headers, receive)
        if method in ("GET", "HEAD"):
            return await asyncio.to_thread(self._get, store, bucket, key, headers, method)
        if method == "DELETE":
            await asyncio.to_thread(store.delete, bucket, key)
            return _Answer(204)
        raise _not_implemented(f"{method} on an object")

    # ------------------------------------------------------------------------------ put

    async def _put(
        self,
        store: FolderObjectStore,
        bucket: str,
        key: str,
        headers: dict[bytes, bytes],
        receive: Receive,
    ) -> _Answer:
        if headers.get(b"content-encoding", b"").startswith(b"aws-chunked") or headers.get(
            b"x-amz-content-sha256", b""
        ).startswith(b"STREAMING-"):
            raise _not_implemented("A streaming (aws-chunked) upload")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_OBJECT_BYTES:
            raise _too_large(int(declared))
        upload = store.upload(bucket, key)
        crc = 0
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    upload.abort()
                    raise S3Error(400, "IncompleteBody", "The client went away mid-upload.")
                chunk = message.get("body", b"")
                if upload.size + len(chunk) > MAX_OBJECT_BYTES:
                    raise _too_large(upload.size + len(chunk))
                upload.write(chunk)
                crc = zlib.crc32(chunk, crc)
                if b"content-md5" in headers:
                    md5.update(chunk)
                if not message.get("more_body"):
                    break
            _check_digests(headers, crc, md5)
            etag = await asyncio.to_thread(upload.commit)
        except BaseException:
            upload.abort()
            raise
        return _Answer(200, [(b"etag", f'"{etag}"'.encode())])

    # ------------------------------------------------------------------------- get/head

    def _get(
        self,
        store: FolderObjectStore,
        bucket: str,
        key: str,
        headers: dict[bytes, bytes],
        method: str,
    ) -> _Answer:
        path, info = store.head(bucket, key)
        common = [
            (b"etag", f'"{info.etag}"'.encode()),
            (b"last-modified", formatdate(info.modified, usegmt=True).encode()),
            (b"accept-ranges", b"bytes"),
            (b"content-type", b"binary/octet-stream"),
        ]
        start, stop, status = 0, info.size, 200
        wanted = headers.get(b"range")
        if wanted is not None:
            start, stop = _byte_range(wanted.decode("latin-1"), info.size)
            status = 206
            common.append((b"content-range", f"bytes {start}-{stop - 1}/{info.size}".encode()))
        common.append((b"content-length", str(stop - start).encode()))
        if method == "HEAD":
            return _Answer(status, common)
        return _FileAnswer(status, common, path, start, stop)

    # ---------------------------------------------------------------------------- list

    def _list(self, store: FolderObjectStore, bucket: str, query: dict[str, list[str]]) -> _Answer:
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        token = query.get("continuation-token", [""])[0]
        start_after = query.get("start-after", [""])[0]
        try:
            max_keys = min(int(query.get("max-keys", [str(MAX_LIST_KEYS)])[0]), MAX_LIST_KEYS)
            after = base64.urlsafe_b64decode(token.encode()).decode() if token else start_after
        except (ValueError, UnicodeDecodeError):
            raise S3Error(
                400, "InvalidArgument", "The continuation token provided is incorrect"
            ) from None
        if max_keys < 0:
            raise S3Error(400, "InvalidArgument", "max-keys must be 0 or more")
        encoding = query.get("encoding-type", [""])[0]
        if encoding not in ("", "url"):
            raise S3Error(400, "InvalidArgument", f"Invalid Encoding Method specified: {encoding}")

        def spell(text: str) -> str:  # boto3 asks for url encoding and decodes it back
            return quote_plus(text, safe="/") if encoding else text

        entries: list[ObjectInfo | str] = []  # objects, and common prefixes as str
        seen_prefixes: set[str] = set()
        truncated = False
        last = ""
        for info in store.list_objects(bucket, prefix):
            if info.key <= after:
                continue
            rest = info.key[len(prefix) :]
            common = None
            if delimiter and delimiter in rest:
                common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                if common in seen_prefixes or common <= after:
                    continue
            if len(entries) >= max_keys:
                truncated = True
                break
            if common is not None:
                seen_prefixes.add(common)
                entries.append(common)
                last = common[:-1] + chr(0x10FFFF)  # resume after every key under it
            else:
                entries.append(info)
                last = info.key
        objects = store.with_etags(bucket, [e for e in entries if isinstance(e, ObjectInfo)])
        root = ElementTree.Element("ListBucketResult", xmlns=S3_NS)
        _element(root, "Name", bucket)
        _element(root, "Prefix", spell(prefix))
        if delimiter:
            _element(root, "Delimiter", spell(delimiter))
        _element(root, "MaxKeys", max_keys)
        _element(root, "KeyCount", len(entries))
        _element(root, "IsTruncated", "true" if truncated else "false")
        if token:
            _element(root, "ContinuationToken", token)
        if start_after:
            _element(root, "StartAfter", spell(start_after))
        if encoding:
            _element(root, "EncodingType", encoding)
        if truncated:
            next_token = base64.urlsafe_b64encode(last.encode()).decode()
            _element(root, "NextContinuationToken", next_token)
        for info in objects:
            item = ElementTree.SubElement(root, "Contents")
            _element(item, "Key", spell(info.key))
            _element(item, "LastModified", _iso(info.modified))
            _element(item, "ETag", f'"{info.etag}"')
            _element(item, "Size", info.size)
            _element(item, "StorageClass", "STANDARD")
        for common in (e for e in entries if isinstance(e, str)):
            _element(ElementTree.SubElement(root, "CommonPrefixes"), "Prefix", spell(common))
        return _Answer(200, [(b"content-type", b"application/xml")], _xml(root))

    # -------------------------------------------------------------------------- delete

    def _delete_many(self, store: FolderObjectStore, bucket: str, body: bytes) -> _Answer:
        store.bucket_path(bucket)
        try:
            request = ElementTree.fromstring(body)
        except ElementTree.ParseError as exc:
            raise S3Error(
                400,
                "MalformedXML",
                f"The XML you provided was not well-formed or did not validate: {exc}",
            ) from None
        keys = [node.text or "" for node in request.iter() if node.tag.rpartition("}")[2] == "Key"]
        quiet = any(
            node.tag.rpartition("}")[2] == "Quiet" and (node.text or "").lower() == "true"
            for node in request.iter()
        )
        if len(keys) > MAX_LIST_KEYS:
            raise S3Error(400, "MalformedXML", "DeleteObjects takes at most 1000 keys.")
        root = ElementTree.Element("DeleteResult", xmlns=S3_NS)
        for key in keys:
            try:
                store.delete(bucket, key)
            except ObjectStoreError as error:
                failed = ElementTree.SubElement(root, "Error")
                _element(failed, "Key", key)
                _element(failed, "Code", error.code)
                _element(failed, "Message", error.message)
                continue
            if not quiet:
                _element(ElementTree.SubElement(root, "Deleted"), "Key", key)
        return _Answer(200, [(b"content-type", b"application/xml")], _xml(root))


class _FileAnswer(_Answer):
    """A GetObject answer streamed from the file in 1 MiB pieces, read off the event loop."""

    def __init__(
        self, status: int, headers: list[tuple[bytes, bytes]], path: Any, start: int, stop: int
    ) -> None:
        super().__init__(status, headers)
        self.path, self.start, self.stop = path, start, stop

    async def stream(self, send: Send) -> None:
        with self.path.open("rb") as handle:
            handle.seek(self.start)
            remaining = self.stop - self.start
            while True:
                piece = await asyncio.to_thread(handle.read, min(_SEND_CHUNK, remaining))
                remaining -= len(piece)
                more = remaining > 0 and bool(piece)
                await send({"type": "http.response.body", "body": piece, "more_body": more})
                if not more:
                    return


async def _drain(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise S3Error(400, "IncompleteBody", "The client went away mid-request.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise S3Error(400, "MaxMessageLengthExceeded", f"Request bodies here are ≤ {limit} B.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _too_large(size: int) -> S3Error:
    return S3Error(
        400,
        "EntityTooLarge",
        f"Your proposed upload ({size} bytes or more) exceeds the maximum allowed object size "
        f"of {MAX_OBJECT_BYTES} bytes; split the data into several objects.",
    )


def _check_digests(headers: dict[bytes, bytes], crc: int, md5: Any) -> None:
    sent_crc = headers.get(b"x-amz-checksum-crc32")
    if sent_crc is not None and base64.b64decode(sent_crc) != crc.to_bytes(4, "big"):
        raise S3Error(
            400,
            "BadDigest",
            "The CRC32 you specified did not match the calculated checksum; the body was "
            "damaged on its way: send it again.",
        )
    sent_md5 = headers.get(b"content-md5")
    if sent_md5 is not None and base64.b64decode(sent_md5) != md5.digest():
        raise S3Error(
            400, "BadDigest", "The Content-MD5 you specified did not match what was received."
        )


def _check_checksums(headers: dict[bytes, bytes], body: bytes) -> None:
    md5 = hashlib.md5(body, usedforsecurity=False)
    _check_digests(headers, zlib.crc32(body), md5)


def _byte_range(value: str, size: int) -> tuple[int, int]:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` → ``(start, stop)``, stop exclusive."""
    unit, _, spec = value.partition("=")
    first, dash, last = spec.strip().partition("-")
    try:
        if unit.strip() != "bytes" or not dash or "," in spec:
            raise ValueError(value)
        if first:
            start = int(first)
            stop = min(int(last) + 1, size) if last else size
        else:
            start, stop = max(size - int(last), 0), size
    except ValueError:
        raise _not_implemented(f"Range {value!r} (one 'bytes=first-last' range is)") from None
    if start >= size or start >= stop:
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    return start, stop
