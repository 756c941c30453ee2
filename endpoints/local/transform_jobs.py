"""Batch Transform on the local host: CreateTransformJob, DescribeTransformJob,
ListTransformJobs and StopTransformJob, run over S3 objects with the endpoints' runtimes.

A job does what SageMaker's does, on one machine:

- it lists every object under ``TransformInput``'s ``S3Prefix`` (or the keys of a
  ``ManifestFile``), in key order, from the host's S3 data (:mod:`object_store`: the
  ``--s3-root`` folder its S3 API serves, or the server of ``--s3-endpoint-url``);
- it splits each object into records (``SplitType`` ``None``: the object whole; ``Line``:
  one record per line; ``RecordIO``: one per RecordIO record), packs consecutive records
  into mini-batches (``BatchStrategy`` ``SingleRecord``: one each; ``MultiRecord``: as many
  as fit in ``MaxPayloadInMB``) and scores each one through the path invocations take
  (:func:`~endpoints.local.runtime_api.predict_body`), ``MaxConcurrentTransforms`` x
  ``InstanceCount`` mini-batches at once (at most 64), the model loaded once for the job;
- it writes the answers in input order to ``S3OutputPath/<key below the input prefix>.out``,
  joined as ``AssembleWith`` says (``None``: as they came; ``Line``: each mini-batch's
  answer ends in a newline), so with ``Line`` splitting and an answer line per record, line
  *i* of an ``.out`` belongs to line *i* of its input;
- an object that cannot be transformed — a record the model cannot parse, a record larger
  than ``MaxPayloadInMB`` — gets no ``.out`` (a partial one would break that alignment);
  the job carries on with the other objects and ends ``Failed``, its ``FailureReason``
  naming each failed object and why, after SageMaker's ``ClientError: ...`` wording;
- ``InProgress`` → ``Completed`` | ``Failed``; ``StopTransformJob`` → ``Stopping`` → ``Stopped``:
  no mini-batch starts after the stop, those in flight finish, and the ``.out`` objects
  already written stay, as on SageMaker.

Differences from AWS, on purpose: ``SplitType`` ``TFRecord``, ``AugmentedManifestFile``
and ``Converse`` inputs, ``DataProcessing`` filters or joins and ``DataCaptureConfig`` are
refused at create time (ValidationException saying so) rather than half-done;
``InvocationsTimeoutInSeconds`` is recorded but not enforced (a Python thread cannot be
interrupted); ``MaxPayloadInMB`` 0 (HTTP chunked encoding on AWS) means no size limit per
mini-batch. A job still running when the host stops ends ``Failed`` (``Stopped`` if it was
stopping), also when the host restarts from its state directory.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from endpoints.local import codecs
from endpoints.local.control_plane import Handler, _set_members, validation
from endpoints.local.deployments import load_container, primary_container
from endpoints.local.errors import ApiError, BadInput
from endpoints.local.object_store import ObjectStore, ObjectStoreError, parse_s3_uri
from endpoints.local.runtime_api import predict_body

if TYPE_CHECKING:
    from endpoints.local.control_plane import ControlPlane
    from endpoints.local.runtimes import ModelRuntime

__all__ = ["TransformJobService"]

logger = logging.getLogger(__name__)

KIND = "transform_jobs"
MB = 1024 * 1024
MAX_PAYLOAD_MB = 100  # AWS: MaxPayloadInMB ≤ 100, and MaxConcurrentTransforms x it ≤ 100
DEFAULT_PAYLOAD_MB = 6
DEFAULT_CONCURRENCY = 1
DEFAULT_STRATEGY = "MultiRecord"  # what SageMaker picks when none is given
DEFAULT_INVOCATION_RETRIES = 3
MAX_WORKERS = 64  # threads per job on this one machine, whatever InstanceCount says
FAILURE_REASON_MAX = 1024
TERMINAL = ("Completed", "Failed", "Stopped")
SUPPORTED_SPLITS = ("None", "Line", "RecordIO")
SUPPORTED_DATA_TYPES = ("S3Prefix", "ManifestFile")
SUMMARY_KEYS = (
    "TransformJobName",
    "TransformJobArn",
    "CreationTime",
    "TransformEndTime",
    "LastModifiedTime",
    "TransformJobStatus",
    "FailureReason",
)


# ------------------------------------------------------------------------------ the spec


@dataclass(frozen=True)
class JobSpec:
    """What a CreateTransformJob request asks for, checked and with AWS's defaults."""

    name: str
    model_name: str
    data_type: str
    input_bucket: str
    input_prefix: str
    content_type: str
    split_type: str
    gzip_input: bool
    batch_strategy: str
    max_payload_bytes: int | None  # None: no limit (MaxPayloadInMB 0)
    concurrency: int
    output_bucket: str
    output_prefix: str
    accept: str
    assemble_with: str
    environment: dict[str, str]
    invocation_retries: int

    @classmethod
    def from_request(cls, params: dict[str, Any]) -> JobSpec:
        """Raises ``ValidationException`` for what AWS refuses or this host does not run."""
        payload_mb = params.get("MaxPayloadInMB", DEFAULT_PAYLOAD_MB)
        concurrency = params.get("MaxConcurrentTransforms") or DEFAULT_CONCURRENCY
        if payload_mb > MAX_PAYLOAD_MB:
            raise validation(
                f"MaxPayloadInMB must be at most {MAX_PAYLOAD_MB}; got {payload_mb}. Set "
                "SplitType (Line, RecordIO) so objects are sent in smaller mini-batches."
            )
        if concurrency * payload_mb > MAX_PAYLOAD_MB:
            raise validation(
                f"MaxConcurrentTransforms x MaxPayloadInMB must be at most {MAX_PAYLOAD_MB} "
                f"(MB in flight per instance); got {concurrency} x {payload_mb} = "
                f"{concurrency * payload_mb}. Lower one of them."
            )
        source = params["TransformInput"]["DataSource"]["S3DataSource"]
        transform_input = params["TransformInput"]
        transform_output = params["TransformOutput"]
        data_type = source["S3DataType"]
        split_type = transform_input.get("SplitType", "None")
        if data_type not in SUPPORTED_DATA_TYPES:
            raise _unsupported(f"S3DataType {data_type}", f"S3DataType {SUPPORTED_DATA_TYPES}")
        if split_type not in SUPPORTED_SPLITS:
            raise _unsupported(f"SplitType {split_type}", f"SplitType {SUPPORTED_SPLITS}")
        if params.get("DataCaptureConfig"):
            raise _unsupported("DataCaptureConfig", "no data capture")
        processing = params.get("DataProcessing") or {}
        if (
            processing.get("InputFilter", "$") != "$"
            or processing.get("OutputFilter", "$") != "$"
            or processing.get("JoinSource", "None") != "None"
        ):
            raise _unsupported(
                "DataProcessing (InputFilter, OutputFilter, JoinSource)",
                "the identity filter '$' and JoinSource None",
            )
        input_bucket, input_prefix = _s3_location(source["S3Uri"], "TransformInput")
        output_bucket, output_prefix = _s3_location(
            transform_output["S3OutputPath"], "TransformOutput.S3OutputPath"
        )
        content_type = codecs.normalize_media_type(transform_input.get("ContentType")) or codecs.CSV
        try:
            accept = codecs.resolve_accept(transform_output.get("Accept"), content_type)
        except ApiError as error:
            raise validation(f"TransformOutput.Accept: {error.message}") from None
        client_config = params.get("ModelClientConfig") or {}
        instances = params["TransformResources"]["InstanceCount"]
        return cls(
            name=params["TransformJobName"],
            model_name=params["ModelName"],
            data_type=data_type,
            input_bucket=input_bucket,
            input_prefix=input_prefix,
            content_type=content_type,
            split_type=split_type,
            gzip_input=transform_input.get("CompressionType", "None") == "Gzip",
            batch_strategy=params.get("BatchStrategy", DEFAULT_STRATEGY),
            max_payload_bytes=payload_mb * MB if payload_mb else None,
            concurrency=min(concurrency * instances, MAX_WORKERS),
            output_bucket=output_bucket,
            output_prefix=output_prefix,
            accept=accept,
            assemble_with=transform_output.get("AssembleWith", "None"),
            environment=dict(params.get("Environment") or {}),
            invocation_retries=client_config.get(
                "InvocationsMaxRetries", DEFAULT_INVOCATION_RETRIES
            ),
        )

    def output_key(self, relative: str) -> str:
        """Where the answers for the input object at ``relative`` go (``.out`` appended)."""
        base = self.output_prefix.rstrip("/")
        return f"{base}/{relative}.out" if base else f"{relative}.out"


