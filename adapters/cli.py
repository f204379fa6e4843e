"""`yyhub`: serve the hub, run the demo, ingest files, rebuild or run projections."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters.bootstrap import Hub, bootstrap, settle_service_process
from adapters.settings import Settings
from hub.facts import FACT_KINDS

cli = typer.Typer(help="Yiyang Hub 医养结合: keeps every record about an elder from every source.",
                  no_args_is_help=True, add_completion=False)
console = Console()

_MESSAGE_START = re.compile(rb"(?:^|[\r\n])(?=(?:\xef\xbb\xbf)?\x0b?MSH)")


@contextmanager
def running_hub() -> Iterator[Hub]:
    """The hub from YYHUB_ settings for one command, closed however the command ends."""
    hub = bootstrap(Settings())
    try:
        yield hub
    finally:
        hub.close()


def split_messages(data: bytes) -> list[bytes]:
    """The HL7 messages in a file: each starts at a line beginning with MSH."""
    parts = [p.strip(b"\r\n\x0b\x1c") for p in _MESSAGE_START.split(data)]
    return [p for p in parts if p.strip()]


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


@cli.command()
def serve(host: Annotated[str | None, typer.Option(help="or YYHUB_HOST")] = None,
          port: Annotated[int | None, typer.Option(help="or YYHUB_PORT")] = None,
          workers: Annotated[int, typer.Option(help="HTTP processes (PostgreSQL only for >1; "
                                                    "run MLLP then with `yyhub mllp`)")] = 1,
          mllp_port: Annotated[int | None, typer.Option(help="or YYHUB_MLLP_PORT")] = None,
          worker: Annotated[bool, typer.Option(
              help="run the projection worker here (off when `yyhub project` runs it; "
                   "or YYHUB_PROJECTION_WORKER)")] = True,
          ) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the MLLP listener, with a projection worker."""
    import uvicorn

    from adapters.hl7v2.serve import serve_http_and_mllp
    from event_store.persistence import is_postgres

    if not worker:  # read by every HTTP worker process, which inherit the environment
        os.environ["YYHUB_PROJECTION_WORKER"] = "false"
    settings = Settings()
    logging.basicConfig(level=logging.INFO)
    host, port = host or settings.host, port or settings.port
    if workers > 1:
        if not is_postgres(settings.database_url):
            raise typer.BadParameter("several workers need PostgreSQL (SQLite has one writer)")
        uvicorn.run("adapters.api.app:app_from_environment", factory=True, host=host,
                    port=port, workers=workers)
        return
    asyncio.run(serve_http_and_mllp(settings, host, port,
                                    mllp_port if mllp_port is not None else settings.mllp_port))


@cli.command()
def mllp(host: Annotated[str | None, typer.Option(help="or YYHUB_HOST")] = None,
         port: Annotated[int | None, typer.Option(help="or YYHUB_MLLP_PORT")] = None,
         worker: Annotated[bool, typer.Option(
             help="run the projection worker here (off when `yyhub project` runs it)")] = True,
         workers: Annotated[int, typer.Option(
             help="listener processes sharing the port (PostgreSQL only for >1)")] = 1,
         ) -> None:
    """Serve only the MLLP listener (HL7 v2 over TCP), with a projection worker."""
    from adapters.hl7v2.serve import serve_mllp, serve_mllp_workers
    from event_store.persistence import is_postgres

    settings = Settings()
    logging.basicConfig(level=logging.INFO)
    host, port = host or settings.host, port if port is not None else settings.mllp_port
    if workers > 1:
        if not is_postgres(settings.database_url):
            raise typer.BadParameter("several workers need PostgreSQL (SQLite has one writer)")
        serve_mllp_workers(settings, host, port, workers, worker)
        return
    asyncio.run(serve_mllp(settings, host, port, worker))


