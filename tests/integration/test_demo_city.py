"""The synthetic city: a reproducible year of a city's care, sent through the real intakes."""

from __future__ import annotations

from collections import Counter

from stdnum.cn import ric

from adapters import demo_city
from adapters.bootstrap import Hub
from mappings.records import RECORD_TYPES


def test_the_city_has_200_elders_with_valid_ids_and_every_kind_of_source() -> None:
    city = demo_city.generate(seed=7)
    ids = [p.national_id for p in city.elders]
    assert len(set(ids)) == len(ids) == 200
    assert all(ric.is_valid(i) for i in ids)
    assert all(int(p.national_id[16]) % 2 == (p.sex == "M") for p in city.elders)
    senders = {r["organisation"] for r in city.records}
    assert {"DGYL-01", "DGYL-02", "DGGC-CHC", "DGDC-CHC"} <= senders
    hospitals = {m.split(b"|")[3].decode() for m in city.hl7_messages}
    assert hospitals == {"DGSY", "DGZY", "DGDH"}
    teams = {r["team"] for r in city.records if r.get("action") == "sign"}
    assert len(teams) == 5
    kinds = Counter(r["record_type"] for r in city.records)
    assert set(kinds) == set(RECORD_TYPES)
    times = [when for when, _, _ in city.items]
    assert times == sorted(times) and (times[-1] - times[0]).days > 300


def test_the_same_seed_makes_the_same_city_and_a_flag_makes_it_larger() -> None:
    assert demo_city.generate(seed=3, elders=30).items == \
        demo_city.generate(seed=3, elders=30).items
    assert len(demo_city.generate(seed=3, elders=600).elders) == 600


def test_a_small_city_loads_with_every_record_accepted(sqlite_hub: Hub) -> None:
    city = demo_city.generate(seed=11, elders=15)
    report = demo_city.load(sqlite_hub, city)
    assert report.problems == []
    assert report.counts == {"accepted": len(city.items)}
    sqlite_hub.projector.catch_up()
    featured = sqlite_hub.read_model.find_elders(city.elders[0].national_id)[0]
    kinds = {e["source_kind"] for e in sqlite_hub.read_model.timeline(featured["id"], limit=1000)}
    assert kinds == {"hospital", "family_doctor", "care_home"}