def _unsupported(what: str, supported: str) -> ApiError:
    return validation(
        f"{what} is not supported by the local endpoint host's transform jobs; it runs {supported}."
    )


def _s3_location(uri: str, where: str) -> tuple[str, str]:
    try:
        return parse_s3_uri(uri)
    except ValueError:
        raise validation(
            f"{where}: expected an s3://bucket/prefix URI, got {uri!r}; the local host reads "
            "and writes transform data on S3 (its --s3-root or --s3-endpoint-url)."
        ) from None


# --------------------------------------------------------------------- records, batches


@dataclass(frozen=True)
class Records:
    """An object's records as offsets into one buffer: record *i* is
    ``data[bounds[i]:bounds[i + 1]]``. Mini-batches are slices of ``data``, one copy each,
    never a million small ``bytes`` joined again (half a job's time, measured)."""

    data: bytes
    bounds: np.ndarray  # int64, len = records + 1

    @classmethod
    def split(cls, data: bytes, split_type: str) -> Records:
        """The object whole (``None``), its lines (each with its newline; a last line
        without one too), or its RecordIO records (each framed whole again, so a record a
        writer split in parts is one record here)."""
        if split_type == "None":
            return cls(data, np.array([0, len(data)] if data else [0], dtype=np.int64))
        if split_type == "Line":
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A) + 1
            tail = [len(data)] if len(data) and (not ends.size or ends[-1] != len(data)) else []
            return cls(data, np.concatenate([[0], ends, tail]).astype(np.int64))
        from serde.recordio import frame_record, read_recordio

        frames = [frame_record(payload) for payload in read_recordio(data)]
        sizes = np.fromiter(map(len, frames), dtype=np.int64, count=len(frames))
        return cls(b"".join(frames), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))

    def __len__(self) -> int:
        return len(self.bounds) - 1