@cli.command()
def ingest(paths: Annotated[list[Path], typer.Argument(exists=True, help="files or folders")]
           ) -> None:
    """Ingest HL7 v2 files, and CSV/JSON record files (docs/records.md) by their suffix.

    Resending creates nothing new."""
    with running_hub() as hub:
        files = list(_files(paths))
        counts: dict[str, int] = {}
        records: dict[str, int] = {}
        with Progress(console=console) as progress:
            task = progress.add_task("ingesting", total=len(files))
            for file in files:
                if file.suffix.lower() in RECORD_SUFFIXES:
                    _ingest_records(hub, file, progress, records)
                    progress.advance(task)
                    continue
                for raw in split_messages(file.read_bytes()):
                    answer = hub.hl7.receive(raw, "file")
                    counts[answer.ack_code] = counts.get(answer.ack_code, 0) + 1
                    if answer.ack_code != "AA":
                        problems = "; ".join(f"{p.location} {p.message}"
                                             for p in answer.receipt.problems)
                        progress.console.print(f"[yellow]{file.name}: {answer.ack_code} {problems}")
                progress.advance(task)
        hub.projector.catch_up()
        console.print("ACK codes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        if records:
            console.print("Records: " + ", ".join(f"{k} {v}" for k, v in sorted(records.items())))


RECORD_SUFFIXES = (".csv", ".json")


def _ingest_records(hub: Hub, file: Path, progress: Progress, counts: dict[str, int]) -> None:
    """One CSV or JSON file of records; an unreadable file is reported (and kept as rejected)."""
    from mappings.errors import UnreadableMessage

    rows = progress.add_task(f"  {file.name}", total=None)
    try:
        answer = hub.records.receive_file(
            file.read_bytes(), filename=file.name, sender="yyhub-ingest",
            progress=lambda done, total: progress.update(rows, completed=done, total=total))
    except UnreadableMessage as error:
        counts["unreadable file"] = counts.get("unreadable file", 0) + 1
        progress.console.print(f"[red]{file.name}: " + "; ".join(p.message
                                                                 for p in error.problems))
        return
    for outcome in ("accepted", "duplicate", "rejected"):
        counts[outcome] = counts.get(outcome, 0) + answer.count(outcome)
    for bad in answer.rejected:
        reasons = "; ".join(f"{p.location}: {p.message}" for p in bad.problems)
        progress.console.print(f"[yellow]{file.name} row {bad.row}: {reasons}")


@cli.command()
def reprocess(
        message_id: Annotated[list[str] | None, typer.Option(
            "--message-id", help="an inbound message id (repeatable)")] = None,
        all_rejected: Annotated[bool, typer.Option(
            "--all-rejected", help="every message kept as rejected")] = False) -> None:
    """Replay kept messages through today's mappings; the outcome is linked to the original."""
    from adapters.hl7v2.reprocess import reprocess_messages

    if not message_id and not all_rejected:
        raise typer.BadParameter("name --message-id ID (repeatable) or --all-rejected")
    with running_hub() as hub:
        for line in reprocess_messages(hub, message_id or [], all_rejected):
            console.print(line)


@cli.command()
def rebuild() -> None:
    """Rebuild the read model from position 0 of the event log."""
    with running_hub() as hub:
        hub.read_model.drop()
        hub.read_model.create()
        hub.projector.ensure_tracking()
        applied = hub.projector.catch_up()
        console.print(f"rebuilt read model from {applied} events")


@cli.command()
def project(once: Annotated[bool, typer.Option(help="catch up, then exit")] = False) -> None:
    """Run the projection worker (until stopped, or once)."""
    with running_hub() as hub:
        if once:
            console.print(f"applied {hub.projector.catch_up()} events")
        else:
            settle_service_process()
            hub.projector.run_forever()


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Run every benchmark beside its floor (`python -m bench`; `--quick` for a short run).

    The benchmarks live in the source checkout's `bench/` folder, not in the installed package."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "__main__.py").exists():
        raise typer.BadParameter("bench/ is part of the source checkout; run from a clone")
    raise typer.Exit(subprocess.call([sys.executable, "-m", "bench", *ctx.args], cwd=root))


orgs = typer.Typer(help="Organisations that use the hub and their keys.", no_args_is_help=True)
cli.add_typer(orgs, name="orgs")


@orgs.command("add")
def orgs_add(code: Annotated[str, typer.Argument(help="how sources name it, e.g. HL7 MSH-4")],
             role: Annotated[str, typer.Option(help="hospital | family_doctor | care_home | "
                                                    "regulator | admin")],
             name: Annotated[str, typer.Option(help="display name, e.g. 东莞市人民医院")] = "",
             facility: Annotated[list[str] | None, typer.Option(
                 help="an HL7 sending facility (MSH-4) it may send as; repeatable")] = None,
             ) -> None:
    """Register an organisation (or issue a new key) and print its key once."""
    from adapters.api.deps import key_hash

    with running_hub() as hub:
        key = "yyk_" + secrets.token_urlsafe(32)
        hub.app.register_organisation(code, name or code, role, key_hash(key),
                                      tuple(facility or ()))
        hub.projector.catch_up()
        console.print(f"{code} ({role}) key, shown only now:")
        print(key)


@orgs.command("list")
def orgs_list() -> None:
    """Organisations, their roles and sending facilities."""
    with running_hub() as hub:
        hub.projector.catch_up()
        for org in hub.read_model.organisations():
            console.print(f"{org['code']}\t{org['role']}\t{org['name']}\t"
                          f"{','.join(org['sending_facilities'])}")


@cli.command()
def seal() -> None:
    """Extend the seal's hash chain over events recorded since the last seal."""
    with running_hub() as hub:
        console.print(f"sealed {hub.sealer.seal_new()} events")


@cli.command()
def verify() -> None:
    """Recompute the seal over the event log; exit 1 naming the first bad position."""
    with running_hub() as hub:
        result = hub.sealer.verify()
    console.print(result.describe())
    if not result.intact:
        raise typer.Exit(1)


@cli.command()
def erase(elder_id: Annotated[str, typer.Argument(help="the elder's id")],
          requested_by: Annotated[str, typer.Option(help="who asked")],
          legal_basis: Annotated[str, typer.Option(help="e.g. 个人信息保护法第四十七条")]) -> None:
    """Erase an elder (PIPL art. 47): contact data now, clinical data when retention ends."""
    from uuid import UUID

    with running_hub() as hub:
        until = hub.eraser.erase(UUID(elder_id), requested_by, legal_basis)
        hub.projector.catch_up()
        console.print(f"contact data destroyed; clinical data kept until {until.isoformat()}")


@cli.command()
def retention() -> None:
    """Destroy the clinical data of erased elders whose legal retention has ended."""
    with running_hub() as hub:
        destroyed = hub.eraser.enforce_retention()
        console.print(f"clinical data destroyed for {len(destroyed)} elder(s)")


@cli.command()
def demo(elders: Annotated[int, typer.Option(
        help="elders in the synthetic city (0: only the HL7 samples); larger for benchmarks")
        ] = 200,
         seed: Annotated[int, typer.Option(help="the city is the same for the same seed")
                         ] = 2026) -> None:
    """Ingest the bundled sample messages and a synthetic city; show an elder's profile and
    timeline."""
    settings = Settings()
    console.print(f"[bold]Yiyang Hub 医养结合 demo[/] — database: {settings.database_url}")
    hub = bootstrap(settings)
    try:
        _run_demo(hub, elders, seed)
    finally:
        hub.close()


def _load_city(hub: Hub, elders: int, seed: int) -> None:
    """Hospitals, family-doctor teams and care homes of a synthetic city send a year of events."""
    from adapters import demo_city

    city = demo_city.generate(seed=seed, elders=elders)
    with Progress(console=console) as progress:
        task = progress.add_task(f"city of {elders} elders", total=len(city.items))
        report = demo_city.load(hub, city, lambda done, total: progress.update(task,
                                                                              completed=done))
    console.print(f"Synthetic city: {len(city.hl7_messages)} HL7 messages and "
                  f"{len(city.records)} records from 3 hospitals, 5 family-doctor teams and 2 "
                  "care homes: " + ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())))


