"""`yyhub`: serve the hub, run the demo, ingest files, rebuild or run projections."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters.bootstrap import Hub, bootstrap
from adapters.settings import Settings

cli = typer.Typer(help="Yiyang Hub 医养结合: keeps every record about an elder from every source.",
                  no_args_is_help=True, add_completion=False)
console = Console()

_MESSAGE_START = re.compile(rb"(?:^|[\r\n])(?=(?:\xef\xbb\xbf)?\x0b?MSH)")


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
          mllp_port: Annotated[int | None, typer.Option(help="or YYHUB_MLLP_PORT")] = None
          ) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the MLLP listener, with a projection worker."""
    from adapters.hl7v2.serve import serve_http_and_mllp

    settings = Settings()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve_http_and_mllp(settings, host or settings.host, port or settings.port,
                                    mllp_port if mllp_port is not None else settings.mllp_port))


@cli.command()
def mllp(host: Annotated[str | None, typer.Option(help="or YYHUB_HOST")] = None,
         port: Annotated[int | None, typer.Option(help="or YYHUB_MLLP_PORT")] = None,
         worker: Annotated[bool, typer.Option(
             help="run the projection worker here (off when `yyhub project` runs it)")] = True
         ) -> None:
    """Serve only the MLLP listener (HL7 v2 over TCP), with a projection worker."""
    from adapters.hl7v2.serve import serve_mllp

    settings = Settings()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve_mllp(settings, host or settings.host,
                           port if port is not None else settings.mllp_port, worker))


@cli.command()
def ingest(paths: Annotated[list[Path], typer.Argument(exists=True, help="files or folders")]
           ) -> None:
    """Ingest HL7 v2 files (one or many messages each); resending creates nothing new."""
    hub = bootstrap(Settings())
    try:
        files = list(_files(paths))
        counts: dict[str, int] = {}
        with Progress(console=console) as progress:
            task = progress.add_task("ingesting", total=len(files))
            for file in files:
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
    finally:
        hub.close()


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
    hub = bootstrap(Settings())
    try:
        for line in reprocess_messages(hub, message_id or [], all_rejected):
            console.print(line)
    finally:
        hub.close()


@cli.command()
def rebuild() -> None:
    """Rebuild the read model from position 0 of the event log."""
    hub = bootstrap(Settings())
    try:
        hub.read_model.drop()
        hub.read_model.create()
        hub.projector.ensure_tracking()
        applied = hub.projector.catch_up()
        console.print(f"rebuilt read model from {applied} events")
    finally:
        hub.close()


@cli.command()
def project(once: Annotated[bool, typer.Option(help="catch up, then exit")] = False) -> None:
    """Run the projection worker (until stopped, or once)."""
    hub = bootstrap(Settings())
    try:
        if once:
            console.print(f"applied {hub.projector.catch_up()} events")
        else:
            hub.projector.run_forever()
    finally:
        hub.close()


@cli.command()
def demo() -> None:
    """Ingest the bundled sample messages and show an elder's profile and timeline."""
    settings = Settings()
    console.print(f"[bold]Yiyang Hub 医养结合 demo[/] — database: {settings.database_url}")
    hub = bootstrap(settings)
    try:
        _run_demo(hub)
    finally:
        hub.close()


def _run_demo(hub: Hub) -> None:
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
    hub.projector.catch_up()
    if elder_id is None:
        return
    profile = hub.read_model.profile(str(elder_id)) or {}
    _print_profile(profile)
    _print_timeline(hub.read_model.timeline(str(elder_id), limit=100))
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
    for section, label in (("contacts", "联系人"), ("allergies", "过敏"), ("diagnoses", "诊断"),
                           ("encounters", "就诊")):
        for item in profile.get(section, []):
            shown = {k: v for k, v in item.items()
                     if k not in ("kind", "key", "source") and v not in ("", None, [], {})}
            console.print(f"  {label} {json.dumps(shown, ensure_ascii=False)[:150]}  "
                          f"← {item['source']['organisation']}")


def _print_timeline(entries: list[dict[str, Any]]) -> None:
    table = Table(title="3. Timeline (every fact, in the order it happened, with its source)")
    for column in ("occurred at", "kind", "what", "source", "channel"):
        table.add_column(column)
    for e in entries:
        table.add_row(e["occurred_at"], e["kind"], e["summary"], e["source"]["organisation"],
                      e["source"]["channel"])
    console.print(table)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
