"""sagemaker_pyspark's ``SageMakerModel``, its constructor and factories, on this library.

The reference's constructor is its main entry, keyword-only (``@keyword_only``), in two
forms::

    SageMakerModel(existingEndpointName="ep", endpointCreationPolicy=DO_NOT_CREATE,
                   endpointInstanceType=None, endpointInitialInstanceCount=None,
                   requestRowSerializer=..., responseRowDeserializer=...)   # attach
    SageMakerModel(modelPath=..., modelImage=..., modelExecutionRoleARN=...,
                   endpointInstanceType="ml.m5.large", endpointInitialInstanceCount=1,
                   requestRowSerializer=..., responseRowDeserializer=...)   # create

The first becomes :meth:`~endpoints.scoring.model.SageMakerModel.from_endpoint`, the
second :meth:`~endpoints.scoring.model.SageMakerModel.from_model_s3_path`; ``fromEndpoint``,
``fromModelS3Path`` and ``fromTrainingJob`` go the same way. The model built is this
library's ``SageMakerModel`` (this subclass of it): concurrency, retries, count checks,
``last_metrics``, ``on_error``. This library's own keywords (``max_in_flight``,
``on_error``, ``region``, ``endpoint_url``, ...) may follow the reference's anywhere.

Calling the class with none of the reference's keywords is this library's constructor, as
Spark's ``load`` and the factories call it: a metaclass routes the call, because Python's
``__init__`` cannot return the model a factory built.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from endpoints.clients.sagemaker_runtime import SageMakerEndpoint
from endpoints.compat.sagemaker_pyspark.aws import S3DataPath, SageMakerClients
from endpoints.compat.sagemaker_pyspark.cleanup import SageMakerResourceCleanup
from endpoints.compat.sagemaker_pyspark.naming import RandomNamePolicy
from endpoints.errors import ConfigurationError
from endpoints.lifecycle.naming import NamePolicy
from endpoints.lifecycle.resources import CreatedResources
from endpoints.scoring.model import EndpointCreationPolicy
from endpoints.scoring.model import SageMakerModel as _EngineModel
from serde.base import RequestRowSerializer, ResponseRowDeserializer

__all__ = ["SageMakerModel"]

_DO_NOT_CREATE = EndpointCreationPolicy.DO_NOT_CREATE


@dataclass(frozen=True)
class _ReferenceArguments:
    """What the reference's model answers from its accessors (``modelPath``, ...)."""

    endpointInstanceType: str | None = None
    endpointInitialInstanceCount: int | None = None
    existingEndpointName: str | None = None
    modelImage: str | None = None
    modelPath: S3DataPath | str | None = None
    modelEnvironmentVariables: dict[str, str] = field(default_factory=dict)
    modelExecutionRoleARN: str | None = None
    endpointCreationPolicy: EndpointCreationPolicy | None = None
    namePolicy: NamePolicy | None = None


