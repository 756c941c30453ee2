"""SageMaker's control plane (AWS JSON 1.1, ``X-Amz-Target: SageMaker.<Op>``) for models,
endpoint configs, endpoints, tags and locally registered training jobs.

Names, ARNs, statuses, list filters/pagination and error codes and wordings follow AWS
(botocore's service model; messages as AWS writes them), so code tested here behaves the
same against the real service. Differences from AWS, on purpose: one production variant
serves all traffic (the first); deleting a config or model in use is allowed, as on AWS.

botocore's shapes are the contract both ways. Every request is checked against its
operation's input shape before a handler runs (:mod:`endpoints.local.api_shapes`), so a
wrong type, a missing member or a malformed tag is a 400 ``ValidationException`` naming the
field; handlers then check only what the shapes cannot say (a model that must exist, a
container that must be given). Answers carry only what the caller set plus what AWS
computes — no empty placeholders — so they validate against the output shapes, which
clients such as sagemaker-core's resource classes enforce. A create that fails leaves
nothing behind: records and tags are written together in one store transaction.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from endpoints.local import api_shapes
from endpoints.local.deployments import EndpointManager
from endpoints.local.errors import ApiError
from endpoints.local.state import ResourceStore, arn_for

__all__ = ["ControlPlane", "Handler"]

DEFAULT_PAGE = 10
FAILURE_REASON_MAX = 1024  # botocore's FailureReason shape

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def validation(message: str) -> ApiError:
    return ApiError(400, "ValidationException", message)


def _camel(field: str) -> str:
    return field[0].lower() + field[1:]


def _require(params: dict[str, Any], *fields: str, path: str = "") -> None:
    """Members this host needs although botocore's shapes leave them optional."""
    for field in fields:
        if params.get(field) in (None, ""):
            raise validation(
                f"1 validation error detected: Value null at '{path}{_camel(field)}' failed "
                "to satisfy constraint: Member must not be null"
            )


def _set_members(params: dict[str, Any], describe_operation: str) -> dict[str, Any]:
    """The members of a create request that ``describe_operation`` answers with: exactly
    those the caller set (not null), never an empty placeholder for one left out."""
    members = api_shapes.output_shape(describe_operation).members
    return {key: value for key, value in params.items() if key in members and value is not None}