@dataclass(frozen=True)
class MiniBatch:
    """Records ``first`` .. ``first + count - 1`` (0-based) of one object, as one body."""

    first: int
    count: int
    body: bytes


class RecordTooLarge(Exception):
    def __init__(self, index: int, size: int, limit: int) -> None:
        super().__init__(index, size, limit)
        self.index, self.size, self.limit = index, size, limit


def mini_batches(records: Records, strategy: str, limit: int | None) -> Iterator[MiniBatch]:
    """``records`` packed as ``strategy`` says — one each, or as many consecutive ones as
    fit in ``limit`` bytes (``None``: all) — raising :class:`RecordTooLarge` first if any
    record alone is over the limit."""
    bounds = records.bounds
    count = len(records)
    if limit is not None and count:
        sizes = np.diff(bounds)
        largest = int(np.argmax(sizes))
        if sizes[largest] > limit:
            raise RecordTooLarge(largest, int(sizes[largest]), limit)
    first = 0
    while first < count:
        if strategy == "SingleRecord":
            stop = first + 1
        elif limit is None:
            stop = count
        else:  # the most records whose bytes fit: the last bound within start + limit
            stop = int(np.searchsorted(bounds, bounds[first] + limit, side="right")) - 1
        body = records.data[bounds[first] : bounds[stop]]
        yield MiniBatch(first, stop - first, body)
        first = stop


def assemble(answers: list[bytes], assemble_with: str) -> bytes:
    """The ``.out`` body: answers concatenated, each ending in a newline for ``Line``."""
    if assemble_with == "Line":
        return b"".join(a if a.endswith(b"\n") else a + b"\n" for a in answers)
    return b"".join(answers)


# ------------------------------------------------------------------------------ failures