def _run_demo(hub: Hub, elders: int = 0, seed: int = 2026) -> None:
    samples = sorted((p for p in resources.files("adapters").joinpath("samples").iterdir()
                      if p.name.endswith(".hl7")), key=lambda p: p.name)
    acks = Table(title="1. Hospitals push HL7 v2 messages (ACK after commit)")
    for column in ("message", "ACK", "outcome", "problems"):
        acks.add_column(column)
    elder_id = None
    for sample in samples:
        answer = hub.hl7.receive(sample.read_bytes(), "file")
        receipt = answer.receipt
        elder_id = elder_id or (receipt.elder_ids[0] if receipt.elder_ids else None)
        acks.add_row(sample.name, answer.ack_code, receipt.outcome,
                     "; ".join(f"{p.location} {p.message}" for p in receipt.problems))
    resent = hub.hl7.receive(samples[0].read_bytes(), "file")
    acks.add_row(f"{samples[0].name} (resent)", resent.ack_code, resent.receipt.outcome,
                 "no new facts")
    console.print(acks)
    if elders:
        _load_city(hub, elders, seed)
    hub.projector.catch_up()
    if elder_id is None:
        return
    profile = hub.read_model.profile(str(elder_id)) or {}
    _print_profile(profile)
    kinds = [k for k in FACT_KINDS if k != "observation"] + ["identifier"]
    _print_timeline(hub.read_model.timeline(str(elder_id), kinds=kinds, limit=300))
    rejected = hub.read_model.inbound("rejected")
    console.print(f"\n[bold]4. Quarantine[/]: {len(rejected)} rejected message(s) kept with reasons")
    for row in rejected:
        reasons = "; ".join(f"{p['location']} {p['message']}" for p in row["problems"])
        console.print(f"  {row['sender']} {row['control_id']} {row['message_type']}: {reasons}")


