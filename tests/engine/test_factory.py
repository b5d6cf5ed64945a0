from __future__ import annotations

import pytest

from broker.engine.factory import ENGINES, create_engine


@pytest.mark.parametrize("name", ["regorus", "regopy", "opa", " Regorus "])
def test_known_engines(name: str) -> None:
    engine = create_engine(name)
    assert engine.name == name.strip().lower()
    engine.close()


def test_default_is_regorus() -> None:
    assert create_engine().name == "regorus"


def test_unknown_engine_names_choices() -> None:
    with pytest.raises(ValueError, match="regorus, regopy, opa") as info:
        create_engine("wasm")
    assert "wasm" in str(info.value)
    assert ENGINES == ("regorus", "regopy", "opa")
