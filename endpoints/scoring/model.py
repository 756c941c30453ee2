"""``SageMakerModel``: a ``pyspark.ml`` Model whose ``transform`` scores rows on an endpoint.

It keeps sagemaker_pyspark's vocabulary (``from_endpoint``, ``from_model_s3_path``,
``from_training_job``, ``endpoint_creation_policy``, ``prepend_result_rows``,
``created_resources``) and adds what that library lacks: concurrency with back-pressure,
retries, a result-count check on every response, an error column, and any endpoint kind.

Everything the model needs on executors travels as plain configuration: the endpoint as a
description (clients are built on the executor), the SerDes as registry names + options.
That is also what a saved Pipeline stores, so registered SerDes survive ``save``/``load``.
"""

from __future__ import annotations

import enum
import json
import logging
from typing import TYPE_CHECKING, Any, Protocol

from pyspark.ml import Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable, MLWriter
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from endpoints.clients.sagemaker_runtime import SageMakerEndpoint
from endpoints.clients.specs import endpoint_from_spec
from endpoints.clients.transport import Endpoint
from endpoints.errors import ConfigurationError
from endpoints.lifecycle.deployment import Deployment
from endpoints.lifecycle.hosting import EndpointDeployer
from endpoints.lifecycle.resources import CreatedResources
from endpoints.retry import RetryPolicy
from endpoints.scoring.engine import PartitionScorer
from endpoints.scoring.metrics import MetricsAccumulatorParam, TransformMetrics
from endpoints.scoring.options import EngineOptions
from endpoints.scoring.results import output_schema, result_struct_type
from endpoints.scoring.spark_plan import crossing_columns, score_dataframe
from serde.base import RequestRowSerializer, ResponseRowDeserializer
from serde.errors import SerdeError
from serde.registry import deserializer_from_spec, serde_spec, serializer_from_spec

if TYPE_CHECKING:
    from endpoints.batch.options import BatchTransform

__all__ = ["EndpointCreationPolicy", "SageMakerModel", "TransformBackend"]

log = logging.getLogger("endpoints.scoring.model")


class TransformBackend(Protocol):
    """What runs ``transform`` instead of the endpoint engine (a Batch Transform job:
    :class:`endpoints.batch.BatchTransformRunner`), and records what it created."""

    created: CreatedResources

    def transform(
        self,
        dataset: DataFrame,
        serializer: RequestRowSerializer,
        deserializer: ResponseRowDeserializer,
        options: EngineOptions,
    ) -> DataFrame: ...


class EndpointCreationPolicy(enum.Enum):
    """When a model built from model data creates its SageMaker endpoint."""

    CREATE_ON_CONSTRUCT = "CREATE_ON_CONSTRUCT"
    CREATE_ON_TRANSFORM = "CREATE_ON_TRANSFORM"
    DO_NOT_CREATE = "DO_NOT_CREATE"


#: Every knob's default, defined once (in EngineOptions) and read by the keyword arguments
#: and the Params below.
_DEFAULTS = EngineOptions()


def _params_of(options: EngineOptions) -> dict[str, Any]:
    """``options`` as this model's Param values (the inverse of ``engine_options``)."""
    return {
        "prependResultRows": options.prepend_result_rows,
        "onError": options.on_error,
        "errorColumnName": options.error_column_name,
        "maxInFlight": options.max_in_flight,
        "jobMaxInFlight": options.job_max_in_flight or 0,
        "maxBatchRecords": options.max_batch_records,
        "maxBatchBytes": options.max_batch_bytes,
        "maxAttempts": options.retry.max_attempts,
        "maxRetrySeconds": options.retry.max_elapsed_s,
        "backoffBaseSeconds": options.retry.backoff_base_s,
        "backoffMaxSeconds": options.retry.backoff_max_s,
        "throttlingCodes": sorted(options.retry.throttling_codes),
        "retryableCodes": sorted(options.retry.retryable_codes),
    }


def _param(name: str, doc: str, converter: Any) -> Param:
    return Param(Params._dummy(), name, doc, typeConverter=converter)


