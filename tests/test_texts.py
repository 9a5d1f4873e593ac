"""Customers and texts (sim.texts): protocol-valid ids, seeded determinism, templates."""

from __future__ import annotations

import base64
import datetime
import re
import uuid

import pytest

from sim.texts import TextSource

PROTOCOLS = ("whatsapp", "telegram", "viber", "webchat")


def _check_id(protocol: str, customer_id: str) -> None:
    if protocol == "whatsapp":
        # wa_id: Russian mobile in international format, digits only.
        assert re.fullmatch(r"79\d{9}", customer_id), customer_id
    elif protocol == "telegram":
        assert re.fullmatch(r"[1-9]\d{0,18}", customer_id), customer_id
    elif protocol == "viber":
        assert len(customer_id) == 24 and customer_id.endswith("=="), customer_id
        assert len(base64.b64decode(customer_id, validate=True)) == 16
    else:
        parsed = uuid.UUID(customer_id)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == customer_id


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_customer_ids_are_valid_and_unique(protocol: str) -> None:
    source = TextSource(17)
    ids = []
    for _ in range(500):
        customer, female = source.customer(protocol)
        assert isinstance(female, bool)
        assert customer.name.strip()
        _check_id(protocol, customer.id)
        ids.append(customer.id)
    assert len(set(ids)) == len(ids)


def test_ids_unique_across_protocols_and_many_draws() -> None:
    source = TextSource(1)
    ids = [source.customer(PROTOCOLS[i % 4])[0].id for i in range(4000)]
    assert len(set(ids)) == len(ids)


def test_both_genders_occur() -> None:
    source = TextSource(2)
    genders = [source.customer("whatsapp")[1] for _ in range(400)]
    # Fair coin: 400 draws, sd 10; 4 sd around 200.
    assert abs(sum(genders) - 200) <= 40


def _draw(seed: int, locale: str = "ru_RU") -> list[tuple[str, str, list[str]]]:
    source = TextSource(seed, locale)
    out = []
    for i in range(60):
        customer, female = source.customer(PROTOCOLS[i % 4])
        out.append((customer.id, customer.name, source.texts(1 + i % 4, female)))
    return out


def test_same_seed_same_customers_and_texts() -> None:
    assert _draw(5) == _draw(5)
    assert _draw(5) != _draw(6)


def test_texts_count_and_templates_are_filled() -> None:
    source = TextSource(3)
    for turns in range(1, 8):
        for _ in range(30):
            texts = source.texts(turns, female=bool(turns % 2))
            assert len(texts) == turns
            for text in texts:
                assert text.strip()
                assert "{" not in text and "}" not in text, text


def test_russian_grammatical_gender() -> None:
    source = TextSource(4)
    verbs = re.compile(r"\b(пополнял|Потерял|сделал|Оплатил)(а?)\b")
    seen = {True: 0, False: 0}
    for female in (True, False):
        for _ in range(1500):
            for text in source.texts(4, female):
                for match in verbs.finditer(text):
                    seen[female] += 1
                    assert (match.group(2) == "а") is female, (female, text)
    assert seen[True] > 0 and seen[False] > 0


def test_english_locale() -> None:
    source = TextSource(4, "en_US")
    for _ in range(100):
        customer, female = source.customer("telegram")
        assert re.fullmatch(r"[A-Za-z][A-Za-z .'-]*", customer.name), customer.name
        for text in source.texts(3, female):
            assert not re.search("[а-яА-ЯёЁ]", text), text


def test_unknown_locale_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="locale"):
        TextSource(1, "xx_XX")


def _freeze_today(monkeypatch: pytest.MonkeyPatch, day: datetime.date) -> None:
    import faker.providers.date_time as provider

    class Frozen(datetime.date):
        @classmethod
        def today(cls) -> Frozen:
            return cls(day.year, day.month, day.day)

    monkeypatch.setattr(provider, "dtdate", Frozen)


def test_texts_do_not_depend_on_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    _freeze_today(monkeypatch, datetime.date(2024, 3, 1))
    before = _draw(5)
    _freeze_today(monkeypatch, datetime.date(2025, 11, 20))
    after = _draw(5)
    assert before == after