class BatchFailure(Exception):
    """A mini-batch the model did not transform: ``category`` is SageMaker's word for whose
    fault it was (``ClientError``: the data; ``ServerError``: the model), ``status`` the
    container's HTTP status."""

    def __init__(self, category: str, status: int, message: str) -> None:
        super().__init__(message)
        self.category, self.status, self.message = category, status, message


@dataclass
class ObjectFailure:
    """Why an input object got no ``.out``; ``category`` as in :class:`BatchFailure`."""

    uri: str
    category: str
    detail: str

    def __str__(self) -> str:
        return f"{self.uri}: {self.category}: {self.detail}"


def failure_reason(failures: list[ObjectFailure], total: int) -> str:
    """FailureReason for a job whose objects ``failures`` got no ``.out``: SageMaker's
    opening (``ClientError: See job logs for more information``, ``AlgorithmError`` when
    the model failed) and what its job log says, object by object, within AWS's 1,024
    characters."""
    category = "ClientError" if failures[0].category == "ClientError" else "AlgorithmError"
    head = (
        f"{category}: See job logs for more information. {len(failures)} of {total} input "
        "objects could not be transformed and have no .out: "
    )
    return _truncate(head + "; ".join(str(f) for f in failures))


def _truncate(text: str) -> str:
    if len(text) <= FAILURE_REASON_MAX:
        return text
    return text[: FAILURE_REASON_MAX - 3] + "..."


# ----------------------------------------------------------------------------- the run


@dataclass
class _ObjectRun:
    """One input object on its way through the job."""

    key: str
    relative: str
    uri: str
    batches: list[Future] = field(default_factory=list)
    failure: ObjectFailure | None = None
    cancelled: bool = False


