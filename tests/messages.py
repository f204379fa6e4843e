"""HL7 v2 messages written for tests, in the shapes Chinese hospital systems send."""

from __future__ import annotations

from stdnum.cn import ric


def resident_id(region: str = "442527", birth: str = "19460315", sequence: str = "002") -> str:
    """A valid 身份证号 (GB 11643 check digit computed by python-stdnum)."""
    first17 = f"{region}{birth}{sequence}"
    number = first17 + ric.calc_check_digit(first17 + "0")
    return ric.validate(number)


def adt(trigger: str = "A01", *, control_id: str = "MSG0001", facility: str = "DGSY",
        national_id: str | None = None, mrn: str = "MR001", family: str = "张",
        given: str = "秀英", birth: str = "19460315", sex: str = "F",
        when: str = "20260301080000+0800", phone: str = "13800138000",
        address: str = "莞城街道东正路12号^^东莞市^广东省^523000^CHN^^^莞城区",
        extra: tuple[str, ...] = (), version: str = "2.5",
        charset: str = "UNICODE UTF-8", separator: str = "\r") -> str:
    national = f"{national_id}^^^^NNCHN~" if national_id else ""
    segments = [
        f"MSH|^~\\&|HIS|{facility}|YYHUB|HUB|{when}||ADT^{trigger}^ADT_A01|{control_id}|P|"
        f"{version}|||||CHN|{charset}",
        f"EVN|{trigger}|{when}",
        f"PID|1||{national}{mrn}^^^{facility}^MR||{family}^{given}||{birth}|{sex}|||{address}||"
        f"^PRN^PH^^^^^^^^^{phone}",
        *extra,
    ]
    return separator.join(segments) + separator