class ControlPlane:
    """Dispatches ``SageMaker.<Op>`` calls to handlers; each returns the output dict."""

    def __init__(
        self,
        store: ResourceStore,
        manager: EndpointManager,
        region: str = "us-east-1",
        describe_wait_s: float = 2.0,
    ) -> None:
        self.store = store
        self.manager = manager
        self.region = region
        self.describe_wait_s = describe_wait_s
        self.operations: dict[str, Handler] = {}
        self.add_operations(
            {
                "CreateModel": self.create_model,
                "DescribeModel": self.describe_model,
                "DeleteModel": self.delete_model,
                "ListModels": self.list_models,
                "CreateEndpointConfig": self.create_endpoint_config,
                "DescribeEndpointConfig": self.describe_endpoint_config,
                "DeleteEndpointConfig": self.delete_endpoint_config,
                "ListEndpointConfigs": self.list_endpoint_configs,
                "CreateEndpoint": self.create_endpoint,
                "DescribeEndpoint": self.describe_endpoint,
                "DeleteEndpoint": self.delete_endpoint,
                "ListEndpoints": self.list_endpoints,
                "UpdateEndpoint": self.update_endpoint,
                "AddTags": self.add_tags,
                "ListTags": self.list_tags,
                "DeleteTags": self.delete_tags,
                "DescribeTrainingJob": self.describe_training_job,
            }
        )

    def add_operations(self, handlers: Mapping[str, Handler]) -> None:
        """Serve more ``SageMaker.<Op>`` operations (another module's handlers, e.g. batch
        transform). Each name must be an operation in botocore's SageMaker model: its
        requests are then checked against that operation's input shape like every other."""
        unknown = sorted(name for name in handlers if not api_shapes.is_operation(name))
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not SageMaker operations in botocore's service model; "
                "name handlers after the API operation they implement (e.g. CreateTransformJob)."
            )
        self.operations.update(handlers)

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.operations.get(operation)
        if handler is None:
            raise ApiError(
                400,
                "UnknownOperationException",
                f"The local endpoint host does not implement SageMaker.{operation}; it "
                f"implements {', '.join(sorted(self.operations))}.",
            )
        if not isinstance(params, dict):
            raise ApiError(
                400,
                "SerializationException",
                f"Expected a JSON object as the body of SageMaker.{operation}, got "
                f"{type(params).__name__}.",
            )
        shape = api_shapes.input_shape(operation)
        if shape is not None:
            violations = api_shapes.check(params, shape)
            if violations:
                raise validation(api_shapes.validation_message(violations))
        return handler(params)

    def arn(self, kind: str, name: str) -> str:
        return arn_for(kind, name, self.region)

    def _tag_on_create(self, arn: str, tags: list[dict[str, str]] | None) -> None:
        """Store a create request's tags (already checked against the Tag shape), inside the
        same transaction as the record, so a failed create leaves neither behind."""
        if tags:
            self.store.tags[arn] = [{"Key": t["Key"], "Value": t["Value"]} for t in tags]

    def _exists_error(self, what: str, kind: str, name: str) -> ApiError:
        return validation(f'Cannot create already existing {what} "{self.arn(kind, name)}".')

    def _missing(self, what: str, kind: str, name: str) -> ApiError:
        return validation(f'Could not find {what} "{self.arn(kind, name)}".')

    # ------------------------------------------------------------------------------ models

    def create_model(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        if not params.get("PrimaryContainer") and not params.get("Containers"):
            raise validation(
                "Either PrimaryContainer or Containers must be specified; give the model's "
                "container (Image, ModelDataUrl, Environment) as PrimaryContainer."
            )
        for container in [params.get("PrimaryContainer"), *(params.get("Containers") or [])]:
            if isinstance(container, dict):  # model data under the roots; Python opted in
                self.manager.artifacts.check_container(container)
        with self.store.transaction() as store:
            if name in store.resources["models"]:
                raise self._exists_error("model", "models", name)
            arn = self.arn("models", name)
            store.resources["models"][name] = {
                **_set_members(params, "DescribeModel"),
                "ModelArn": arn,
                "CreationTime": store.now(),
                # AWS answers this one even when unset
                "EnableNetworkIsolation": params.get("EnableNetworkIsolation", False),
            }
            self._tag_on_create(arn, params.get("Tags"))
        return {"ModelArn": arn}

    def describe_model(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self.store.get("models", params["ModelName"])
        if record is None:
            raise self._missing("model", "models", params["ModelName"])
        return record

    def delete_model(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        with self.store.transaction() as store:
            record = store.resources["models"].pop(name, None)
            if record is None:
                raise self._missing("model", "models", name)
            store.tags.pop(record["ModelArn"], None)
        self.manager.model_deleted(record)  # its extracted archives go with it
        return {}

    def list_models(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self._list("models", "ModelName", params)
        keys = ("ModelName", "ModelArn", "CreationTime")
        return self._page("Models", [{k: r[k] for k in keys} for r in page], token)

    # ---------------------------------------------------------------------- endpoint configs

    def create_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        variants = params["ProductionVariants"]
        for number, variant in enumerate(variants, start=1):
            # optional in the shape (inference components); this host serves models
            _require(variant, "ModelName", path=f"productionVariants.{number}.member.")
        with self.store.transaction() as store:
            if name in store.resources["endpoint_configs"]:
                raise self._exists_error("endpoint configuration", "endpoint_configs", name)
            for variant in variants:
                if variant["ModelName"] not in store.resources["models"]:
                    raise self._missing("model", "models", variant["ModelName"])
            arn = self.arn("endpoint_configs", name)
            store.resources["endpoint_configs"][name] = {
                **_set_members(params, "DescribeEndpointConfig"),
                "EndpointConfigArn": arn,
                "CreationTime": store.now(),
            }
            self._tag_on_create(arn, params.get("Tags"))
        return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self.store.get("endpoint_configs", params["EndpointConfigName"])
        if record is None:
            raise self._missing(
                "endpoint configuration", "endpoint_configs", params["EndpointConfigName"]
            )
        return record

    def delete_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        with self.store.transaction() as store:
            record = store.resources["endpoint_configs"].pop(name, None)
            if record is None:
                raise self._missing("endpoint configuration", "endpoint_configs", name)
            store.tags.pop(record["EndpointConfigArn"], None)
        return {}

    def list_endpoint_configs(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self._list("endpoint_configs", "EndpointConfigName", params)
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return self._page("EndpointConfigs", [{k: r[k] for k in keys} for r in page], token)

    # ---------------------------------------------------------------------------- endpoints

    def create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        config_name = params["EndpointConfigName"]
        with self.store.transaction() as store:
            if name in store.resources["endpoints"]:
                raise self._exists_error("endpoint", "endpoints", name)
            if config_name not in store.resources["endpoint_configs"]:
                raise self._missing("endpoint configuration", "endpoint_configs", config_name)
            arn = self.arn("endpoints", name)
            stamp = store.now()
            store.resources["endpoints"][name] = {
                "EndpointName": name,
                "EndpointArn": arn,
                "EndpointConfigName": config_name,
                "EndpointStatus": "Creating",
                "CreationTime": stamp,
                "LastModifiedTime": stamp,
            }
            self._tag_on_create(arn, params.get("Tags"))
            self.manager.schedule_create(name, config_name)
        return {"EndpointArn": arn}

    def describe_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        # A model loads in milliseconds to seconds; answering after it settled lets boto3's
        # waiters (30 s between polls) finish on their first poll.
        self.manager.wait_settled(name, self.describe_wait_s)
        record = self.store.get("endpoints", name)
        if record is None:
            raise self._missing("endpoint", "endpoints", name)
        if "FailureReason" in record:  # a load error's text may be long; AWS caps it
            record["FailureReason"] = record["FailureReason"][:FAILURE_REASON_MAX]
        config = self.store.get("endpoint_configs", record["EndpointConfigName"]) or {}
        capture = config.get("DataCaptureConfig")
        if capture:
            record["DataCaptureConfig"] = _capture_summary(capture)
        return record

    def delete_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        with self.store.transaction() as store:
            record = store.resources["endpoints"].pop(name, None)
            if record is None:
                raise self._missing("endpoint", "endpoints", name)
            store.tags.pop(record["EndpointArn"], None)
            self.manager.remove(name)
        return {}

    def list_endpoints(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self._list("endpoints", "EndpointName", params)
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        return self._page("Endpoints", [{k: r[k] for k in keys} for r in page], token)

    def update_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name, config_name = params["EndpointName"], params["EndpointConfigName"]
        with self.store.transaction() as store:
            record = store.resources["endpoints"].get(name)
            if record is None:
                raise self._missing("endpoint", "endpoints", name)
            if record["EndpointStatus"] in ("Creating", "Updating", "SystemUpdating"):
                raise validation(f'Cannot update in-progress endpoint "{record["EndpointArn"]}".')
            if config_name not in store.resources["endpoint_configs"]:
                raise self._missing("endpoint configuration", "endpoint_configs", config_name)
            was_failed = record["EndpointStatus"] == "Failed"
            record["EndpointStatus"] = "Updating"
            record["LastModifiedTime"] = store.now()
            if was_failed:
                self.manager.schedule_create(name, config_name)
            else:
                self.manager.schedule_update(name, config_name)
        return {"EndpointArn": record["EndpointArn"]}

    # --------------------------------------------------------------------------------- tags

    def _check_arn(self, params: dict[str, Any]) -> str:
        arn = params["ResourceArn"]
        if not self.store.find_arn(arn):
            raise validation(f'Could not find resource "{arn}".')
        return arn

    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._check_arn(params)
        with self.store.transaction() as store:
            current = {t["Key"]: t["Value"] for t in store.tags.get(arn, [])}
            for tag in params["Tags"]:
                current[tag["Key"]] = tag["Value"]
            store.tags[arn] = [{"Key": k, "Value": v} for k, v in current.items()]
        return {"Tags": params["Tags"]}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._check_arn(params)
        tags = list(self.store.tags.get(arn, []))
        start = _decode_token(params.get("NextToken"))
        size = _page_size(params, default=50)
        page = tags[start : start + size]
        token = _encode_token(start + size) if start + size < len(tags) else None
        return self._page("Tags", page, token)

    def delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._check_arn(params)
        drop = set(params["TagKeys"])
        with self.store.transaction() as store:
            store.tags[arn] = [t for t in store.tags.get(arn, []) if t["Key"] not in drop]
        return {}

    # -------------------------------------------------------------------------- training jobs

    def register_training_job(
        self, name: str, model_data_url: str, image: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Record a Completed training job whose artifact is ``model_data_url``; ``extra``
        members are added to (or replace) DescribeTrainingJob's answer. Raises
        ``ValueError`` if the answer would not fit botocore's DescribeTrainingJob shape, so
        a test's typo fails here rather than in the client that reads the job."""
        stamp = self.store.now()
        algorithm: dict[str, Any] = {"TrainingInputMode": "File"}
        if image:
            algorithm["TrainingImage"] = image
        record = {
            "TrainingJobName": name,
            "TrainingJobArn": self.arn("training_jobs", name),
            "ModelArtifacts": {"S3ModelArtifacts": model_data_url},
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "AlgorithmSpecification": algorithm,
            "RoleArn": "arn:aws:iam::123456789012:role/local",
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            "CreationTime": stamp,
            "TrainingStartTime": stamp,
            "TrainingEndTime": stamp,
            "LastModifiedTime": stamp,
            **extra,
        }
        violations = api_shapes.check(record, api_shapes.output_shape("DescribeTrainingJob"))
        if violations:
            raise ValueError(
                f"register_training_job({name!r}): the job would not be a valid "
                f"DescribeTrainingJob answer: {api_shapes.validation_message(violations)}"
            )
        with self.store.transaction() as store:
            store.resources["training_jobs"][name] = record
        return record

    def describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self.store.get("training_jobs", params["TrainingJobName"])
        if record is None:
            raise ApiError(400, "ResourceNotFound", "Requested resource not found.")
        return record

    # ------------------------------------------------------------------------------ listing

    def _list(
        self,
        kind: str,
        name_key: str,
        params: dict[str, Any],
        status_key: str = "EndpointStatus",
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of ``kind``'s records as a ListX request filters, sorts and pages them;
        ``status_key`` is the field ``StatusEquals`` and ``SortBy=Status`` read."""
        records = self.store.all(kind)
        # types and enums were checked against the operation's input shape in dispatch
        contains = params.get("NameContains")
        if contains:
            records = [r for r in records if contains.lower() in r[name_key].lower()]
        if params.get("StatusEquals"):
            records = [r for r in records if r.get(status_key) == params["StatusEquals"]]
        for key, field, before in (
            ("CreationTimeBefore", "CreationTime", True),
            ("CreationTimeAfter", "CreationTime", False),
            ("LastModifiedTimeBefore", "LastModifiedTime", True),
            ("LastModifiedTimeAfter", "LastModifiedTime", False),
        ):
            bound = api_shapes.parse_timestamp(params.get(key))
            if bound is not None:  # both bounds exclusive: "created after" T excludes T
                records = [r for r in records if (r[field] < bound if before else r[field] > bound)]
        sort_by = params.get("SortBy", "CreationTime")
        sort_key = {"Name": name_key, "CreationTime": "CreationTime", "Status": status_key}
        order = params.get("SortOrder", "Descending")
        records.sort(
            key=lambda r: (r[sort_key[sort_by]], r[name_key]), reverse=order == "Descending"
        )
        start = _decode_token(params.get("NextToken"))
        size = _page_size(params, default=DEFAULT_PAGE)
        page = records[start : start + size]
        token = _encode_token(start + size) if start + size < len(records) else None
        return page, token

    @staticmethod
    def _page(key: str, items: list[Any], token: str | None) -> dict[str, Any]:
        result: dict[str, Any] = {key: items}
        if token:
            result["NextToken"] = token
        return result


def _page_size(params: dict[str, Any], default: int) -> int:
    """``MaxResults`` (its range checked against the operation's shape), else AWS's default."""
    size = params.get("MaxResults")
    return size if isinstance(size, int) else default


def _capture_summary(config: dict[str, Any]) -> dict[str, Any]:
    """DescribeEndpoint's DataCaptureConfigSummary for a config's DataCaptureConfig."""
    enabled = config.get("EnableCapture", True)
    return {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": config["InitialSamplingPercentage"],
        "DestinationS3Uri": config["DestinationS3Uri"],
        "KmsKeyId": config.get("KmsKeyId", ""),
    }


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise validation(f'Invalid pagination token "{token}".') from None
