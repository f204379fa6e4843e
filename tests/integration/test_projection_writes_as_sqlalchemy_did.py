"""On PostgreSQL the projection writes its rows as column arrays (event_store/sql.py); every
read-model row must be exactly what SQLAlchemy's row-by-row upsert wrote before."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from adapters import demo_city
from adapters.bootstrap import Hub
from event_store.projector import Projector
from event_store.readmodel import ReadModel, Tables, define_tables
from event_store.sql import pipelined, upsert
from tests.messages import adt, resident_id

pytestmark = pytest.mark.postgres


def rows_of(engine: sa.Engine, tables: Tables, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, JSON as the text stored, in key order."""
    found = {}
    with engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            columns = [sa.cast(c, sa.Text) if isinstance(c.type, sa.JSON) else c
                       for c in table.columns]
            query = sa.select(*columns).order_by(*table.primary_key.columns)
            found[table.name.removeprefix(prefix)] = [tuple(r) for r in conn.execute(query)]
    return found


def test_city_read_model_is_the_same_whichever_way_its_rows_are_written(postgres_hub: Hub
                                                                        ) -> None:
    hub = postgres_hub
    report = demo_city.load(hub, demo_city.generate(seed=5, elders=20))
    assert report.counts.get("accepted", 0) > 100
    for i in range(40):  # the same identifiers again, and allergies, in one batch
        national = resident_id(sequence=f"{i % 7:03d}", birth="19400101")
        hub.hl7.receive(adt(control_id=f"R{i}", national_id=national, mrn=f"R{i % 9}",
                            extra=("AL1|1|DA|PEN^青霉素^L|SV|皮疹",)).encode(), "test")
    hub.projector.catch_up()

    portable = ReadModel(hub.read_model.engine.execution_options(portable_upsert=True),
                         define_tables("ref_"))
    portable.create()
    reference = Projector(hub.app, portable, batch_size=50)
    reference.ensure_tracking()
    reference.catch_up()

    live = rows_of(hub.read_model.engine, hub.read_model.t, "rm_")
    assert len(live["elder_profile"]) >= 20 and len(live["timeline"]) > 500
    assert live["care_relationship"] and live["inbound"]
    assert live == rows_of(hub.read_model.engine, portable.t, "ref_")


def test_a_key_written_twice_in_one_call_ends_as_row_by_row_writing_leaves_it(postgres_hub: Hub
                                                                             ) -> None:
    engine = postgres_hub.read_model.engine
    tables = {"twice_fast_": define_tables("twice_fast_"),
              "twice_ref_": define_tables("twice_ref_")}
    for name, t in tables.items():
        t.metadata.create_all(engine)
        options = {"portable_upsert": name == "twice_ref_"}
        with engine.connect().execution_options(**options) as conn, conn.begin():
            rows = [{"elder_id": "e1", "name": "王建", "document": {"v": 1}, "position": 1},
                    {"elder_id": "e2", "name": "李", "document": None, "position": 2},
                    {"elder_id": "e1", "name": "王建国", "document": {"v": "二"}, "position": 3}]
            upsert(conn, t.profile, rows, ["elder_id"])
            upsert(conn, t.identifier, [
                {"system": "s", "value": "1", "elder_id": "first"},
                {"system": "s", "value": "1", "elder_id": "second"}], ["system", "value"],
                update=False)
    fast, portable = (rows_of(engine, t, name) for name, t in tables.items())
    assert fast == portable
    assert [r[1] for r in fast["elder_profile"]] == ["王建国", "李"]
    assert fast["elder_identifier"][0][2] == "first"


def test_a_refused_write_among_those_sent_together_fails_the_batch_as_sqlalchemy_would(
        postgres_hub: Hub) -> None:
    engine = postgres_hub.read_model.engine
    t = postgres_hub.read_model.t
    too_long = {"system": "s", "value": "1", "elder_id": "x" * 37}  # elder_id is String(36)
    with pytest.raises(sa.exc.DataError), engine.begin() as conn, pipelined(conn):
        upsert(conn, t.timeline, [], ["position", "seq"])
        upsert(conn, t.identifier, [{"system": "s", "value": "0", "elder_id": "e"}],
               ["system", "value"])
        upsert(conn, t.identifier, [too_long], ["system", "value"])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.identifier)).scalar() == 0
