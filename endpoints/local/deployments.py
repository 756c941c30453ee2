"""Loaded models per endpoint, and the status transitions that loading drives.

CreateEndpoint schedules a load (Creating → InService, or Failed with the reason);
UpdateEndpoint loads the new model completely while the old one keeps serving, then swaps
the reference in one assignment — a request sees either the old model or the new one,
never an error. Loads run on a small thread pool so the event loop never waits on them.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from endpoints.local.artifacts import ArtifactStore
from endpoints.local.errors import LocalHostError
from endpoints.local.runtimes import ModelRuntime, load_runtime
from endpoints.local.state import ResourceStore

__all__ = ["EndpointManager", "LiveModel", "load_container"]

logger = logging.getLogger(__name__)

IN_PROGRESS = ("Creating", "Updating", "SystemUpdating")


@dataclass(frozen=True)
class LiveModel:
    """The model an endpoint serves right now."""

    runtime: ModelRuntime
    model_name: str
    variant_name: str
    endpoint_config_name: str


def primary_container(model: dict[str, Any]) -> dict[str, Any]:
    return model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]


def load_container(artifacts: ArtifactStore, container: dict[str, Any]) -> ModelRuntime:
    """Resolve a container definition's artifact (under the host's roots) and load it with
    its runtime (a Python one only if the host's operator opted in)."""
    model_dir: Path | None = artifacts.resolve(container.get("ModelDataUrl"))
    return load_runtime(
        model_dir,
        container.get("Environment") or {},
        container.get("Image"),
        allow_python=artifacts.allow_python_models,
    )


def model_data_urls(model: dict[str, Any]) -> set[str]:
    """Every ``ModelDataUrl`` a model record's containers name."""
    containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
    return {c["ModelDataUrl"] for c in containers if c.get("ModelDataUrl")}


class EndpointManager:
    """Owns the live models and moves endpoints through their statuses."""

    def __init__(self, store: ResourceStore, artifacts: ArtifactStore) -> None:
        self.store = store
        self.artifacts = artifacts
        self._live: dict[str, LiveModel] = {}
        self._generation: dict[str, int] = {}
        self._changed = threading.Condition()
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="endpoints-local-load")

    def live(self, endpoint_name: str) -> LiveModel | None:
        return self._live.get(endpoint_name)

    def live_names(self) -> list[str]:
        return list(self._live)

    # ----------------------------------------------------------------------------- loading

    def _load(self, config_name: str) -> LiveModel:
        config = self.store.get("endpoint_configs", config_name)
        if config is None:
            raise LocalHostError(f"endpoint configuration {config_name!r} no longer exists")
        variant = config["ProductionVariants"][0]
        model = self.store.get("models", variant["ModelName"])
        if model is None:
            raise LocalHostError(
                f"model {variant['ModelName']!r} of variant {variant['VariantName']!r} "
                "no longer exists"
            )
        runtime = load_container(self.artifacts, primary_container(model))
        return LiveModel(runtime, model["ModelName"], variant["VariantName"], config_name)

    def _bump(self, name: str) -> int:
        with self._changed:
            self._generation[name] = self._generation.get(name, 0) + 1
            return self._generation[name]

    def _current(self, name: str, generation: int) -> bool:
        return self._generation.get(name) == generation

    def schedule_create(self, name: str, config_name: str) -> Future:
        generation = self._bump(name)
        return self._pool.submit(self._deploy, name, config_name, generation, False)

    def schedule_update(self, name: str, config_name: str) -> Future:
        generation = self._bump(name)
        return self._pool.submit(self._deploy, name, config_name, generation, True)

    def restore(self) -> None:
        """After a restart: load every endpoint that was serving or about to."""
        for record in self.store.all("endpoints"):
            if record["EndpointStatus"] in ("InService", *IN_PROGRESS):
                generation = self._bump(record["EndpointName"])
                self._deploy(
                    record["EndpointName"], record["EndpointConfigName"], generation, False
                )

    def _deploy(self, name: str, config_name: str, generation: int, update: bool) -> None:
        started = time.monotonic()
        try:
            live = self._load(config_name)
        except Exception as exc:  # any load failure is the endpoint's FailureReason
            logger.warning("endpoint %s: model load failed: %s", name, exc)
            self._finish(name, generation, None, config_name, update, str(exc))
            return
        logger.info("endpoint %s: model loaded in %.3fs", name, time.monotonic() - started)
        self._finish(name, generation, live, config_name, update, None)

    def _finish(
        self,
        name: str,
        generation: int,
        live: LiveModel | None,
        config_name: str,
        update: bool,
        failure: str | None,
    ) -> None:
        with self.store.transaction() as store, self._changed:  # lock order: store, then _changed
            record = store.resources["endpoints"].get(name)
            if record is None or not self._current(name, generation):
                if live is not None:
                    live.runtime.close()  # deleted or superseded while loading
                return
            stamp = store.now()
            record["LastModifiedTime"] = stamp
            if failure is None and live is not None:
                old = self._live.get(name)
                self._live[name] = live  # the atomic swap
                record["EndpointStatus"] = "InService"
                record["EndpointConfigName"] = config_name
                record.pop("FailureReason", None)
                record["ProductionVariants"] = [self._variant_summary(live, stamp)]
                if old is not None and old is not live:
                    old.runtime.close()
            elif update and name in self._live:
                # AWS rolls a failed update back: the old model keeps serving
                record["EndpointStatus"] = "InService"
                record["FailureReason"] = failure
            else:
                record["EndpointStatus"] = "Failed"
                record["FailureReason"] = failure
            self._changed.notify_all()

    def _variant_summary(self, live: LiveModel, now: float) -> dict[str, Any]:
        model = self.store.get("models", live.model_name) or {}
        config = self.store.get("endpoint_configs", live.endpoint_config_name) or {}
        variant = config.get("ProductionVariants", [{}])[0]
        image = primary_container(model).get("Image")
        count = variant.get("InitialInstanceCount", 1)
        weight = variant.get("InitialVariantWeight", 1.0)
        summary: dict[str, Any] = {
            "VariantName": live.variant_name,
            "CurrentWeight": weight,
            "DesiredWeight": weight,
            "CurrentInstanceCount": count,
            "DesiredInstanceCount": count,
        }
        if image:  # a container named by its ModelDataUrl alone has no image to report
            summary["DeployedImages"] = [
                {"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": now}
            ]
        return summary

    # ------------------------------------------------------------------------------ waits

    def wait_settled(self, name: str, timeout_s: float) -> None:
        """Block up to ``timeout_s`` while ``name`` is Creating or Updating."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                record = self.store.resources["endpoints"].get(name)
                if record is None or record["EndpointStatus"] not in IN_PROGRESS:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._changed.wait(remaining)

    def model_deleted(self, model: dict[str, Any]) -> None:
        """DeleteModel: drop the extracted archives only that model used. An endpoint still
        serving it keeps the runtime it loaded (as on AWS, deleting a model in use is
        allowed); a later load of the same data extracts it again."""
        still_used = set()
        for other in self.store.all("models"):
            if other.get("ModelName") != model.get("ModelName"):
                still_used |= model_data_urls(other)
        self.artifacts.remove_extractions(model_data_urls(model) - still_used)

    def remove(self, name: str) -> None:
        """Forget ``name``'s model (DeleteEndpoint); a load in flight is discarded."""
        with self._changed:
            self._bump(name)
            live = self._live.pop(name, None)
            self._changed.notify_all()
        if live is not None:
            live.runtime.close()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for name in list(self._live):
            self.remove(name)
        self.artifacts.close()  # the host stops: no extracted archive outlives it