class SageMakerModel(Model, DefaultParamsReadable, DefaultParamsWritable):
    """Scores a DataFrame on a model endpoint; output row i belongs to input row i.

    >>> model = SageMakerModel.from_endpoint(
    ...     "my-endpoint",
    ...     request_row_serializer=UnlabeledCSVRequestRowSerializer(),
    ...     response_row_deserializer=XGBoostCSVRowDeserializer())
    >>> scored = model.transform(df)            # df's columns + "prediction"
    >>> model.last_metrics.requests              # after an action
    """

    endpointSpec = _param("endpointSpec", "the endpoint, as JSON", TypeConverters.toString)
    requestRowSerializerSpec = _param(
        "requestRowSerializerSpec", "registry name + options, as JSON", TypeConverters.toString
    )
    responseRowDeserializerSpec = _param(
        "responseRowDeserializerSpec", "registry name + options, as JSON", TypeConverters.toString
    )
    prependResultRows = _param(
        "prependResultRows", "keep the input columns before the results", TypeConverters.toBoolean
    )
    onError = _param(
        "onError", "'fail' the task, or add an error 'column'", TypeConverters.toString
    )
    errorColumnName = _param("errorColumnName", "name of the error column", TypeConverters.toString)
    maxInFlight = _param("maxInFlight", "requests in flight per partition", TypeConverters.toInt)
    jobMaxInFlight = _param(
        "jobMaxInFlight",
        "requests in flight for the whole job, shared by its running tasks (0: no cap)",
        TypeConverters.toInt,
    )
    maxBatchRecords = _param("maxBatchRecords", "rows per request at most", TypeConverters.toInt)
    maxBatchBytes = _param("maxBatchBytes", "request body bytes at most", TypeConverters.toInt)
    maxAttempts = _param("maxAttempts", "attempts per request", TypeConverters.toInt)
    maxRetrySeconds = _param(
        "maxRetrySeconds", "no retry starts after this long", TypeConverters.toFloat
    )
    backoffBaseSeconds = _param(
        "backoffBaseSeconds", "first backoff ceiling", TypeConverters.toFloat
    )
    backoffMaxSeconds = _param("backoffMaxSeconds", "largest backoff", TypeConverters.toFloat)
    throttlingCodes = _param(
        "throttlingCodes", "error codes that mean 'slow down'", TypeConverters.toListString
    )
    retryableCodes = _param(
        "retryableCodes", "further error codes worth retrying", TypeConverters.toListString
    )

    def __init__(
        self,
        *,
        endpoint: Endpoint | None = None,
        request_row_serializer: RequestRowSerializer | None = None,
        response_row_deserializer: ResponseRowDeserializer | None = None,
        prepend_result_rows: bool = _DEFAULTS.prepend_result_rows,
        on_error: str = _DEFAULTS.on_error,
        error_column_name: str = _DEFAULTS.error_column_name,
        max_in_flight: int = _DEFAULTS.max_in_flight,
        job_max_in_flight: int | None = _DEFAULTS.job_max_in_flight,
        max_batch_records: int = _DEFAULTS.max_batch_records,
        max_batch_bytes: int = _DEFAULTS.max_batch_bytes,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        retry = retry_policy or _DEFAULTS.retry
        self._setDefault(
            endpointSpec="",
            requestRowSerializerSpec="",
            responseRowDeserializerSpec="",
            **_params_of(_DEFAULTS),
        )
        # validated before any Param is set: a bad value fails here, naming itself
        options = EngineOptions(
            max_in_flight=max_in_flight,
            job_max_in_flight=job_max_in_flight,
            max_batch_records=max_batch_records,
            max_batch_bytes=max_batch_bytes,
            on_error=on_error,
            error_column_name=error_column_name,
            prepend_result_rows=prepend_result_rows,
            retry=retry,
        )
        self._set(**_params_of(options))
        self._endpoint: Endpoint | None = None
        self._serializer: RequestRowSerializer | None = None
        self._deserializer: ResponseRowDeserializer | None = None
        self._accumulator: Any = None
        #: The SageMaker resources a factory created (or will, on the first transform)
        self.deployment: Deployment | None = None
        #: Set by from_batch_transform: transform runs a Batch Transform job
        self.batch: TransformBackend | None = None
        if endpoint is not None:
            self.set_endpoint(endpoint)
        if request_row_serializer is not None:
            self.set_request_row_serializer(request_row_serializer)
        if response_row_deserializer is not None:
            self.set_response_row_deserializer(response_row_deserializer)

    # -- factories -----------------------------------------------------------------------

    @classmethod
    def from_endpoint(
        cls,
        endpoint_name: str,
        request_row_serializer: RequestRowSerializer,
        response_row_deserializer: ResponseRowDeserializer,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile_name: str | None = None,
        prepend_result_rows: bool = True,
        sagemaker_client: Any = None,
        **options: Any,
    ) -> SageMakerModel:
        """A model on an existing SageMaker endpoint. Creates nothing, so
        ``created_resources`` is empty and cleanup can never delete this endpoint.

        ``sagemaker_client`` is taken as the other factories take it, so code moving from
        sagemaker_pyspark's ``fromEndpoint`` keeps working; it makes no call here and only
        lends its region when ``region`` is not given."""
        if region is None and sagemaker_client is not None:
            region = sagemaker_client.meta.region_name
        runtime_keys = {
            "connect_timeout_s",
            "read_timeout_s",
            "target_variant",
            "target_model",
            "custom_attributes",
            "inference_component_name",
        }
        runtime_options = {k: options.pop(k) for k in list(options) if k in runtime_keys}
        endpoint = SageMakerEndpoint(
            endpoint_name,
            region=region,
            endpoint_url=endpoint_url,
            profile_name=profile_name,
            **runtime_options,
        )
        return cls(
            endpoint=endpoint,
            request_row_serializer=request_row_serializer,
            response_row_deserializer=response_row_deserializer,
            prepend_result_rows=prepend_result_rows,
            **options,
        )

    @classmethod
    def from_model_s3_path(
        cls,
        model_path: str,
        model_image: str,
        model_execution_role_arn: str,
        endpoint_instance_type: str,
        endpoint_initial_instance_count: int,
        request_row_serializer: RequestRowSerializer,
        response_row_deserializer: ResponseRowDeserializer,
        model_environment_variables: dict[str, str] | None = None,
        endpoint_creation_policy: EndpointCreationPolicy = (
            EndpointCreationPolicy.CREATE_ON_CONSTRUCT
        ),
        sagemaker_client: Any = None,
        prepend_result_rows: bool = True,
        name_policy: Any = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        wait_timeout_s: float = 1800.0,
        manifest_path: str | None = None,
        tags: dict[str, str] | None = None,
        **options: Any,
    ) -> SageMakerModel:
        """A model on a new endpoint serving ``model_path`` (``s3://.../model.tar.gz``).

        ``endpoint_url`` points both the control plane (unless ``sagemaker_client`` is
        given) and the runtime at another server, such as the local endpoint host.
        """
        policy = EndpointCreationPolicy(endpoint_creation_policy)
        client = sagemaker_client or _sagemaker_client(region, endpoint_url)
        deployment = Deployment(
            client,
            model_data_url=model_path,
            model_image=model_image,
            role_arn=model_execution_role_arn,
            instance_type=endpoint_instance_type,
            instance_count=endpoint_initial_instance_count,
            environment=model_environment_variables,
            name_policy=name_policy,
            tags=tags,
            wait_timeout_s=wait_timeout_s,
            manifest_path=manifest_path,
        )
        model = cls(
            endpoint=SageMakerEndpoint(
                deployment.endpoint_name,
                region=region or client.meta.region_name,
                endpoint_url=endpoint_url,
            ),
            request_row_serializer=request_row_serializer,
            response_row_deserializer=response_row_deserializer,
            prepend_result_rows=prepend_result_rows,
            **options,
        )
        if policy is EndpointCreationPolicy.CREATE_ON_CONSTRUCT:
            deployment.create()
        if policy is not EndpointCreationPolicy.DO_NOT_CREATE:
            model.deployment = deployment
        return model

    @classmethod
    def from_training_job(
        cls,
        training_job_name: str,
        model_image: str,
        model_execution_role_arn: str,
        endpoint_instance_type: str,
        endpoint_initial_instance_count: int,
        request_row_serializer: RequestRowSerializer,
        response_row_deserializer: ResponseRowDeserializer,
        model_environment_variables: dict[str, str] | None = None,
        endpoint_creation_policy: EndpointCreationPolicy = (
            EndpointCreationPolicy.CREATE_ON_CONSTRUCT
        ),
        sagemaker_client: Any = None,
        prepend_result_rows: bool = True,
        name_policy: Any = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        **options: Any,
    ) -> SageMakerModel:
        """A model on a new endpoint serving the artifacts of a finished training job.

        Takes the arguments of :meth:`from_model_s3_path` after ``model_path``, in the same
        order and with the same names (``sagemaker_client`` is the tenth, as in
        sagemaker_pyspark's ``fromTrainingJob``); the model data comes from
        DescribeTrainingJob, asked of that client.
        """
        client = sagemaker_client or _sagemaker_client(region, endpoint_url)
        model_path = EndpointDeployer(client).model_data_from_training_job(training_job_name)
        return cls.from_model_s3_path(
            model_path,
            model_image,
            model_execution_role_arn,
            endpoint_instance_type,
            endpoint_initial_instance_count,
            request_row_serializer,
            response_row_deserializer,
            model_environment_variables,
            endpoint_creation_policy,
            client,
            prepend_result_rows,
            name_policy,
            region=region,
            endpoint_url=endpoint_url,
            **options,
        )

    @classmethod
    def from_batch_transform(
        cls,
        backend: BatchTransform,
        request_row_serializer: RequestRowSerializer,
        response_row_deserializer: ResponseRowDeserializer,
        *,
        model_name: str | None = None,
        model_path: str | None = None,
        model_image: str | None = None,
        model_execution_role_arn: str | None = None,
        model_environment_variables: dict[str, str] | None = None,
        sagemaker_client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        name_policy: Any = None,
        tags: dict[str, str] | None = None,
        manifest_path: str | None = None,
        **options: Any,
    ) -> SageMakerModel:
        """A model whose ``transform`` runs a SageMaker Batch Transform job.

        The job runs ``model_name`` (an existing SageMaker model) or a model created from
        ``model_path``/``model_image``/``model_execution_role_arn`` on the first transform.
        ``transform`` stages the rows to ``backend.staging_uri``, runs the job and waits
        for it, then returns the scored DataFrame, which reads the job's answers; what was
        created is in ``created_resources`` for cleanup. ``endpoint_url`` points the
        control plane and, unless ``backend.s3_endpoint_url`` says otherwise, S3 at
        another server (the local endpoint host serves both).
        """
        # imported here: the batch backend builds on this package, not the reverse
        from endpoints.batch.runner import batch_runner

        runner = batch_runner(
            backend,
            model_name=model_name,
            model_path=model_path,
            model_image=model_image,
            model_execution_role_arn=model_execution_role_arn,
            model_environment_variables=model_environment_variables,
            sagemaker_client=sagemaker_client or _sagemaker_client(region, endpoint_url),
            region=region,
            endpoint_url=endpoint_url,
            name_policy=name_policy,
            tags=tags,
            manifest_path=manifest_path,
        )
        model = cls(
            request_row_serializer=request_row_serializer,
            response_row_deserializer=response_row_deserializer,
            **options,
        )
        model.batch = runner
        return model

    # -- configuration -------------------------------------------------------------------

    def set_endpoint(self, endpoint: Endpoint) -> SageMakerModel:
        self._endpoint = endpoint
        try:
            self._set(endpointSpec=json.dumps(endpoint.to_spec()))
        except NotImplementedError:
            self._set(endpointSpec="")
        return self

    def set_request_row_serializer(self, serializer: RequestRowSerializer) -> SageMakerModel:
        self._serializer = serializer
        self._set(requestRowSerializerSpec=_spec_or_empty(serializer))
        return self

    def set_response_row_deserializer(
        self, deserializer: ResponseRowDeserializer
    ) -> SageMakerModel:
        self._deserializer = deserializer
        self._set(responseRowDeserializerSpec=_spec_or_empty(deserializer))
        return self

    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            spec = self.getOrDefault(self.endpointSpec)
            if not spec:
                raise ConfigurationError("no endpoint: build the model with a factory or endpoint=")
            self._endpoint = endpoint_from_spec(json.loads(spec))
        return self._endpoint

    @property
    def request_row_serializer(self) -> RequestRowSerializer:
        if self._serializer is None:
            spec = self.getOrDefault(self.requestRowSerializerSpec)
            if not spec:
                raise ConfigurationError("no request_row_serializer given")
            self._serializer = serializer_from_spec(json.loads(spec))
        return self._serializer

    @property
    def response_row_deserializer(self) -> ResponseRowDeserializer:
        if self._deserializer is None:
            spec = self.getOrDefault(self.responseRowDeserializerSpec)
            if not spec:
                raise ConfigurationError("no response_row_deserializer given")
            self._deserializer = deserializer_from_spec(json.loads(spec))
        return self._deserializer

    def engine_options(self) -> EngineOptions:
        g = self.getOrDefault
        return EngineOptions(
            max_in_flight=g(self.maxInFlight),
            job_max_in_flight=g(self.jobMaxInFlight) or None,
            max_batch_records=g(self.maxBatchRecords),
            max_batch_bytes=g(self.maxBatchBytes),
            on_error=g(self.onError),
            error_column_name=g(self.errorColumnName),
            prepend_result_rows=g(self.prependResultRows),
            retry=RetryPolicy(
                max_attempts=g(self.maxAttempts),
                max_elapsed_s=g(self.maxRetrySeconds),
                backoff_base_s=g(self.backoffBaseSeconds),
                backoff_max_s=g(self.backoffMaxSeconds),
                throttling_codes=frozenset(g(self.throttlingCodes)),
                retryable_codes=frozenset(g(self.retryableCodes)),
            ),
        )

    # -- Spark ---------------------------------------------------------------------------

    def transformSchema(self, schema: StructType) -> StructType:
        """Validates ``schema`` with the serializer; the output schema, before any job."""
        self.request_row_serializer.validate_schema(schema)
        return output_schema(schema, self.response_row_deserializer, self.engine_options())

    def _transform(self, dataset: DataFrame) -> DataFrame:
        if self.deployment is not None:
            self.deployment.create()  # CREATE_ON_TRANSFORM; once, shared with Param copies
        schema = dataset.schema
        self.transformSchema(schema)
        serializer = self.request_row_serializer
        serializer.set_schema(schema)
        options = self.engine_options()
        if self.batch is not None:
            return self.batch.transform(
                dataset, serializer, self.response_row_deserializer, options
            )
        if options.job_max_in_flight is not None:
            options = options.for_tasks(_concurrent_tasks(dataset))
        self._accumulator = _new_accumulator(dataset)
        scorer = PartitionScorer(
            self.endpoint,
            serializer,
            self.response_row_deserializer,
            options,
            self._accumulator,
        )
        return score_dataframe(
            dataset,
            scorer,
            result_struct_type(self.response_row_deserializer, options),
            prepend_result_rows=options.prepend_result_rows,
            crossing=crossing_columns(dataset, serializer),
        )

    @property
    def created_resources(self) -> CreatedResources:
        """What this model's factory created on SageMaker, for cleanup: empty for a model
        on an existing endpoint, and until a CREATE_ON_TRANSFORM model's first transform.
        A copy of the model (``transform(df, params)``) shares it."""
        if self.batch is not None:
            return self.batch.created
        return self.deployment.created if self.deployment is not None else CreatedResources()

    @property
    def last_metrics(self) -> TransformMetrics | None:
        """Metrics of the last ``transform``, merged over the partitions that finished.

        Filled by actions: read it after ``collect``/``write``/``count``. Each action on
        the transformed DataFrame adds again. ``None`` under Spark Connect, which has no
        accumulators (the executors' INFO log lines still carry per-partition summaries).
        """
        return None if self._accumulator is None else self._accumulator.value

    def write(self) -> MLWriter:
        for name, param in (
            ("endpoint", self.endpointSpec),
            ("request_row_serializer", self.requestRowSerializerSpec),
            ("response_row_deserializer", self.responseRowDeserializerSpec),
        ):
            if not self.getOrDefault(param):
                raise ConfigurationError(
                    f"cannot save: the {name} has no saved form. Register custom SerDes with "
                    "@register_serializer / @register_deserializer so they can be saved by name"
                )
        return super().write()

    def copy(self, extra: dict | None = None) -> SageMakerModel:
        that = super().copy(extra)
        that._accumulator = None
        return that

    def __repr__(self) -> str:
        return f"SageMakerModel(endpoint={self._endpoint!r})"


def _spec_or_empty(serde: Any) -> str:
    try:
        return json.dumps(serde_spec(serde))
    except SerdeError:
        return ""  # usable now; write() explains why it cannot be saved


def _new_accumulator(dataset: DataFrame) -> Any:
    try:
        sc = dataset.sparkSession.sparkContext
    except Exception:  # Spark Connect: no SparkContext, no accumulators
        log.info("no SparkContext (Spark Connect?): transform metrics are not collected")
        return None
    return sc.accumulator(TransformMetrics(), MetricsAccumulatorParam())


def _concurrent_tasks(dataset: DataFrame) -> int:
    """How many tasks of ``dataset`` can run at once: its partitions, at most the
    cluster's task slots (``defaultParallelism``: all executor cores)."""
    try:
        slots = dataset.sparkSession.sparkContext.defaultParallelism
    except Exception:  # Spark Connect: no SparkContext
        return int(dataset.sparkSession.conf.get("spark.default.parallelism", "1") or 1)
    if dataset.isStreaming:
        return slots
    return max(1, min(slots, dataset.rdd.getNumPartitions()))


def _sagemaker_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3

    from endpoints.redaction import install_botocore_log_filter

    client = boto3.client("sagemaker", region_name=region, endpoint_url=endpoint_url)
    install_botocore_log_filter()  # botocore's DEBUG lines carry the session token
    return client
