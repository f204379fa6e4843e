"""A small synthetic city for demos, tests and benchmarks: elders, hospitals, care homes, teams.

Deterministic for a seed. Everything it makes goes through the real intakes: hospitals send HL7 v2
ADT messages, family-doctor teams and care homes send records (docs/records.md). 身份证 numbers
are valid for python-stdnum, whose 地址码 check depends on the birth year (Dongguan residents born
before 1985 carry 442527, so the city uses that and two other codes valid for the 1930s–1950s).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from stdnum.cn import ric

from adapters.bootstrap import Hub
from hub.values import Problem
from mappings.record_files import Row

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许"
            "韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
            "姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯"
            "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔汤")
FEMALE = ("秀英", "桂英", "秀兰", "玉兰", "桂兰", "凤英", "淑珍", "玉珍", "秀珍", "丽华", "美华",
          "桂芳", "玉梅", "素芬", "月娥", "秀梅", "翠花", "金凤", "惠芳", "淑英")
MALE = ("建国", "建华", "国强", "志强", "德明", "福生", "永康", "国华", "振华", "志明", "文华",
        "伟民", "家明", "树林", "长春", "宝山", "金生", "德胜", "庆丰", "立新")
REGIONS = ("442527", "442527", "442527", "442527", "110105", "310104")  # valid for 1930s births
STREETS = ("莞城街道东正路", "南城街道鸿福路", "东城街道东纵路", "万江街道金鳌大道",
           "莞城街道西正路")

HOSPITALS = (("DGSY", "东莞市人民医院"), ("DGZY", "东莞市中医院"), ("DGDH", "东华医院"))
CARE_HOMES = (("DGYL-01", "东莞市社会福利中心"), ("DGYL-02", "莞城颐养院"))
CENTRES = (("DGGC-CHC", "莞城社区卫生服务中心"), ("DGDC-CHC", "东城社区卫生服务中心"))
TEAMS = (("DGGC-CHC", "莞城家庭医生一队"), ("DGGC-CHC", "莞城家庭医生二队"),
         ("DGGC-CHC", "莞城家庭医生三队"), ("DGDC-CHC", "东城家庭医生一队"),
         ("DGDC-CHC", "东城家庭医生二队"))
DIAGNOSES = (("I10", "原发性高血压"), ("E11.9", "2型糖尿病"), ("I63.9", "脑梗死"),
             ("J18.9", "肺炎"), ("I25.1", "冠状动脉粥样硬化性心脏病"), ("S72.0", "股骨颈骨折"))
DRUGS = (("86900001", "苯磺酸氨氯地平片", "5 mg"), ("86900002", "二甲双胍片", "0.5 g"),
         ("86900003", "阿司匹林肠溶片", "100 mg"), ("86900004", "阿托伐他汀钙片", "20 mg"))
CONCLUSIONS = ("未见明显异常", "血压偏高，建议低盐饮食", "血糖偏高，复查")
FEATURED = ("442527", "19460315", "002", "张秀英")  # the elder of the bundled HL7 samples


@dataclass(frozen=True)
class Person:
    national_id: str
    name: str
    sex: str  # M | F
    birth: date
    address: str
    phone: str


@dataclass
class City:
    """Who lives in the city and every message and record its organisations send, in time order."""

    elders: list[Person]
    organisations: dict[str, str]
    items: list[tuple[datetime, str, Any]] = field(default_factory=list)  # (when, hl7|record, …)

    @property
    def hl7_messages(self) -> list[bytes]:
        return [item for _, kind, item in self.items if kind == "hl7"]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [item for _, kind, item in self.items if kind == "record"]


def national_id(region: str, birth: date, sequence: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return ric.validate(first17 + ric.calc_check_digit(first17 + "0"))


def _person(rng: random.Random, index: int) -> Person:
    if index == 0:
        region, birth, sequence, name = FEATURED
        day = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
        return Person(national_id(region, day, int(sequence)), name, "F", day,
                      "莞城街道东正路12号", "13800138000")
    sex = rng.choice("MF")
    birth = date(rng.randint(1930, 1959), rng.randint(1, 12), rng.randint(1, 28))
    sequence = rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
    name = rng.choice(SURNAMES) + rng.choice(MALE if sex == "M" else FEMALE)
    return Person(national_id(rng.choice(REGIONS), birth, sequence), name, sex, birth,
                  f"{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                  f"13{rng.randint(100000000, 999999999)}")


def generate(seed: int = 2026, elders: int = 200, start: date = date(2025, 4, 1),
             care_home_share: float = 0.25, first_index: int = 0,
             hospital_share: float = 0.4) -> City:
    """A year of events from `start` for `elders` elders (at least one of every source each).

    `first_index` numbers this city's elders after those of earlier parts, so a large city can
    be made and sent part by part (bench/city.py) without holding it all."""
    rng = random.Random(seed)
    people = [_person(rng, i) for i in range(first_index, first_index + elders)]
    organisations = dict(HOSPITALS + CARE_HOMES + CENTRES)
    city = City(people, organisations)
    at = _clock(start)
    for i, person in enumerate(people, start=first_index):
        maker = _ElderEvents(rng, city, person, at, i)
        maker.family_doctor(featured=i == 0)
        if i == 0 or rng.random() < hospital_share:
            maker.hospital(featured=i == 0)
        if i == 0 or rng.random() < care_home_share:
            maker.care_home(featured=i == 0)
    city.items.sort(key=lambda item: item[0])
    return city


def _clock(start: date) -> Callable[[int, int], datetime]:
    def at(day: int, minute: int) -> datetime:
        return datetime.combine(start + timedelta(days=day), datetime.min.time()) + \
            timedelta(minutes=minute)
    return at


class _ElderEvents:
    """Makes one elder's year: contract and follow-ups, hospital visits, care-home days."""

    def __init__(self, rng: random.Random, city: City, person: Person,
                 at: Callable[[int, int], datetime], index: int):
        self.rng, self.city, self.p, self.at, self.i = rng, city, person, at, index

    def record(self, when: datetime, organisation: str, record_id: str, record_type: str,
               **fields: Any) -> None:
        self.city.items.append((when, "record", {
            "organisation": organisation, "record_id": record_id, "record_type": record_type,
            "resident_id": self.p.national_id, "name": self.p.name,
            "occurred_at": when.strftime("%Y-%m-%d %H:%M"), **fields}))

    def family_doctor(self, featured: bool) -> None:
        rng, i = self.rng, self.i
        centre, team = TEAMS[0] if featured else rng.choice(TEAMS)
        signed = self.at(rng.randint(0, 60), 9 * 60 + rng.randint(0, 480))
        end = signed.date().replace(year=signed.year + 1) - timedelta(days=1)
        contract = f"HT-{i:05d}"
        self.record(signed, centre, f"QY-{i:05d}-1", "contract", contract_id=contract,
                    action="sign", team=team, period_start=f"{signed.date()}",
                    period_end=f"{end}", packages="基础包;高血压个性化包")
        if featured or rng.random() < 0.05:
            when = datetime.combine(end - timedelta(days=30), datetime.min.time()) + \
                timedelta(hours=10)
            self.record(when, centre, f"QY-{i:05d}-2", "contract", contract_id=contract,
                        action="renew", period_end=f"{end.replace(year=end.year + 1)}")
        elif rng.random() < 0.04:
            when = self.at(rng.randint(90, 300), 15 * 60)
            self.record(when, centre, f"QY-{i:05d}-2", "contract", contract_id=contract,
                        action="terminate", reason_code=rng.choice("12345"))
            return
        programme = "hypertension" if featured or rng.random() < 0.5 else "diabetes"
        for quarter in range(4 if featured or rng.random() < 0.2 else 1):
            when = self.at(75 + quarter * 90 + rng.randint(0, 10), 9 * 60 + rng.randint(0, 300))
            reading: dict[str, Any] = (
                {"systolic": rng.randint(125, 170), "diastolic": rng.randint(75, 100)}
                if programme == "hypertension" else {"glucose": f"{rng.uniform(5.5, 10):.1f}"})
            self.record(when, centre, f"SF-{i:05d}-{quarter}", "follow_up", programme=programme,
                        visit_way=rng.choice(("门诊", "家庭", "电话")),
                        adherence=rng.choice("1112"), classification=rng.choice("1112"),
                        weight=f"{rng.uniform(45, 80):.1f}", doctor="何丽萍", **reading)
        when = self.at(40 + rng.randint(0, 20), 8 * 60 + rng.randint(0, 120))
        self.record(when, centre, f"TJ-{i:05d}", "annual_check",
                    systolic=rng.randint(115, 160), diastolic=rng.randint(70, 95),
                    heart_rate=rng.randint(60, 90), temperature="36.5",
                    weight=f"{rng.uniform(45, 80):.1f}", self_care_score=rng.choice((0, 0, 3, 5)),
                    conclusion=rng.choice(CONCLUSIONS))

    def hospital(self, featured: bool) -> None:
        rng, p, i = self.rng, self.p, self.i
        code, _ = HOSPITALS[0] if featured else rng.choice(HOSPITALS)
        diagnosis = DIAGNOSES[0] if featured else rng.choice(DIAGNOSES)
        when = self.at(100 if featured else rng.randint(5, 360), 10 * 60 + rng.randint(0, 400))
        stamp = when.strftime("%Y%m%d%H%M%S") + "+0800"
        family, given = p.name[:1], p.name[1:]
        segments = [
            f"MSH|^~\\&|HIS|{code}|YYHUB|HUB|{stamp}||ADT^A01^ADT_A01|{code}C{i:05d}|P|2.5|||||"
            "CHN|UNICODE UTF-8",
            f"EVN|A01|{stamp}",
            f"PID|1||{p.national_id}^^^^NNCHN~MR{i:06d}^^^{code}^MR||{family}^{given}||"
            f"{p.birth:%Y%m%d}|{p.sex}|||{p.address}^^东莞市^广东省^523000^CHN||"
            f"^PRN^PH^^^^^^^^^{p.phone}",
            f"PV1|1|I|内科^{rng.randint(201, 520)}^1^{code}||||D0{rng.randint(10, 99)}^林^医生"
            "|||MED"
            f"|||||||||V{code}{i:05d}" + "|" * 25 + stamp,
            f"DG1|1||{diagnosis[0]}^{diagnosis[1]}^I10|{diagnosis[1]}||A",
        ]
        self.city.items.append((when, "hl7", ("\r".join(segments) + "\r").encode()))

    def care_home(self, featured: bool) -> None:
        rng, i = self.rng, self.i
        home, _ = CARE_HOMES[0] if featured else rng.choice(CARE_HOMES)
        day = 120 if featured else rng.randint(10, 200)
        level = rng.choice(("一级护理", "二级护理", "三级护理"))
        self.record(self.at(day, 10 * 60), home, f"RZ-{i:05d}", "admission",
                    stay_id=f"RZ-{i:05d}", bed=f"{rng.randint(1, 5)}号楼{rng.randint(101, 420)}-"
                    f"{rng.randint(1, 3)}", care_level=level, category="社会化")
        items = ";".join(f"{code}={rng.randint(max(0, top - 2), top)}"
                         for code, top in _ITEM_MAXIMA)
        self.record(self.at(day, 15 * 60), home, f"PG-{i:05d}", "assessment", items=items,
                    risk_events_30d=0, reason="首次", assessors="陈芳;李静")
        self.record(self.at(day, 16 * 60), home, f"HL-{i:05d}", "care_level", care_level=level)
        leaves = None if featured or rng.random() > 0.2 else day + rng.randint(60, 150)
        for week in range(0, (leaves or 360) - day, 60):
            when = self.at(day + week + 1, 8 * 60 + rng.randint(0, 60))
            self.record(when, home, f"TZ-{i:05d}-{week}", "vital_signs",
                        systolic=rng.randint(110, 165), diastolic=rng.randint(65, 98),
                        heart_rate=rng.randint(58, 96), temperature=f"{rng.uniform(36, 37.2):.1f}",
                        spo2=rng.randint(93, 99))
            if week % 120 == 0:
                self.record(when + timedelta(hours=3), home, f"FW-{i:05d}-{week}", "service",
                            service_type=rng.choice(("meal", "bath", "medical")))
                drug = rng.choice(DRUGS)
                self.record(when + timedelta(minutes=30), home, f"YY-{i:05d}-{week}",
                            "medication", drug_code=drug[0], drug=drug[1], dosage=drug[2],
                            route="口服")
        if leaves is not None:
            self.record(self.at(leaves, 10 * 60), home, f"TZ-{i:05d}", "discharge",
                        stay_id=f"RZ-{i:05d}", reason=rng.choice("0112"))
        elif featured or rng.random() < 0.3:
            when = self.at(day + 40, 21 * 60 + 40)
            self.record(when, home, f"SJ-{i:05d}", "incident",
                        incident_type=rng.choice(("fall", "choking", "wandering")),
                        severity="轻度", description="夜间巡查发现，已处置并通知家属")
            for n, status in enumerate(("raised", "acknowledged", "resolved")):
                self.record(when + timedelta(minutes=1 + 5 * n), home, f"HJ-{i:05d}-{n}",
                            "emergency_call", call_id=f"PA-{i:05d}", status=status)