class _ReferenceConstructor(type(_EngineModel)):  # type: ignore[misc]
    """``SageMakerModel(**the reference's keywords)`` → ``_from_reference_arguments``;
    any other call → this library's constructor."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(
                "Method __init__ forces keyword arguments: SageMakerModel takes keywords "
                "only, as in sagemaker_pyspark"
            )
        if kwargs.keys() & _REFERENCE_KEYWORDS:
            return cls._from_reference_arguments(**kwargs)
        return super().__call__(**kwargs)


def _accessor(name: str) -> Any:
    """A read-only property answering the reference's accessor ``name``. A property, not a
    plain attribute, so pyspark's ``Params.params`` (which reads every other attribute)
    never evaluates it."""
    return property(
        lambda self: getattr(self._reference, name),
        doc=f"sagemaker_pyspark's ``{name}``: as passed (``None`` when not given).",
    )


class SageMakerModel(_EngineModel, metaclass=_ReferenceConstructor):
    """sagemaker_pyspark's ``SageMakerModel``: its constructor, factories and accessors
    over this library's model. ``prependResultRows`` stays this library's Param of that
    name; read the setting with ``getOrDefault(model.prependResultRows)``."""

    _reference = _ReferenceArguments()
    _sagemaker_client: Any = None

    endpointInstanceType = _accessor("endpointInstanceType")
    endpointInitialInstanceCount = _accessor("endpointInitialInstanceCount")
    existingEndpointName = _accessor("existingEndpointName")
    modelImage = _accessor("modelImage")
    modelPath = _accessor("modelPath")
    modelEnvironmentVariables = _accessor("modelEnvironmentVariables")
    modelExecutionRoleARN = _accessor("modelExecutionRoleARN")
    endpointCreationPolicy = _accessor("endpointCreationPolicy")
    namePolicy = _accessor("namePolicy")

    @classmethod
    def _from_reference_arguments(
        cls,
        *,
        endpointInstanceType: str | None,
        endpointInitialInstanceCount: int | None,
        requestRowSerializer: RequestRowSerializer,
        responseRowDeserializer: ResponseRowDeserializer,
        existingEndpointName: str | None = None,
        modelImage: str | None = None,
        modelPath: str | S3DataPath | None = None,
        modelEnvironmentVariables: dict[str, str] | None = None,
        modelExecutionRoleARN: str | None = None,
        endpointCreationPolicy: EndpointCreationPolicy = EndpointCreationPolicy.CREATE_ON_CONSTRUCT,
        sagemakerClient: Any = None,
        prependResultRows: bool = True,
        namePolicy: NamePolicy | None = None,
        uid: str | None = None,
        **engine_options: Any,
    ) -> SageMakerModel:
        """The reference's constructor (see the module docstring for its two forms)."""
        policy = EndpointCreationPolicy(endpointCreationPolicy)
        path = _data_path(modelPath)
        reference = _ReferenceArguments(
            endpointInstanceType,
            endpointInitialInstanceCount,
            existingEndpointName,
            modelImage,
            path,
            dict(modelEnvironmentVariables or {}),
            modelExecutionRoleARN,
            policy,
            namePolicy,
        )
        serdes = (requestRowSerializer, responseRowDeserializer)
        if existingEndpointName is not None:
            if policy is not _DO_NOT_CREATE:
                raise ConfigurationError(
                    "SageMakerModel's endpoint creation policy must be DO_NOT_CREATE if "
                    "creating an SageMakerModel from an existing endpoint."
                )
            model = cls.from_endpoint(
                existingEndpointName,
                *serdes,
                prepend_result_rows=prependResultRows,
                sagemaker_client=sagemakerClient,
                **engine_options,
            )
        else:
            _require_model_data(reference)
            sagemakerClient = sagemakerClient or _control_plane_client(engine_options)
            model = cls.from_model_s3_path(
                str(path),
                modelImage,  # type: ignore[arg-type]  # checked above
                modelExecutionRoleARN,  # type: ignore[arg-type]
                endpointInstanceType,  # type: ignore[arg-type]
                endpointInitialInstanceCount,  # type: ignore[arg-type]
                *serdes,
                reference.modelEnvironmentVariables,
                policy,
                sagemakerClient,
                prependResultRows,
                namePolicy or RandomNamePolicy(),
                **engine_options,
            )
        model._reference = reference
        model._sagemaker_client = sagemakerClient
        if uid is not None:
            model._resetUid(uid)
        return model

    # -- the reference's factories -------------------------------------------------------

    @classmethod
    def fromEndpoint(
        cls,
        endpointName: str,
        requestRowSerializer: RequestRowSerializer,
        responseRowDeserializer: ResponseRowDeserializer,
        modelEnvironmentVariables: dict[str, str] | None = None,
        sagemakerClient: Any = None,
        prependResultRows: bool = True,
        namePolicy: NamePolicy | None = None,
        uid: str | None = None,
        **engine_options: Any,
    ) -> SageMakerModel:
        """A model on an endpoint that is InService (DescribeEndpoint checks it, as the
        reference did). It creates nothing, so ``getCreatedResources()`` is empty and cleanup
        leaves the endpoint alone (the reference listed it, and deleted it)."""
        client = sagemakerClient or _control_plane_client(engine_options)
        status = client.describe_endpoint(EndpointName=endpointName)["EndpointStatus"]
        if status != "InService":
            raise ConfigurationError(f"Endpoint status must be In Service, not {status}")
        return cls(
            existingEndpointName=endpointName,
            endpointCreationPolicy=_DO_NOT_CREATE,
            endpointInstanceType=None,
            endpointInitialInstanceCount=None,
            requestRowSerializer=requestRowSerializer,
            responseRowDeserializer=responseRowDeserializer,
            modelEnvironmentVariables=modelEnvironmentVariables,
            sagemakerClient=client,
            prependResultRows=prependResultRows,
            namePolicy=namePolicy,
            uid=uid,
            **engine_options,
        )

    @classmethod
    def fromModelS3Path(
        cls,
        modelPath: str | S3DataPath,
        modelImage: str,
        modelExecutionRoleARN: str,
        endpointInstanceType: str,
        endpointInitialInstanceCount: int,
        requestRowSerializer: RequestRowSerializer,
        responseRowDeserializer: ResponseRowDeserializer,
        modelEnvironmentVariables: dict[str, str] | None = None,
        endpointCreationPolicy: EndpointCreationPolicy = EndpointCreationPolicy.CREATE_ON_CONSTRUCT,
        sagemakerClient: Any = None,
        prependResultRows: bool = True,
        namePolicy: NamePolicy | None = None,
        uid: str | None = None,
        **engine_options: Any,
    ) -> SageMakerModel:
        """A model on a new endpoint serving ``modelPath``."""
        _require_creation(endpointCreationPolicy, "a model path")
        return cls(
            modelPath=modelPath,
            modelImage=modelImage,
            modelExecutionRoleARN=modelExecutionRoleARN,
            endpointInstanceType=endpointInstanceType,
            endpointInitialInstanceCount=endpointInitialInstanceCount,
            requestRowSerializer=requestRowSerializer,
            responseRowDeserializer=responseRowDeserializer,
            modelEnvironmentVariables=modelEnvironmentVariables,
            endpointCreationPolicy=endpointCreationPolicy,
            sagemakerClient=sagemakerClient,
            prependResultRows=prependResultRows,
            namePolicy=namePolicy,
            uid=uid,
            **engine_options,
        )

    @classmethod
    def fromTrainingJob(
        cls,
        trainingJobName: str,
        modelImage: str,
        modelExecutionRoleARN: str,
        endpointInstanceType: str,
        endpointInitialInstanceCount: int,
        requestRowSerializer: RequestRowSerializer,
        responseRowDeserializer: ResponseRowDeserializer,
        modelEnvironmentVariables: dict[str, str] | None = None,
        endpointCreationPolicy: EndpointCreationPolicy = EndpointCreationPolicy.CREATE_ON_CONSTRUCT,
        sagemakerClient: Any = None,
        prependResultRows: bool = True,
        namePolicy: NamePolicy | None = None,
        uid: str | None = None,
        **engine_options: Any,
    ) -> SageMakerModel:
        """A model on a new endpoint serving a Completed training job's model artifacts
        (the reference also took a Stopped job's)."""
        from endpoints.lifecycle.hosting import EndpointDeployer

        _require_creation(endpointCreationPolicy, "a training job name")
        client = sagemakerClient or _control_plane_client(engine_options)
        model_path = EndpointDeployer(client).model_data_from_training_job(trainingJobName)
        return cls.fromModelS3Path(
            model_path,
            modelImage,
            modelExecutionRoleARN,
            endpointInstanceType,
            endpointInitialInstanceCount,
            requestRowSerializer,
            responseRowDeserializer,
            modelEnvironmentVariables,
            endpointCreationPolicy,
            client,
            prependResultRows,
            namePolicy,
            uid,
            **engine_options,
        )

    # -- the reference's accessors -------------------------------------------------------

    @property
    def requestRowSerializer(self) -> RequestRowSerializer:
        return self.request_row_serializer

    @property
    def responseRowDeserializer(self) -> ResponseRowDeserializer:
        return self.response_row_deserializer

    @property
    def sagemakerClient(self) -> Any:
        """The control-plane client this model was given or made (a default boto3
        ``sagemaker`` client, made on first use, if it needed none)."""
        if self._sagemaker_client is None:
            self._sagemaker_client = SageMakerClients.create_sagemaker_client()
        return self._sagemaker_client

    @property
    def endpointName(self) -> str | None:
        """The SageMaker endpoint this model scores on (attached or created)."""
        endpoint = self._endpoint
        return endpoint.endpoint_name if isinstance(endpoint, SageMakerEndpoint) else None

    @property
    def resourceCleanup(self) -> SageMakerResourceCleanup:
        return SageMakerResourceCleanup(self.sagemakerClient)

    def getCreatedResources(self) -> CreatedResources:
        """What this model created (``created_resources``): empty for an attached model."""
        return self.created_resources


