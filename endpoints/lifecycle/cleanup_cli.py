"""``endpoints-cleanup``: find and delete leftover SageMaker endpoints, configs and models,
stop leftover transform jobs, and delete a Batch Transform run's S3 objects.

Selectors (given together, a resource must match all of them):

* ``--manifest FILE`` (repeatable): the resources a run recorded with
  ``CreatedResources.write_manifest`` — each only while it still is the one that run
  created (same run-id tag, ARN and creation time); others are skipped and reported;
* ``--prefix P``: names starting with ``P``;
* ``--tag KEY=VALUE`` (repeatable): resources carrying every one of these tags;
* ``--older-than AGE``: created more than ``AGE`` ago (``30m``, ``6h``, ``2d``, ``1w``);
  it only narrows the others and is refused alone.

``--prefix`` and ``--tag`` select only resources carrying the library's
``endpoint-serde:run-id`` tag; ``--include-untagged`` lets them select others too. They
select transform jobs only while running (a finished one bills nothing and cannot be
deleted). ``--force-unverified`` deletes a manifest's resources where the manifest records
too little to verify them (a recorded value that differs still skips). A manifest's S3
prefixes (a Batch Transform run's staged input and output) carry no tags: they are deleted
only when another resource of the same manifest verified, or with ``--force-unverified``,
through an S3 client on ``--s3-endpoint-url`` (default: ``--endpoint-url``). The rules live
in :mod:`endpoints.lifecycle.selection`.

``--dry-run`` prints what would be deleted and deletes nothing. Cleanup stops transform jobs
(and waits until they have ended), then deletes endpoints, configs, models, and the objects
under S3 prefixes, through
:class:`~endpoints.lifecycle.cleanup.SageMakerResourceCleanup` (idempotent,
throttle-retrying). Exit status: 0 when every selected resource was deleted, stopped or was
already gone (skipped ones included, and on a dry run), 1 when any deletion or the listing
failed, 2 for a usage error (bad arguments, an unreadable or malformed manifest).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from endpoints.errors import CleanupError
from endpoints.failures import error_code, error_message
from endpoints.lifecycle.cleanup import (
    RUNNING_JOB_STATUSES,
    CleanupReport,
    Outcome,
    SageMakerResourceCleanup,
)
from endpoints.lifecycle.hosting import ControlPlaneCalls, ControlPlaneError
from endpoints.lifecycle.resources import CreatedResources, ResourceKind
from endpoints.lifecycle.selection import Candidate, Selection, UsageError, select
from endpoints.redaction import install_botocore_log_filter

__all__ = ["Candidate", "Selection", "main", "parse_age", "parse_tag", "select"]

log = logging.getLogger(__name__)

#: The outcome shown for a resource that matched but must not be deleted.
_SKIPPED = "skipped"

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


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


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# -- command line ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endpoints-cleanup",
        description="Delete SageMaker endpoints, endpoint configs and models, stop transform "
        "jobs, and delete a manifest's S3 prefixes, selected by manifest, name prefix, tag and "
        "age. Selectors combine: a resource must match all. --prefix and --tag select only "
        "resources endpoint-serde created (tagged endpoint-serde:run-id), transform jobs only "
        "while running; a manifest's resources only while they are the ones it recorded, and "
        "its S3 prefixes only when another of its resources is.",
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
        "--older-than",
        type=parse_age,
        metavar="AGE",
        help="created before now - AGE (6h, 2d); narrows the other selectors, never alone",
    )
    parser.add_argument(
        "--include-untagged",
        action="store_true",
        help="let --prefix/--tag also select resources WITHOUT the endpoint-serde:run-id tag "
        "(made by hand or by other tools)",
    )
    parser.add_argument(
        "--force-unverified",
        action="store_true",
        help="delete a manifest's resources even where the manifest records no run id, ARN "
        "or creation time to verify them by (a recorded value that differs still skips), and "
        "its S3 prefixes even when none of its other resources verified",
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
    parser.add_argument(
        "--s3-endpoint-url",
        help="S3 API URL for a manifest's S3 prefixes (default: --endpoint-url, as the local "
        "endpoint host serves both; AWS_ENDPOINT_URL_S3 also works)",
    )
    parser.add_argument("--profile", help="AWS profile name")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each API step")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> int:
    """The console script. ``now`` is when "older than" counts from (tests pass a fixed
    time instead of waiting for resources to age)."""
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
        session = _session(args.profile, region)
        client = _client(session, "sagemaker", args.endpoint_url, "--endpoint-url")
        s3_client = None
        if any(m.s3_prefixes for m in selection.manifests):
            s3_url = args.s3_endpoint_url or args.endpoint_url
            s3_client = _client(session, "s3", s3_url, "--s3-endpoint-url")
    except UsageError as exc:  # one line: it says what to change (argparse's own add usage)
        print(f"endpoints-cleanup: error: {exc}", file=sys.stderr)
        return 2

    calls = ControlPlaneCalls()
    try:
        chosen = select(client, selection, calls=calls, now=now(), s3_client=s3_client)
    except (*ControlPlaneError, ClientError, BotoCoreError) as exc:
        print(f"endpoints-cleanup: could not list resources: {_describe(exc)}", file=sys.stderr)
        return 1

    if args.dry_run:
        _print_result(out, args.json, _rows(chosen, None), dry_run=True, ok=True)
        return 0

    cleanup = SageMakerResourceCleanup(
        client, s3_client=s3_client, wait_for_endpoint_deletion=args.wait
    )
    try:
        report = cleanup.delete_all(c.ref for c in chosen if not c.skipped)
    except CleanupError as exc:
        report = exc.report
    rows = _rows(chosen, report)
    _print_result(out, args.json, rows, dry_run=False, ok=report.ok, report=report)
    return 0 if report.ok else 1


def _rows(
    chosen: Sequence[Candidate], report: CleanupReport | None
) -> list[tuple[Candidate, Any, str | None]]:
    """(resource, outcome, reason) per matched resource: what the cleanup did, or on a dry
    run (``report`` None) what it would do; skipped resources with their reason."""
    done = {o.ref: o for o in report.outcomes} if report else {}
    rows: list[tuple[Candidate, Any, str | None]] = []
    for c in chosen:
        if c.skipped:
            rows.append((c, _SKIPPED, c.skipped))
        elif report is not None:
            rows.append((c, done[c.ref].outcome, done[c.ref].reason))
        else:
            rows.append((c, _would(c), None))
    return rows


def _would(c: Candidate) -> Any:
    """What the cleanup would do to ``c``: a finished transform job is left as it is."""
    if c.arn is None:
        return Outcome.ALREADY_GONE
    if c.ref.kind is ResourceKind.TRANSFORM_JOB:
        return "would stop" if c.status in RUNNING_JOB_STATUSES else Outcome.ALREADY_GONE
    return "would delete"


def _selection_from(args: argparse.Namespace) -> Selection:
    manifests = []
    for path in args.manifest:
        try:
            manifests.append(CreatedResources.read_manifest(path))
        except ValueError as exc:
            raise UsageError(f"--manifest {exc}") from exc
    selection = Selection(
        manifests=tuple(manifests),
        prefix=args.prefix,
        tags=tuple(args.tag),
        older_than=args.older_than,
        include_untagged=args.include_untagged,
        force_unverified=args.force_unverified,
    )
    selection.check()
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


def _session(profile: str | None, region: str | None) -> Any:
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise UsageError(str(exc)) from exc


def _client(session: Any, service: str, endpoint_url: str | None, flag: str) -> Any:
    from botocore.exceptions import NoRegionError

    try:
        client = session.client(service, endpoint_url=endpoint_url)
        install_botocore_log_filter()
        return client
    except NoRegionError as exc:
        raise UsageError(
            "no AWS region: pass --region, set AWS_DEFAULT_REGION, or use a manifest"
        ) from exc
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise UsageError(f"{flag} {endpoint_url}: {exc}") from exc


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
    skipped = sum(r["outcome"] == _SKIPPED for r in records)
    if as_json:
        payload = {
            "dry_run": dry_run,
            "ok": ok,
            "selected": len(records) - skipped,
            "skipped": skipped,
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
    out.write(f"{len(records)} matched ({summary}); {tail}\n")


if __name__ == "__main__":
    sys.exit(main())