class _JobRun:
    """One running job: its thread, its stop signal, its pool of mini-batch workers."""

    def __init__(self, service: TransformJobService, spec: JobSpec, container: dict) -> None:
        self.service = service
        self.spec = spec
        self.container = container
        self.stop = threading.Event()
        self.shutdown = False  # the host is stopping, not the user
        self.cut_short = False  # some input was left untransformed because of a stop
        self.thread = threading.Thread(
            target=self._run, name=f"transform-job:{spec.name}", daemon=True
        )
        self._window = threading.BoundedSemaphore(spec.concurrency)
        self._runtime: ModelRuntime | None = None

    # ------------------------------------------------------------------------- running

    def _run(self) -> None:
        spec = self.spec
        try:
            try:
                self._runtime = load_container(self.service.artifacts, self.container)
            except Exception as exc:  # any load failure is the job's
                self._finish(
                    f"AlgorithmError: The model {spec.model_name!r} could not be loaded: {exc}"
                )
                return
            inputs = self._inputs()
            if isinstance(inputs, str):
                self._finish(inputs)
                return
            failures = self._transform(inputs)
            reason = failure_reason(failures, len(inputs)) if failures else None
            self._finish(reason)
        except Exception as exc:  # a bug must fail the job, not leave it InProgress
            logger.exception("transform job %s failed unexpectedly", spec.name)
            self._finish(f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            if self._runtime is not None:
                self._runtime.close()

    def _inputs(self) -> list[tuple[str, str]] | str:
        """``(key, key below the prefix)`` of every input object, or the FailureReason."""
        spec = self.spec
        store = self.service.objects
        source = f"s3://{spec.input_bucket}/{spec.input_prefix}"
        try:
            if spec.data_type == "ManifestFile":
                return self._manifest(store, source)
            listed = store.list_objects(spec.input_bucket, spec.input_prefix)
        except ObjectStoreError as error:
            return f"ClientError: Could not read {source} from {store.where()}: {error.message}"
        base = spec.input_prefix[: spec.input_prefix.rfind("/") + 1]
        keys = [(info.key, info.key[len(base) :]) for info in listed if not info.key.endswith("/")]
        if not keys:
            return (
                f"ClientError: No S3 objects found under S3 URL {source!r} given in input "
                f"data source. Please ensure that the bucket exists and that objects exist "
                f"under that S3 prefix ({store.where()})."
            )
        return keys

    def _manifest(self, store: ObjectStore, source: str) -> list[tuple[str, str]] | str:
        """A manifest: ``[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...]``."""
        try:
            manifest = orjson.loads(store.get(self.spec.input_bucket, self.spec.input_prefix))
            bucket, prefix = parse_s3_uri(manifest[0]["prefix"])
            relatives = [str(entry) for entry in manifest[1:]]
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError) as exc:
            return (
                f"ClientError: The manifest {source} is not a JSON list "
                f'[{{"prefix": "s3://bucket/prefix/"}}, "key", ...]: {exc}'
            )
        if bucket != self.spec.input_bucket:
            return (
                f"ClientError: The manifest {source} names bucket {bucket!r}; the local host "
                "reads a manifest's objects from the manifest's own bucket."
            )
        return [(prefix + relative, relative) for relative in relatives]

    def _transform(self, inputs: list[tuple[str, str]]) -> list[ObjectFailure]:
        """Every object through the model; returns the objects that failed."""
        spec = self.spec
        failures: list[ObjectFailure] = []
        pending: deque[_ObjectRun] = deque()
        with ThreadPoolExecutor(spec.concurrency, thread_name_prefix=f"tj:{spec.name}") as pool:
            for key, relative in inputs:
                if self.stop.is_set():
                    self.cut_short = True
                    break
                run = _ObjectRun(key, relative, f"s3://{spec.input_bucket}/{key}")
                pending.append(run)
                self._submit(pool, run)
                while pending and all(f.done() for f in pending[0].batches):
                    self._complete(pending.popleft(), failures)
            while pending:
                self._complete(pending.popleft(), failures)
        return failures

    def _submit(self, pool: ThreadPoolExecutor, run: _ObjectRun) -> None:
        """Read, split and pack ``run``'s object and queue its mini-batches (at most
        ``concurrency`` in flight for the whole job)."""
        spec = self.spec
        try:
            data = self.service.objects.get(spec.input_bucket, run.key)
            if spec.gzip_input:
                data = gzip.decompress(data)
            records = Records.split(data, spec.split_type)
            batches = list(mini_batches(records, spec.batch_strategy, spec.max_payload_bytes))
        except ObjectStoreError as error:
            run.failure = ObjectFailure(run.uri, "ClientError", f"could not read: {error.message}")
            return
        except (OSError, EOFError) as exc:  # gzip
            run.failure = ObjectFailure(run.uri, "ClientError", f"not gzip data: {exc}")
            return
        except RecordTooLarge as big:
            run.failure = ObjectFailure(
                run.uri,
                "ClientError",
                f"record {big.index + 1} is {big.size} bytes, over MaxPayloadInMB "
                f"({big.limit // MB} MB = {big.limit} bytes); "
                + (
                    "SplitType None sends each object whole: set SplitType Line or RecordIO"
                    if spec.split_type == "None"
                    else "raise MaxPayloadInMB or write smaller records"
                ),
            )
            return
        except Exception as exc:  # RecordIO framing (serde's ResponseParseError)
            run.failure = ObjectFailure(
                run.uri, "ClientError", f"not {spec.split_type}-split data: {exc}"
            )
            return
        for batch in batches:
            if self.stop.is_set():
                run.cancelled = self.cut_short = True
                return
            self._window.acquire()
            if self.stop.is_set():  # stopped while waiting for a free slot
                self._window.release()
                run.cancelled = self.cut_short = True
                return
            future = pool.submit(self._score, run, batch)
            future.add_done_callback(lambda _f: self._window.release())
            run.batches.append(future)

    def _score(self, run: _ObjectRun, batch: MiniBatch) -> bytes:
        """One mini-batch through the model: the answer body, or :class:`BatchFailure`."""
        if run.failure is not None:  # an earlier mini-batch of this object failed
            return b""
        spec = self.spec
        runtime = self._runtime
        assert runtime is not None
        attempts = 1 + max(spec.invocation_retries, 0)
        for attempt in range(1, attempts + 1):
            try:
                outputs, request = predict_body(runtime, batch.body, spec.content_type)
                return codecs.encode_response(outputs, request.rows, spec.accept, request.columnar)
            except BadInput as error:
                failure = BatchFailure("ClientError", 400, error.message)
                raise self._failed(run, batch, failure) from None
            except ApiError as error:
                raise self._failed(
                    run, batch, BatchFailure("ClientError", error.status, error.message)
                ) from None
            except Exception as exc:  # the model's own failure, whatever it raised
                if attempt == attempts:
                    failure = BatchFailure("ServerError", 500, f"{type(exc).__name__}: {exc}")
                    raise self._failed(run, batch, failure) from None
                logger.info(
                    "transform job %s: %s mini-batch %d: attempt %d of %d failed: %r",
                    spec.name,
                    run.uri,
                    batch.first,
                    attempt,
                    attempts,
                    exc,
                )
        raise AssertionError("unreachable")

    def _failed(self, run: _ObjectRun, batch: MiniBatch, failure: BatchFailure) -> BatchFailure:
        records = (
            f"record {batch.first + 1}"
            if batch.count == 1
            else f"records {batch.first + 1}-{batch.first + batch.count}"
        )
        if run.failure is None:
            run.failure = ObjectFailure(
                run.uri,
                failure.category,
                f"{failure.status}: {records}: Message: {failure.message}",
            )
        logger.warning(
            "transform job %s: %s: %s: %d (%s) Message: %s",
            self.spec.name,
            run.uri,
            failure.category,
            failure.status,
            records,
            failure.message,
        )
        return failure

    def _complete(self, run: _ObjectRun, failures: list[ObjectFailure]) -> None:
        """Wait for ``run``'s mini-batches; write its ``.out`` if all succeeded."""
        for future in run.batches:
            future.exception()  # wait; a failed mini-batch already set run.failure
        if run.failure is not None:
            failures.append(run.failure)
            return
        if run.cancelled:  # stopped part-way: a partial .out would lose the alignment
            return
        spec = self.spec
        out_key = spec.output_key(run.relative)
        try:
            answers = [future.result() for future in run.batches]
            self.service.objects.put(
                spec.output_bucket, out_key, assemble(answers, spec.assemble_with)
            )
        except ObjectStoreError as error:
            failures.append(
                ObjectFailure(
                    run.uri,
                    "ClientError",
                    f"could not write s3://{spec.output_bucket}/{out_key}: {error.message}",
                )
            )

    def _finish(self, failure: str | None) -> None:
        self.service.finish(self, failure)