def _require_creation(policy: EndpointCreationPolicy, source: str) -> None:
    if EndpointCreationPolicy(policy) is _DO_NOT_CREATE:
        raise ConfigurationError(
            f"Endpoint creation policy must not be DO_NOT_CREATE to create an endpoint from "
            f"{source}."
        )


def _data_path(model_path: str | S3DataPath | None) -> S3DataPath | str | None:
    """``modelPath`` as the reference's accessor gives it back: an ``S3DataPath`` for an
    ``s3://`` URI (other URLs, which the local endpoint host reads, stay strings)."""
    if isinstance(model_path, str) and model_path.startswith("s3://"):
        return S3DataPath.fromS3URI(model_path)
    return model_path


def _require_model_data(reference: _ReferenceArguments) -> None:
    """Without ``existingEndpointName`` the model must create its endpoint, from model
    data, an image and a role. The reference found a missing one only when it tried to
    create (``None.get``), and a DO_NOT_CREATE model without an endpoint only at
    ``transform`` ("Endpoint name is empty"); here both fail at once."""
    if reference.endpointCreationPolicy is _DO_NOT_CREATE:
        missing = ["existingEndpointName (DO_NOT_CREATE creates no endpoint to score on)"]
    else:
        needed = {
            "existingEndpointName or modelPath": reference.modelPath,
            "modelImage": reference.modelImage,
            "modelExecutionRoleARN": reference.modelExecutionRoleARN,
            "endpointInstanceType": reference.endpointInstanceType,
            "endpointInitialInstanceCount": reference.endpointInitialInstanceCount,
        }
        missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise ConfigurationError(
            f"SageMakerModel: expected {', '.join(missing)}; got None. Attach to an endpoint "
            "with existingEndpointName=... and endpointCreationPolicy=DO_NOT_CREATE, or "
            "create one with modelPath, modelImage, modelExecutionRoleARN, "
            "endpointInstanceType and endpointInitialInstanceCount"
        )


def _control_plane_client(engine_options: dict[str, Any]) -> Any:
    """The default ``sagemaker`` client; with this library's ``endpoint_url`` /
    ``region``, pointed there, as ``from_model_s3_path`` points its own."""
    if engine_options.get("endpoint_url") or engine_options.get("region"):
        import boto3

        return boto3.client(
            "sagemaker",
            region_name=engine_options.get("region"),
            endpoint_url=engine_options.get("endpoint_url"),
        )
    return SageMakerClients.create_sagemaker_client()


_REFERENCE_SIGNATURE = inspect.signature(SageMakerModel._from_reference_arguments)
#: The reference's constructor keywords: any of them in a call selects that constructor.
_REFERENCE_KEYWORDS = frozenset(
    name
    for name, parameter in _REFERENCE_SIGNATURE.parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)
#: ``help(SageMakerModel)`` and editors show the reference's constructor.
SageMakerModel.__signature__ = _REFERENCE_SIGNATURE  # type: ignore[attr-defined]
