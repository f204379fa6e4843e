"""A labelled synthetic population of elders, with the errors real records carry.

Each person has 1–3 records from different sources. Later records may drop or mistype the
身份证号, use its legacy 15-digit form, write the name in traditional characters or with a
homophone, swap birth day and month, mistype a digit, or change phone and address. Hard
negatives: twins (same birth date, surname, address and phone) and namesakes.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

from stdnum.cn import ric

from mappings.matching import PersonRecord

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
            "许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶程苏魏吕丁")
GIVEN = ["秀英", "桂兰", "玉兰", "淑珍", "建国", "国华", "明", "伟", "芳", "丽", "军", "红梅",
         "凤英", "春华", "志强", "玉珍", "秀兰", "德胜", "兰英", "金凤", "永福", "淑英", "建华",
         "玉梅", "林", "春", "桂芳", "秀珍", "国庆", "美华"]
HOMOPHONES = {"英": "瑛", "兰": "岚", "华": "桦", "明": "铭", "芳": "方", "秀": "绣", "红": "虹",
              "玉": "钰", "珍": "贞", "梅": "玫", "丽": "莉", "建": "健", "国": "帼", "军": "君",
              "伟": "玮", "林": "琳", "凤": "风", "桂": "贵", "春": "纯", "淑": "书", "强": "墙",
              "德": "得", "胜": "圣", "金": "今", "福": "富", "庆": "青", "美": "媚", "志": "智"}
TRADITIONAL = {"张": "張", "刘": "劉", "陈": "陳", "杨": "楊", "黄": "黃", "赵": "趙", "吴": "吳",
               "孙": "孫", "马": "馬", "郑": "鄭", "梁": "梁", "谢": "謝", "韩": "韓", "冯": "馮",
               "兰": "蘭", "华": "華", "国": "國", "凤": "鳳", "丽": "麗", "军": "軍", "红": "紅",
               "庆": "慶", "强": "強", "胜": "勝", "秀": "秀", "梅": "梅", "叶": "葉", "苏": "蘇"}
DISTRICTS = ["莞城区", "南城区", "东城区", "万江区", "石龙镇", "虎门镇", "长安镇", "常平镇"]
STREETS = ["东正路", "鸿福路", "东纵路", "运河路", "人民路", "环城路", "学院路", "新城路"]


def resident_id_for(rng: random.Random, birth: date, sex: str,
                    issued: set[str] | None = None) -> str:
    """A valid 身份证号 no one in `issued` holds: a real number names one person only."""
    while True:
        sequence = rng.randrange(0, 500) * 2 + (1 if sex == "1" else 0)
        first17 = f"442527{birth:%Y%m%d}{sequence:03d}"
        number = first17 + ric.calc_check_digit(first17 + "0")
        try:
            number = str(ric.validate(number))
        except Exception:  # noqa: BLE001 - a rare invalid sequence: draw again
            continue
        if issued is None or number not in issued:
            if issued is not None:
                issued.add(number)
            return number


def mistype(rng: random.Random, text: str) -> str:
    """Change one digit so the check digit no longer fits (as a clerk's typo does)."""
    while True:
        i = rng.randrange(len(text) - 1)
        digit = str((int(text[i]) + rng.randrange(1, 10)) % 10)
        typo = text[:i] + digit + text[i + 1:]
        try:
            ric.validate(typo)
        except Exception:  # noqa: BLE001
            return typo


def population(persons: int, seed: int = 7) -> list[tuple[str, PersonRecord]]:
    """(true person id, record) pairs."""
    rng = random.Random(seed)
    out: list[tuple[str, PersonRecord]] = []
    issued: set[str] = set()
    person = 0
    while person < persons:
        sex = rng.choice("12")
        birth = date(rng.randrange(1930, 1965), rng.randrange(1, 13), rng.randrange(1, 29))
        surname = rng.choice(SURNAMES)
        phone = f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}"
        address = (f"广东省东莞市{rng.choice(DISTRICTS)}{rng.choice(STREETS)}"
                   f"{rng.randrange(1, 300)}号")
        twins = rng.random() < 0.03
        names = rng.sample(GIVEN, 2 if twins else 1)
        for given in names:
            truth = f"P{person}"
            base = PersonRecord(f"{truth}-0", surname + given, birth, sex, phone, address,
                                resident_id_for(rng, birth, sex, issued))
            out.append((truth, base))
            for copy in range(1, rng.choice((1, 2, 2, 3))):
                out.append((truth, _noisy(rng, replace(base, record_id=f"{truth}-{copy}"))))
            person += 1
    return out


def _noisy(rng: random.Random, record: PersonRecord) -> PersonRecord:
    r = rng.random()
    if r < 0.45:
        record = replace(record, resident_id="")
    elif r < 0.52:
        rid = record.resident_id
        record = replace(record, resident_id=rid[:6] + rid[8:17])  # legacy 15-digit form
    elif r < 0.58:
        record = replace(record, resident_id=mistype(rng, record.resident_id))
    r = rng.random()
    if r < 0.08:
        record = replace(record, name="".join(TRADITIONAL.get(c, c) for c in record.name))
    elif r < 0.16:
        chars = list(record.name)
        spots = [i for i, c in enumerate(chars) if i > 0 and c in HOMOPHONES]
        if spots:
            i = rng.choice(spots)
            chars[i] = HOMOPHONES[chars[i]]
            record = replace(record, name="".join(chars))
    r = rng.random()
    birth = record.birth_date
    if birth and r < 0.06 and birth.day <= 12:
        record = replace(record, birth_date=date(birth.year, birth.day, birth.month))
    elif birth and r < 0.10:
        record = replace(record, birth_date=date(birth.year, birth.month,
                                                 min(28, birth.day + rng.choice((-1, 1)) or 1)))
    elif r < 0.14:
        record = replace(record, birth_date=None)
    if rng.random() < 0.3:
        record = replace(record, phone="" if rng.random() < 0.5 else
                         f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}")
    if rng.random() < 0.3:
        record = replace(record, address="")
    return record
