"""``endpoints-cleanup``: find and delete leftover SageMaker endpoints, configs and models.

Selectors (at least one is required; given together, a resource must match all of them):

* ``--manifest FILE`` (repeatable): the resources a run recorded with
  ``CreatedResources.write_manifest``;
* ``--prefix P``: names starting with ``P``;
* ``--tag KEY=VALUE`` (repeatable): resources carrying every one of these tags;
* ``--older-than AGE``: created more than ``AGE`` ago (``30m``, ``6h``, ``2d``, ``1w``).

``--dry-run`` prints what would be deleted and deletes nothing. Deletion goes endpoints,
then configs, then models, through :class:`~endpoints.lifecycle.cleanup.SageMakerResourceCleanup`
(idempotent, throttle-retrying). Exit status: 0 when every selected resource was deleted
or was already gone (or on a dry run), 1 when any deletion or the listing failed, 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from endpoints.errors import CleanupError
from endpoints.failures import error_code, error_message
from endpoints.lifecycle.cleanup import CleanupReport, Outcome, SageMakerResourceCleanup
from endpoints.lifecycle.hosting import ControlPlaneCalls, ControlPlaneError
from endpoints.lifecycle.resources import CreatedResources, ResourceKind, ResourceRef

__all__ = ["Candidate", "Selection", "main", "parse_age", "parse_tag", "select"]

log = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NAME_CONTAINS = re.compile(r"^[a-zA-Z0-9-]+$")

#: (list method, result key, name key, ARN key) per kind.
_LISTINGS = {
    ResourceKind.ENDPOINT: ("list_endpoints", "Endpoints", "EndpointName", "EndpointArn"),
    ResourceKind.ENDPOINT_CONFIG: (
        "list_endpoint_configs",
        "EndpointConfigs",
        "EndpointConfigName",
        "EndpointConfigArn",
    ),
    ResourceKind.MODEL: ("list_models", "Models", "ModelName", "ModelArn"),
}


class UsageError(Exception):
    """Bad command line; exit status 2."""


def parse_age(text: str) -> timedelta:
    """``"6h"`` → 6 hours; units s, m, h, d, w."""
    match = _AGE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a number and a unit (s, m, h, d, w) such as 30m, 6h or 2d, got {text!r}"
        )
    return timedelta(**{_AGE_UNITS[match.group(2)]: float(match.group(1))})


def parse_tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


@dataclass(frozen=True)
class Candidate:
    """A resource that exists (``arn`` set) or that a manifest names but is gone."""

    ref: ResourceRef
    arn: str | None = None
    created: datetime | None = None


@dataclass(frozen=True)
class Selection:
    manifests: tuple[CreatedResources, ...] = ()
    prefix: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    older_than: timedelta | None = None

    def __bool__(self) -> bool:
        return bool(self.manifests or self.prefix or self.tags or self.older_than is not None)


def select(
    client: Any,
    selection: Selection,
    *,
    calls: ControlPlaneCalls | None = None,
    now: datetime | None = None,
) -> list[Candidate]:
    """The resources matching every selector, in deletion order. Lists all three kinds
    (narrowed by name server-side when a prefix is given); tags are fetched only for
    resources that passed the other selectors."""
    if not selection:
        raise UsageError("no selector given")
    calls = calls or ControlPlaneCalls()
    now = now or datetime.now(timezone.utc)
    named = {ref for created in selection.manifests for ref in created.refs()}
    found = {c.ref: c for c in _list_all(client, calls, selection.prefix)}

    chosen: list[Candidate] = []
    pool = [found.get(ref, Candidate(ref)) for ref in named] if named else found.values()
    for candidate in pool:
        if selection.prefix and not candidate.ref.name.startswith(selection.prefix):
            continue
        if selection.older_than is not None and not (
            candidate.created and candidate.created <= now - selection.older_than
        ):
            continue
        if selection.tags and not _has_tags(client, calls, candidate, selection.tags):
            continue
        chosen.append(candidate)
    return sorted(chosen, key=lambda c: c.ref)


def _list_all(client: Any, calls: ControlPlaneCalls, prefix: str | None) -> Iterator[Candidate]:
    extra = {"NameContains": prefix} if prefix and _NAME_CONTAINS.match(prefix) else {}
    for kind, (method, key, name_key, arn_key) in _LISTINGS.items():
        for page in _pages(calls, getattr(client, method), MaxResults=100, **extra):
            for item in page.get(key, []):
                yield Candidate(
                    ResourceRef(kind, item[name_key]), item.get(arn_key), item.get("CreationTime")
                )


def _pages(calls: ControlPlaneCalls, method: Callable[..., Any], **kwargs: Any) -> Iterator[dict]:
    """Every page of a NextToken-paginated call, each call throttle-retried."""
    token = None
    while True:
        page = calls.call(method, **kwargs, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return


def _has_tags(
    client: Any, calls: ControlPlaneCalls, candidate: Candidate, wanted: Sequence[tuple[str, str]]
) -> bool:
    if candidate.arn is None:
        return False
    tags: dict[str, str] = {}
    for page in _pages(calls, client.list_tags, ResourceArn=candidate.arn):
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    return all(tags.get(key) == value for key, value in wanted)


# -- command line ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endpoints-cleanup",
        description="Delete SageMaker endpoints, endpoint configs and models selected by "
        "manifest, name prefix, tag and age. Selectors combine: a resource must match all.",
        epilog="examples: endpoints-cleanup --manifest run.json | endpoints-cleanup "
        "--prefix nightly- --tag team=ml --older-than 6h --dry-run",
    )
    parser.add_argument(
        "--manifest",
        action="append",
        default=[],
        metavar="FILE",
        help="a CreatedResources manifest (repeatable)",
    )
    parser.add_argument("--prefix", help="names starting with this")
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        type=parse_tag,
        metavar="KEY=VALUE",
        help="resources with this tag (repeatable; all must match)",
    )
    parser.add_argument(
        "--older-than", type=parse_age, metavar="AGE", help="created before now - AGE (6h, 2d)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be deleted; delete nothing"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--wait", action="store_true", help="wait until endpoints are gone")
    parser.add_argument("--region", help="AWS region (default: the manifests' or boto3's)")
    parser.add_argument(
        "--endpoint-url", help="SageMaker API URL (AWS_ENDPOINT_URL_SAGEMAKER also works)"
    )
    parser.add_argument("--profile", help="AWS profile name")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each API step")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="endpoints-cleanup: %(message)s",
        stream=sys.stderr,
    )
    try:
        selection = _selection_from(args)
        region = _region_for(args.region, selection.manifests)
        client = _client(args.profile, region, args.endpoint_url)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"endpoints-cleanup: error: {exc}", file=sys.stderr)
        return 2

    calls = ControlPlaneCalls()
    try:
        chosen = select(client, selection, calls=calls)
    except (*ControlPlaneError, ClientError, BotoCoreError) as exc:
        print(f"endpoints-cleanup: could not list resources: {_describe(exc)}", file=sys.stderr)
        return 1

    if args.dry_run:
        rows = [
            (c, Outcome.ALREADY_GONE if c.arn is None else "would delete", None) for c in chosen
        ]
        _print_result(out, args.json, rows, dry_run=True, ok=True)
        return 0

    cleanup = SageMakerResourceCleanup(client, wait_for_endpoint_deletion=args.wait)
    try:
        report = cleanup.delete_all(c.ref for c in chosen)
    except CleanupError as exc:
        report = exc.report
    by_ref = {o.ref: o for o in report.outcomes}
    rows = [(c, by_ref[c.ref].outcome, by_ref[c.ref].reason) for c in chosen]
    _print_result(out, args.json, rows, dry_run=False, ok=report.ok, report=report)
    return 0 if report.ok else 1


def _selection_from(args: argparse.Namespace) -> Selection:
    manifests = []
    for path in args.manifest:
        try:
            manifests.append(CreatedResources.read_manifest(path))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    if args.prefix == "":
        raise UsageError("--prefix must not be empty (it would match every resource)")
    selection = Selection(
        manifests=tuple(manifests),
        prefix=args.prefix,
        tags=tuple(args.tag),
        older_than=args.older_than,
    )
    if not selection:
        raise UsageError(
            "no selector given: pass --manifest FILE, --prefix P, --tag KEY=VALUE and/or "
            "--older-than AGE; endpoints-cleanup never deletes everything by default"
        )
    return selection


def _region_for(region: str | None, manifests: Sequence[CreatedResources]) -> str | None:
    regions = {m.region for m in manifests if m.region}
    if region:
        others = regions - {region}
        if others:
            raise UsageError(
                f"--region {region} but the manifests are for {', '.join(sorted(others))}; "
                "clean each region in its own run"
            )
        return region
    if len(regions) > 1:
        raise UsageError(
            f"the manifests are for several regions ({', '.join(sorted(regions))}); "
            "clean each region in its own run with --region"
        )
    return next(iter(regions), None)


def _client(profile: str | None, region: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.exceptions import NoRegionError, ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        return session.client("sagemaker", endpoint_url=endpoint_url)
    except ProfileNotFound as exc:
        raise UsageError(str(exc)) from exc
    except NoRegionError as exc:
        raise UsageError(
            "no AWS region: pass --region, set AWS_DEFAULT_REGION, or use a manifest"
        ) from exc


def _describe(exc: BaseException) -> str:
    code = error_code(exc)
    return f"{code}: {error_message(exc)}" if code else f"{type(exc).__name__}: {exc}"


def _print_result(
    out: TextIO,
    as_json: bool,
    rows: list[tuple[Candidate, Any, str | None]],
    *,
    dry_run: bool,
    ok: bool,
    report: CleanupReport | None = None,
) -> None:
    records = [
        {
            "kind": c.ref.kind.value,
            "name": c.ref.name,
            "arn": c.arn,
            "created": c.created.astimezone(timezone.utc).isoformat() if c.created else None,
            "outcome": outcome.value if isinstance(outcome, Outcome) else outcome,
            "reason": reason,
        }
        for c, outcome, reason in rows
    ]
    if as_json:
        payload = {
            "dry_run": dry_run,
            "ok": ok,
            "selected": len(records),
            "retries": report.retries if report else 0,
            "resources": records,
        }
        out.write(json.dumps(payload, indent=2) + "\n")
        return
    if not records:
        out.write("nothing matched the selectors; nothing to delete\n")
        return
    name_width = max(len("NAME"), *(len(r["name"]) for r in records))
    out.write(f"{'KIND':<16} {'NAME':<{name_width}} {'CREATED (UTC)':<19}  RESULT\n")
    for r in records:
        created = r["created"][:19].replace("T", " ") if r["created"] else "-"
        reason = f": {r['reason']}" if r["reason"] else ""
        out.write(
            f"{r['kind']:<16} {r['name']:<{name_width}} {created:<19}  {r['outcome']}{reason}\n"
        )
    counts: dict[str, int] = {}
    for r in records:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    tail = (
        "dry run: nothing was deleted" if dry_run else ("done" if ok else "some deletions FAILED")
    )
    out.write(f"{len(records)} selected ({summary}); {tail}\n")


if __name__ == "__main__":
    sys.exit(main())
