"""``transform`` as a Batch Transform job: pin the input, stage it, run the job, read back.

Unlike the endpoint path, which is lazy, this runs when ``transform`` is called: the job
must have answered before a DataFrame of its answers exists. The DataFrame it returns reads
the ``.out`` objects when an action runs, so they stay in S3 until cleanup (they are
recorded in ``created_resources``, with the staged input and the job).

1. **Pin**: each row gets its identity (``monotonically_increasing_id``: partition and
   position), then ``localCheckpoint`` materializes the input once, so the rows read back
   are the rows staged (a recomputed source could reorder them).
2. **Stage** (a Spark job): each partition's rows, serialized as on the endpoint path, to
   ``<staging>/<job>/input/`` (:mod:`endpoints.batch.staging`).
3. **Run**: CreateTransformJob over that prefix with the split the format needs, then
   DescribeTransformJob until it ends, logging how many objects have their ``.out``; past
   ``wait_timeout_s``, or if interrupted, the job is stopped before ``transform`` fails.
4. **Read back** (lazy): :mod:`endpoints.batch.readback`, through the same Arrow UDF plan
   as the endpoint path, each answer found by its row's identity — so an action that reads
   some rows (``limit``, a filter Spark pushes below the UDF) gets exactly theirs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as sf

from endpoints.batch.options import BatchTransform, S3Location, SplitFormat, split_format
from endpoints.batch.readback import ROW_ID, PartitionPlan, PartitionReader
from endpoints.batch.s3 import S3Access
from endpoints.batch.staging import STAGED_SCHEMA, PartitionStager
from endpoints.errors import ConfigurationError, TransformJobError
from endpoints.lifecycle.hosting import (
    ControlPlaneCalls,
    EndpointDeployer,
    region_of,
    tag_list_of,
)
from endpoints.lifecycle.naming import NamePolicy
from endpoints.lifecycle.resources import CreatedResources, ResourceKind
from endpoints.scoring.options import EngineOptions
from endpoints.scoring.results import result_struct_type
from endpoints.scoring.spark_plan import crossing_columns, score_dataframe
from serde.base import RequestRowSerializer, ResponseRowDeserializer

__all__ = ["BatchTransformRunner", "ModelData", "batch_runner"]

log = logging.getLogger("endpoints.batch")

_RUNNING = frozenset({"InProgress", "Stopping"})
_MB = 1024 * 1024


@dataclass(frozen=True)
class ModelData:
    """A model to create for the jobs: its artifacts, image, role and environment."""

    model_data_url: str
    model_image: str
    role_arn: str
    environment: Mapping[str, str] | None = None


class BatchTransformRunner:
    """Runs a model's transforms as Batch Transform jobs and records what each created.

    Args:
        sagemaker_client: a boto3 ``sagemaker`` client.
        backend: the job's settings.
        model_name: an existing SageMaker model; or ``model_data`` to create one (once,
            on the first transform, tagged and recorded for cleanup).
        s3: where the S3 API is (the staging data's).
        name_policy: names the model and each job (default: unique names).
        tags: extra tags on the model and every job.
    """

    FIRST_POLL_S = 0.5

    def __init__(
        self,
        sagemaker_client: Any,
        backend: BatchTransform,
        *,
        model_name: str | None = None,
        model_data: ModelData | None = None,
        s3: S3Access | None = None,
        name_policy: NamePolicy | None = None,
        tags: Mapping[str, str] | None = None,
        manifest_path: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (model_name is None) == (model_data is None):
            raise ConfigurationError(
                "give the model to run the jobs with: model_name= (an existing SageMaker "
                "model) or model data to create one, not both"
            )
        self.client = sagemaker_client
        self.backend = backend
        self.model_name = model_name
        self.model_data = model_data
        self.s3 = s3 or S3Access(backend.s3_endpoint_url, region_of(sagemaker_client))
        self.name_policy = name_policy or NamePolicy()
        self.manifest_path = manifest_path
        self._sleep = sleep
        self._clock = clock
        self.deployer = EndpointDeployer(sagemaker_client, sleep=sleep, clock=clock)
        #: Everything the jobs created: the model (if created here), the latest job, and
        #: every run's staging prefix (its input and output objects).
        self.created: CreatedResources = self.deployer.new_run(tags)
        self._lock = threading.Lock()

    @property
    def calls(self) -> ControlPlaneCalls:
        return self.deployer.calls

    # -- the run --------------------------------------------------------------------------

    def transform(
        self,
        dataset: DataFrame,
        serializer: RequestRowSerializer,
        deserializer: ResponseRowDeserializer,
        options: EngineOptions,
    ) -> DataFrame:
        if dataset.isStreaming:
            raise ConfigurationError(
                "a streaming DataFrame cannot be scored by a transform job (it scores a "
                "finished input); use an endpoint"
            )
        fmt = split_format(serializer)
        if ROW_ID in dataset.columns:
            raise ConfigurationError(f"the input has a column {ROW_ID!r}, which transform adds")
        with self._lock:
            model_name = self._model()
            job_name = self.name_policy.names().endpoint_name
            base = self.backend.staging.child(job_name)
            self.created.s3_prefixes.append(base.uri)  # before anything is written there
            self._save_manifest()
        input_location, output_location = base.child("input"), base.child("output")
        # each row's identity, then the input pinned: read back finds answers by row
        pinned = dataset.withColumn(ROW_ID, sf.monotonically_increasing_id()).localCheckpoint(
            eager=True
        )
        stager = PartitionStager(
            serializer,
            input_location,
            self.s3,
            fmt,
            max_record_bytes=self.backend.max_payload_mb * _MB,
            max_object_bytes=self.backend.max_object_mb * _MB,
        )
        _, columns = crossing_columns(pinned, serializer)
        staged = pinned.select(*columns, ROW_ID).mapInArrow(stager, STAGED_SCHEMA).collect()
        plans = _plans(staged)
        keys = [key for plan in plans.values() for key, _, _ in plan.objects]
        log.info(
            "transform job %s: staged %d objects, %d rows, under %s",
            job_name,
            len(keys),
            sum(p.rows for p in plans.values()),
            input_location.uri,
        )
        reason = None
        if keys:
            description = self._run_job(
                job_name,
                model_name,
                input_location,
                output_location,
                fmt,
                serializer,
                deserializer,
                len(keys),
            )
            reason = self._check_outcome(
                description, keys, input_location, output_location, options
            )
        reader = PartitionReader(
            plans,
            deserializer,
            options,
            input_location=input_location,
            output_location=output_location,
            s3=self.s3,
            job_name=job_name,
            failure_reason=reason,
        )
        return score_dataframe(
            pinned,
            reader,
            result_struct_type(deserializer, options),
            prepend_result_rows=options.prepend_result_rows,
            crossing=([ROW_ID], [pinned[ROW_ID]]),
        ).drop(ROW_ID)

    def _model(self) -> str:
        if self.model_name is None:
            data = self.model_data
            assert data is not None
            name = self.name_policy.names().model_name
            self.deployer.create_model(
                self.created,
                name,
                data.model_data_url,
                data.model_image,
                data.role_arn,
                data.environment,
            )
            self.model_name = name
        return self.model_name

    def _run_job(
        self,
        job_name: str,
        model_name: str,
        input_location: S3Location,
        output_location: S3Location,
        fmt: SplitFormat,
        serializer: RequestRowSerializer,
        deserializer: ResponseRowDeserializer,
        objects: int,
    ) -> dict[str, Any]:
        backend = self.backend
        request: dict[str, Any] = {
            "TransformJobName": job_name,
            "ModelName": model_name,
            "MaxPayloadInMB": backend.max_payload_mb,
            "BatchStrategy": backend.batch_strategy,
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_location.uri}
                },
                "ContentType": serializer.content_type,
                "SplitType": fmt.split_type,
            },
            "TransformOutput": {
                "S3OutputPath": output_location.uri,
                "Accept": deserializer.accepts,
                "AssembleWith": fmt.assemble_with,
            },
            "TransformResources": {
                "InstanceType": backend.instance_type,
                "InstanceCount": backend.instance_count,
            },
            "Tags": tag_list_of(self.created),
        }
        if backend.max_concurrent_transforms is not None:
            request["MaxConcurrentTransforms"] = backend.max_concurrent_transforms
        if backend.environment:
            request["Environment"] = dict(backend.environment)
        self.calls.call(self.client.create_transform_job, idempotent=False, **request)
        self.created.transform_job_name = job_name
        self.created.record_identity(
            ResourceKind.TRANSFORM_JOB,
            self.calls.call(self.client.describe_transform_job, TransformJobName=job_name),
        )
        self._save_manifest()
        try:
            return self._wait(job_name, output_location, objects)
        except BaseException:
            self._stop(job_name)  # a timeout or an interrupt: nothing may keep billing
            raise

    def _wait(self, job_name: str, output: S3Location, objects: int) -> dict[str, Any]:
        started = self._clock()
        pause = self.FIRST_POLL_S
        while True:
            description = self.calls.call(
                self.client.describe_transform_job, TransformJobName=job_name
            )
            status = description.get("TransformJobStatus")
            waited = self._clock() - started
            done = sum(
                1 for key in self.s3.keys(output.bucket, output.prefix) if key.endswith(".out")
            )
            log.info(
                "transform job %s: %s, %d of %d objects answered, %.0fs",
                job_name,
                status,
                done,
                objects,
                waited,
            )
            if status not in _RUNNING:
                return description
            if waited + pause > self.backend.wait_timeout_s:
                raise TransformJobError(
                    f"transform job {job_name!r} was still {status} after {waited:.0f}s "
                    f"(wait_timeout_s={self.backend.wait_timeout_s:g}); it was stopped. Raise "
                    "wait_timeout_s or add instances (instance_count)",
                    job_name=job_name,
                )
            self._sleep(pause)
            pause = min(pause * 2, self.backend.poll_interval_s)

    def _stop(self, job_name: str) -> None:
        try:
            self.calls.call(self.client.stop_transform_job, TransformJobName=job_name)
            log.warning("transform job %s: stopped", job_name)
        except Exception as exc:  # already finished, or the call failed: say so, go on
            log.warning("transform job %s: could not stop it: %s", job_name, exc)

    def _check_outcome(
        self,
        description: dict[str, Any],
        keys: list[str],
        input_location: S3Location,
        output_location: S3Location,
        options: EngineOptions,
    ) -> str | None:
        """The job's FailureReason; raises when the job failed and errors fail the job."""
        status = description.get("TransformJobStatus")
        if status == "Completed":
            return None
        reason = description.get("FailureReason") or f"the job ended {status}"
        if options.on_error == "column":
            return reason
        answered = {
            key[len(output_location.prefix) : -len(".out")]
            for key in self.s3.keys(output_location.bucket, output_location.prefix)
        }
        missing = [
            f"s3://{input_location.bucket}/{key}"
            for key in keys
            if key[len(input_location.prefix) :] not in answered
        ]
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise TransformJobError(
            f"transform job {description.get('TransformJobName')!r} ended {status}: {reason}. "
            f"Input objects without output ({len(missing)} of {len(keys)}): {shown or 'none'}. "
            "Use on_error='column' to keep the rows that were answered",
            job_name=description.get("TransformJobName"),
            objects=missing,
        )

    def _save_manifest(self) -> None:
        if self.manifest_path and self.created:
            self.created.write_manifest(self.manifest_path)


def _plans(staged: list[Any]) -> dict[int, PartitionPlan]:
    objects: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    failures: dict[int, list[tuple[int, str]]] = defaultdict(list)
    rows: dict[int, int] = defaultdict(int)
    for r in staged:
        rows[r.partition] = max(rows[r.partition], r.stop)
        if r.key is not None:
            objects[r.partition].append((r.key, r.start, r.stop))
        else:
            failures[r.partition].append((r.start, r.error))
    return {
        p: PartitionPlan(
            rows[p], tuple(sorted(objects[p], key=lambda o: o[1])), tuple(sorted(failures[p]))
        )
        for p in rows
    }


def batch_runner(
    backend: BatchTransform,
    *,
    sagemaker_client: Any,
    model_name: str | None = None,
    model_path: str | None = None,
    model_image: str | None = None,
    model_execution_role_arn: str | None = None,
    model_environment_variables: Mapping[str, str] | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    name_policy: NamePolicy | None = None,
    tags: Mapping[str, str] | None = None,
    manifest_path: str | None = None,
) -> BatchTransformRunner:
    """The runner behind ``SageMakerModel.from_batch_transform`` (its arguments, checked):
    S3 is ``backend.s3_endpoint_url``, else ``endpoint_url``, else AWS."""
    model_data = None
    if model_path is not None:
        if not (model_image and model_execution_role_arn):
            raise ConfigurationError(
                "model_path needs model_image and model_execution_role_arn to create the "
                "model the job runs"
            )
        model_data = ModelData(
            model_path, model_image, model_execution_role_arn, model_environment_variables
        )
    s3 = S3Access(backend.s3_endpoint_url or endpoint_url, region or region_of(sagemaker_client))
    return BatchTransformRunner(
        sagemaker_client,
        backend,
        model_name=model_name,
        model_data=model_data,
        s3=s3,
        name_policy=name_policy,
        tags=tags,
        manifest_path=manifest_path,
    )
