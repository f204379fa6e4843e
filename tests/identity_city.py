"""A city of organisations calling the API with real keys, for the identity stories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from adapters.api.app import create_app
from adapters.bootstrap import Hub
from tests.api import headers, register

ROLES = {"H1": "hospital", "H2": "hospital", "CH": "care_home", "REG": "regulator",
         "ADM": "admin"}


@dataclass
class City:
    client: TestClient
    hub: Hub
    keys: dict[str, str]
    position: str = "0"

    def call(self, method: str, path: str, who: str = "REG", json: Any = None,
             **params: Any) -> Any:
        return self.client.request(method, path, json=json, params=params,
                                   headers=headers(self.keys[who], "一码通核查"))

    def read(self, path: str, who: str = "REG", **params: Any) -> Any:
        response = self.call("GET", path, who, **params)
        assert response.status_code == 200, (path, who, response.text)
        return response.json()

    def hl7(self, who: str, message: str) -> str:
        response = self.client.post("/hl7v2", headers=headers(self.keys[who]),
                                    content=message.encode())
        assert response.status_code == 200, response.text
        self.position = response.headers["X-Hub-Position"]
        return str(response.text)

    def elder(self, identifier: str) -> str:
        found = self.read("/elders", identifier=identifier, wait_for=self.position)
        assert len(found) == 1, found
        return str(found[0]["id"])


def open_city(hub: Hub) -> Iterator[City]:
    """Every organisation registered with its own key; hospitals send as themselves."""
    keys = {code: register(hub, code, role, (code,) if role == "hospital" else ())
            for code, role in ROLES.items()}
    with TestClient(create_app(hub=hub, background_worker=False)) as client:
        yield City(client, hub, keys)