_ITEM_MAXIMA = (("B1.1", 4), ("B1.2", 4), ("B1.3", 4), ("B1.4", 4), ("B1.5", 4), ("B1.6", 4),
                ("B1.7", 4), ("B1.8", 4), ("B2.1", 4), ("B2.2", 4), ("B2.3", 4), ("B2.4", 3),
                ("B3.1", 4), ("B3.2", 4), ("B3.3", 4), ("B3.4", 4), ("B3.5", 4), ("B3.6", 4),
                ("B3.7", 1), ("B3.8", 1), ("B3.9", 2), ("B4.1", 2), ("B4.2", 2), ("B4.3", 4),
                ("B4.4", 3), ("B4.5", 4))


@dataclass
class LoadReport:
    """How many items each intake accepted, and any problems (a healthy city has none)."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, tuple[Problem, ...]]] = field(default_factory=list)


def load(hub: Hub, city: City, progress: Callable[[int, int], None] | None = None
         ) -> LoadReport:
    """Send the city's messages and records through the hub's intakes, in time order."""
    report = LoadReport()
    for done, (_, kind, item) in enumerate(city.items, start=1):
        for outcome, problems in _send(hub, kind, item, done):
            report.counts[outcome] = report.counts.get(outcome, 0) + 1
            if outcome == "rejected":
                report.problems.append((kind, problems))
        if progress:
            progress(done, len(city.items))
    return report


def _send(hub: Hub, kind: str, item: Any, number: int) -> Iterator[tuple[str, tuple[Problem, ...]]]:
    if kind == "hl7":
        answer = hub.hl7.receive(item, "demo")
        outcome = "rejected" if answer.ack_code != "AA" else answer.receipt.outcome
        yield outcome, answer.receipt.problems
        return
    row = Row(number, item, json.dumps(item, ensure_ascii=False).encode(),
              lambda f, n=number: f"record {n}, field {f}")
    for result in hub.records.receive_rows([row], "demo").rows:
        yield result.outcome, result.problems