def _print_profile(profile: dict[str, Any]) -> None:
    d = profile.get("demographics", {})
    console.print(f"\n[bold]2. Profile of {d.get('name', '?')}[/] (elder {profile['elder_id']})")
    console.print(f"  性别 {d.get('sex', {}).get('display', '')}  出生 {d.get('birth_date', '')}  "
                  f"民族 {d.get('ethnicity', {}).get('display', '')}  电话 {d.get('phone', '')}")
    console.print(f"  地址 {d.get('address', '')}")
    for i in profile.get("identifiers", []):
        console.print(f"  标识 {i['system']} | {i['value']}  ← {i['source']['organisation']}")
    for current, label in (("current_contract", "签约"), ("current_care_home", "养老机构"),
                           ("care_level", "护理等级"), ("latest_assessment", "能力评估")):
        item = profile.get(current)
        if item:
            console.print(f"  {label} {item['summary']}  ← {item['source']['organisation']}")
    for section, label in (("contacts", "联系人"), ("allergies", "过敏"), ("diagnoses", "诊断"),
                           ("encounters", "就诊"), ("observations", "最新测量"),
                           ("medications", "用药")):
        for item in profile.get(section, []):
            hidden = ("kind", "key", "source", "section", "summary")
            shown = {k: v for k, v in item.items()
                     if k not in hidden and v not in ("", None, [], {})}
            console.print(f"  {label} {json.dumps(shown, ensure_ascii=False)[:150]}  "
                          f"← {item['source']['organisation']}")


def _print_timeline(entries: list[dict[str, Any]]) -> None:
    table = Table(title="3. Timeline (every fact, in the order it happened, with its source; "
                        "readings are in the profile)")
    for column in ("occurred at", "kind", "what", "source", "channel"):
        table.add_column(column)
    for e in entries:
        table.add_row(e["occurred_at"], e["kind"], e["summary"], e["source"]["organisation"],
                      e["source"]["channel"])
    console.print(table)


@cli.command()
def deadlines() -> None:
    """Mark late referrals overdue and expire those nobody took (cron, or `serve` does it)."""
    with running_hub() as hub:
        done = hub.referrals.run_deadlines(hub.projector.catch_up)
        hub.projector.catch_up()
        console.print(f"referrals: {len(done.overdue)} newly overdue, {len(done.expired)} expired")


@cli.command()
def deliver() -> None:
    """Send the due webhook deliveries once; failures wait for a later pass or are parked."""
    with running_hub() as hub:
        hub.projector.catch_up()
        done = hub.referrals.deliver()
        console.print(f"webhooks: {done.delivered} delivered, {done.failed} failed "
                      f"({done.parked} parked)")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