# ------------------------------------------------------------------------------ service


class TransformJobService:
    """The transform-job operations, registered on the control plane
    (``control.add_operations(service.operations())``), and the jobs they run."""

    def __init__(self, control: ControlPlane, objects: ObjectStore | None) -> None:
        self.control = control
        self.store = control.store
        self.artifacts = control.manager.artifacts
        self.objects_or_none = objects
        self._runs: dict[str, _JobRun] = {}
        self._lock = threading.Lock()
        self._interrupted_by_restart()

    @property
    def objects(self) -> ObjectStore:
        assert self.objects_or_none is not None  # checked at create
        return self.objects_or_none

    def operations(self) -> dict[str, Handler]:
        return {
            "CreateTransformJob": self.create_transform_job,
            "DescribeTransformJob": self.describe_transform_job,
            "ListTransformJobs": self.list_transform_jobs,
            "StopTransformJob": self.stop_transform_job,
        }

    def _missing(self, name: str) -> ApiError:
        return validation(f"Could not find requested job with name {name}")

    # -------------------------------------------------------------------------- create

    def create_transform_job(self, params: dict[str, Any]) -> dict[str, Any]:
        spec = JobSpec.from_request(params)
        if self.objects_or_none is None:
            raise validation(
                "This local host has no S3 data for transform jobs: start it with --s3-root "
                "DIR (objects are files there, and the host serves them over S3's API) or "
                "--s3-endpoint-url URL (any S3-compatible server)."
            )
        arn = self.control.arn(KIND, spec.name)
        with self.store.transaction() as store:
            if spec.name in store.resources[KIND]:
                raise ApiError(
                    400,
                    "ResourceInUse",
                    "Transform job names must be unique within an AWS account and region, and "
                    f"a transform job with this name already exists ({arn})",
                )
            model = store.resources["models"].get(spec.model_name)
            if model is None:
                raise self.control._missing("model", "models", spec.model_name)
            stamp = store.now()
            store.resources[KIND][spec.name] = {
                **_set_members(params, "DescribeTransformJob"),
                "TransformJobArn": arn,
                "TransformJobStatus": "InProgress",
                "MaxConcurrentTransforms": params.get("MaxConcurrentTransforms")
                or DEFAULT_CONCURRENCY,
                "MaxPayloadInMB": params.get("MaxPayloadInMB", DEFAULT_PAYLOAD_MB),
                "BatchStrategy": spec.batch_strategy,
                "CreationTime": stamp,
                "TransformStartTime": stamp,
                "LastModifiedTime": stamp,  # ListTransformJobs answers it; Describe does not
            }
            self.control._tag_on_create(arn, params.get("Tags"))
            container = dict(primary_container(model))
            container["Environment"] = {**(container.get("Environment") or {}), **spec.environment}
            run = _JobRun(self, spec, container)
            with self._lock:
                self._runs[spec.name] = run
        run.thread.start()
        logger.info("transform job %s started on model %s", spec.name, spec.model_name)
        return {"TransformJobArn": arn}

    # --------------------------------------------------------------- describe, list, stop

    def describe_transform_job(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self.store.get(KIND, params["TransformJobName"])
        if record is None:
            raise self._missing(params["TransformJobName"])
        record.pop("LastModifiedTime", None)
        return record

    def list_transform_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self.control._list(
            KIND, "TransformJobName", params, status_key="TransformJobStatus"
        )
        summaries = [{k: r[k] for k in SUMMARY_KEYS if k in r} for r in page]
        return self.control._page("TransformJobSummaries", summaries, token)

    def stop_transform_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TransformJobName"]
        with self.store.transaction() as store:
            record = store.resources[KIND].get(name)
            if record is None:
                raise self._missing(name)
            status = record["TransformJobStatus"]
            if status in TERMINAL:
                raise validation(
                    f"The request was rejected because the transform job is in status {status}."
                )
            if status == "InProgress":
                record["TransformJobStatus"] = "Stopping"
                record["LastModifiedTime"] = store.now()
        with self._lock:
            run = self._runs.get(name)
        if run is not None:
            run.stop.set()
        return {}

    # ------------------------------------------------------------------------ lifecycle

    def finish(self, run: _JobRun, failure: str | None) -> None:
        """Record how ``run`` ended: Stopped if the user stopped it; Failed if the host's
        shutdown cut it short, or with ``failure``; else Completed."""
        name = run.spec.name
        status = "gone"
        with self.store.transaction() as store:
            record = store.resources[KIND].get(name)
            if record is not None:
                stamp = store.now()
                if record["TransformJobStatus"] == "Stopping":
                    status, failure = "Stopped", None
                elif run.shutdown and run.cut_short:
                    status = "Failed"
                    failure = (
                        "InternalServerError: The local endpoint host stopped while the job "
                        "was running; create the job again under a new name."
                    )
                else:
                    status = "Failed" if failure else "Completed"
                record["TransformJobStatus"] = status
                record["TransformEndTime"] = stamp
                record["LastModifiedTime"] = stamp
                if failure:
                    record["FailureReason"] = _truncate(failure)
        with self._lock:
            self._runs.pop(name, None)
        logger.info("transform job %s: %s%s", name, status, f": {failure}" if failure else "")

    def _interrupted_by_restart(self) -> None:
        """Jobs a previous host run left InProgress or Stopping can never finish."""
        with self.store.transaction() as store:
            for record in store.resources[KIND].values():
                status = record["TransformJobStatus"]
                if status not in ("InProgress", "Stopping"):
                    continue
                stamp = store.now()
                record["TransformEndTime"] = stamp
                record["LastModifiedTime"] = stamp
                if status == "Stopping":
                    record["TransformJobStatus"] = "Stopped"
                else:
                    record["TransformJobStatus"] = "Failed"
                    record["FailureReason"] = (
                        "InternalServerError: The local endpoint host restarted while the job "
                        "was running; create the job again under a new name."
                    )

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop every running job (the host is shutting down) and wait for them briefly."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.shutdown = True
            run.stop.set()
        for run in runs:
            run.thread.join(timeout_s)
