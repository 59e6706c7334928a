"""The demo's plan step: a ``demo-daily`` plan in ``skyvault.toml`` (added if missing) covers every service a plan can
back up (``PLAN_MODES``) and selects what the estate tags ``backup=daily`` (each account's app instance, orders
database, Aurora, DocumentDB and Redshift clusters, orders table and media bucket), runs once now as ``skyvault
backup --plan demo-daily`` would (one job per resource through the in-process dispatcher, then the plan's
retention), restores a sample (the admin media bucket's library copy into a new bucket, compared object by object
with the source), and the protection report follows (``skyvault report`` prints it in full; ``--format html``
draws the chart).

S3 backs up into a library only, so the plan names one: the demo's own (``demo/ec2.py``'s choice), which this step
registers in ``skyvault.toml`` as ``[libraries.demo-library]`` so that the plan validates and ``skyvault backup
--plan demo-daily`` finds it afterwards (with ``SKYVAULT_PASSPHRASE`` set to the demo's lab-only passphrase). The
restored bucket (``skyvault-demo-<account id>-restored-<recovery point>``) is left for a look, as the other steps
leave their restored tables and databases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from skyvault.catalog import Job
from skyvault.cli.context import AppState
from skyvault.cli.library import open_library
from skyvault.config import PLAN_MODES, PlanConfig, SkyvaultConfig
from skyvault.demo.ec2 import DEMO_LIBRARY, DemoLike, _library
from skyvault.demo.s3 import _objects
from skyvault.engine.dispatch import InProcessDispatcher
from skyvault.engine.planretention import apply_retention
from skyvault.engine.plans import PlanRunOutcome, resolve, run_plan
from skyvault.engine.report import build_report
from skyvault.engine.runner import JobRunner
from skyvault.errors import NotFoundError, SkyvaultError
from skyvault.jobs.spec import JobSpec
from skyvault.lab.accounts import ADMIN_ACCOUNT_NAME
from skyvault.library.repository import Repository
from skyvault.services.contract import JobEnvironment, PlanTarget
from skyvault.services.s3 import jobs as s3_jobs

PLAN = "demo-daily"
SERVICES = list(PLAN_MODES)  # every service a plan can back up
SAMPLE_BUCKET = "media"  # the estate bucket (skyvault-demo-<account id>-media) the sample restore reads back
DONE = ("completed", "completed-with-leftovers")


def demo_plan(library: str) -> dict[str, Any]:
    return {
        "services": SERVICES,
        "tags": ["backup=daily"],
        "modes": {"s3": "library"},  # S3's only mode, spelt out: the plan's library below is for it
        "library": library,
        "schedule": "0 3 * * *",
        "timezone": "UTC",
        "retention": {"keep_last": 3, "daily": 7, "weekly": 4},
    }


def _add_plan(app: AppState, library: str) -> bool:
    """Add the demo plan (and, when it uses the demo's own library, that library) to the config; False: kept."""
    config = app.config()
    if PLAN in config.plans:
        return False
    data = config.model_dump(mode="json")
    if library == DEMO_LIBRARY and DEMO_LIBRARY not in config.libraries:
        data["libraries"] = {
            **data.get("libraries", {}),
            DEMO_LIBRARY: {"kind": "local", "path": str((app.state_dir / DEMO_LIBRARY).resolve())},
        }
    plan = PlanConfig.model_validate(demo_plan(library)).model_dump(mode="json")
    data["plans"] = {**data.get("plans", {}), PLAN: plan}
    app.save(SkyvaultConfig.model_validate(data))
    return True


def _opener(app: AppState, library: str, opener: Callable[[], Repository]) -> Callable[[str | None], Repository]:
    """The demo's library with its lab-only passphrase; any other configured library as the CLI opens it."""

    def open_named(name: str | None) -> Repository:
        return opener() if name == library else open_library(app, name)

    return open_named


def plans_step(demo: DemoLike) -> str:
    app = demo.require_app()
    library, opener = _library(app)
    added = _add_plan(app, library)
    open_named = _opener(app, library, opener)
    selection = resolve(app.factory(), PLAN)
    now = datetime.now(UTC)

    def make_runner() -> JobRunner:
        return JobRunner(JobEnvironment(catalog=app.catalog(), factory=app.factory(), open_library=open_named))

    # Sized as 'skyvault backup --plan' sizes it: the plan's per-account limit, for every account at once.
    limit = app.config().plan(PLAN).max_parallel_per_account
    workers = max(1, min(16, limit * len(app.config().accounts)))
    dispatcher = InProcessDispatcher(make_runner, workers=workers, per_account=limit)
    try:
        outcome = run_plan(
            dispatcher, app.catalog(), app.config(), PLAN, selection, scheduled_for=now, now=now, trigger="demo"
        )
    finally:
        dispatcher.close()
    demo.results["plan"] = outcome
    retention = apply_retention(
        app.catalog(), app.factory(), app.config(), PLAN, now=datetime.now(UTC), open_library=open_named
    )
    sample = sample_restore(demo, outcome, make_runner())
    demo.console.print(f"  [bold]restore  [/bold] {sample}", highlight=False)
    # Discovered again: the steps since the discovery step restored databases, tables and the sample bucket.
    report = build_report(app.factory(), app.catalog(), now=datetime.now(UTC), library_stats=_no_library_stats)
    protected = report["resources"]
    ok = sum(1 for r in protected if r["status"] == "ok")
    done = sum(1 for _, job in outcome.jobs if job.status in DONE)
    return (
        f"{'added' if added else 'kept'} plan {PLAN} (backup=daily); run {outcome.run.status}: {done}/"
        f"{len(outcome.jobs)} jobs completed in {outcome.run.duration_s or 0:.1f}s ({per_service(outcome)}); "
        f"{retention.line()}; sample restore verified; report: {ok}/{len(protected)} protected resources within "
        f"their RPO, {len(report['unprotected'])} unprotected (try 'skyvault report --format html -o report.html')"
    )


def per_service(outcome: PlanRunOutcome) -> str:
    """``ec2 3/3, rds 4/4, ...``: completed jobs against jobs, per service in ``PLAN_MODES`` order."""
    total: Counter[str] = Counter(t.service for t, _ in outcome.jobs)
    done: Counter[str] = Counter(t.service for t, job in outcome.jobs if job.status in DONE)
    order = [s for s in SERVICES if s in total] + sorted(set(total) - set(SERVICES))
    return ", ".join(f"{s} {done[s]}/{total[s]}" for s in order)


def sample_restore(demo: DemoLike, outcome: PlanRunOutcome, runner: JobRunner) -> str:
    """Restore the admin media bucket's point of this run into a new bucket; compare every object with the source."""
    app = demo.require_app()
    factory = app.factory()
    source = f"skyvault-demo-{factory.account_id(ADMIN_ACCOUNT_NAME)}-{SAMPLE_BUCKET}"
    target, job = _job_of(outcome, "s3", ADMIN_ACCOUNT_NAME, source)
    points = app.catalog().recovery_points(kind=s3_jobs.KIND, resource_id=source, status="completed")
    point = next((p for p in points if p.job_id == job.id), None)
    if point is None:
        raise SkyvaultError(f"plan {PLAN}: job {job.id} ({job.status}) left no recovery point of {source}")
    bucket = f"skyvault-demo-{factory.account_id(ADMIN_ACCOUNT_NAME)}-restored-{point.id}"
    s3 = factory.client(ADMIN_ACCOUNT_NAME, target.region, "s3")
    create: dict[str, Any] = {"Bucket": bucket}
    if target.region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": target.region}
    s3.create_bucket(**create)  # declared by the lab estate (policy "lab"): the demo's own scratch bucket
    params = {"recovery_point": point.id, "target": "new", "confirmed": False, "options": {"bucket": bucket}}
    restored = runner.run(JobSpec(s3_jobs.RESTORE_JOB, params))
    original, copy = _objects(s3, source, ""), _objects(s3, bucket, "")
    if original != copy:
        differ = sorted(set(original) ^ set(copy)) or sorted(k for k in original if original[k] != copy.get(k))
        raise SkyvaultError(f"the sample restore s3://{bucket} differs from s3://{source}: {', '.join(differ[:5])}")
    return (
        f"{source} ({point.id}) -> new bucket {bucket}: {restored['stats']['objects']} objects identical "
        "(bytes, content type, metadata)"
    )


def _job_of(outcome: PlanRunOutcome, service: str, account: str, resource: str) -> tuple[PlanTarget, Job]:
    for target, job in outcome.jobs:
        if (target.service, target.account, target.resource_id) == (service, account, resource):
            return target, job
    raise NotFoundError(
        f"plan {PLAN} has no {service} job for {account}/{resource}",
        hint="the demo estate tags it backup=daily: 'skyvault plans show demo-daily' shows what the plan selects",
    )


def _no_library_stats(name: str) -> dict[str, Any]:
    raise LookupError(f"library {name}: see 'skyvault report' (the demo's summary skips library stats)")
