"""Customers and what they write: faker names, protocol-valid ids, topic templates.

Everything here draws from one explicit ``random.Random`` (and a faker instance seeded from it),
separate from the numeric streams of the trace, so that the model's numbers do not depend on
whether texts are generated.
"""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

_NEW_YEAR = date(2017, 1, 1)
TOPICS: tuple[str, ...] = ("balance", "tariff", "roaming", "internet", "sim", "payment")

_RU_OPENERS: dict[str, tuple[str, ...]] = {
    "balance": (
        "Здравствуйте! Почему на балансе {amount} ₽, я вчера пополнял{a}?",
        "Добрый день, подскажите, куда списались {amount} ₽ с моего номера {phone}?",
        "Не могу проверить баланс, приложение пишет ошибку. Номер {phone}",
    ),
    "tariff": (
        "Здравствуйте, хочу сменить тариф на более выгодный, что посоветуете?",
        "Добрый день! Сколько стоит мой тариф с {date}? Пришло SMS о повышении",
        "Можно подключить тариф с безлимитными мессенджерами на номер {phone}?",
    ),
    "roaming": (
        "Здравствуйте, лечу в {country} {date}, как будет работать связь?",
        "Я в {country}, не работает мобильный интернет. Что делать?",
        "Подскажите стоимость звонков из {country} в Россию",
    ),
    "internet": (
        "Очень медленный интернет в {city}, уже второй день",
        "Закончились гигабайты, как докупить пакет интернета?",
        "Не раздаётся интернет с телефона на ноутбук, помогите",
    ),
    "sim": (
        "Потерял{a} SIM-карту, как заблокировать номер {phone}?",
        "Хочу заказать eSIM, это возможно через чат?",
        "Телефон пишет «нет SIM-карты», что делать?",
    ),
    "payment": (
        "Оплатил{a} {amount} ₽ картой, но деньги не пришли на счёт",
        "Как настроить автоплатёж на номер {phone}?",
        "Двойное списание {amount} ₽ {date}, верните, пожалуйста",
    ),
}
_RU_FOLLOW_UPS: tuple[str, ...] = (
    "Спасибо, а как это сделать в приложении?",
    "Понятно. А сколько это будет стоить?",
    "Я так и сделал{a}, не помогло",
    "Номер {phone}, проверьте, пожалуйста",
    "Хорошо, а когда вернутся {amount} ₽?",
    "Уточните, пожалуйста, это с {date}?",
    "Отправляю скриншот",
    "Да, всё верно",
    "А можно без этого?",
    "Спасибо, вы мне очень помогли!",
)
_EN_OPENERS: dict[str, tuple[str, ...]] = {
    "balance": (
        "Hi, why is my balance {amount} when I topped up yesterday?",
        "Where did {amount} go from {phone}?",
    ),
    "tariff": (
        "Hello, I want a cheaper plan, what do you suggest?",
        "How much is my plan from {date}?",
    ),
    "roaming": (
        "I'm flying to {country} on {date}, will my phone work there?",
        "No mobile data in {country}, help",
    ),
    "internet": (
        "Internet is very slow in {city} since yesterday",
        "Out of data, how do I buy more?",
    ),
    "sim": ("I lost my SIM card, please block {phone}", "Can I order an eSIM here?"),
    "payment": (
        "Paid {amount} by card but it never arrived",
        "How do I set up autopay for {phone}?",
    ),
}
_EN_FOLLOW_UPS: tuple[str, ...] = (
    "Thanks, how do I do that in the app?",
    "OK. How much will it cost?",
    "I tried that, it did not help",
    "My number is {phone}, please check",
    "When will I get {amount} back?",
    "Sending a screenshot",
    "Yes, that's right",
    "Thank you, that helped!",
)


def locale_exists(locale: str) -> bool:
    """Whether faker has this locale (``ru_RU``, ``en_US``, …)."""
    from faker.config import AVAILABLE_LOCALES

    return locale in AVAILABLE_LOCALES


@dataclass(frozen=True, slots=True)
class Customer:
    """Who writes: an id valid for the channel's protocol and a display name."""

    id: str
    name: str


class TextSource:
    """Draws customers and message texts for a trace from one seeded stream."""

    def __init__(self, seed: int, locale: str = "ru_RU") -> None:
        self._random = random.Random(seed)
        try:
            self._faker = Faker(locale)
        except AttributeError as error:
            raise ValueError(f"unknown faker locale {locale!r}") from error
        self._faker.seed_instance(seed)
        russian = locale.lower().startswith("ru")
        self._openers = _RU_OPENERS if russian else _EN_OPENERS
        self._follow_ups = _RU_FOLLOW_UPS if russian else _EN_FOLLOW_UPS
        self._russian = russian
        self._used_ids: set[str] = set()

    def customer(self, protocol: str) -> tuple[Customer, bool]:
        """A new customer with an id unique in this trace; also whether it is female (for
        grammatical gender in Russian templates)."""
        female = self._random.random() < 0.5
        faker = self._faker
        if female:
            name = f"{faker.first_name_female()} {faker.last_name_female()}"
        else:
            name = f"{faker.first_name_male()} {faker.last_name_male()}"
        while True:
            customer_id = self._customer_id(protocol)
            if customer_id not in self._used_ids:
                self._used_ids.add(customer_id)
                return Customer(customer_id, name), female

    def _customer_id(self, protocol: str) -> str:
        draw = self._random
        if protocol == "whatsapp":
            # wa_id: the phone number in international format, digits only (Russian mobile).
            return "79" + "".join(str(draw.randrange(10)) for _ in range(9))
        if protocol == "telegram":
            # Telegram private-chat id: the user's positive numeric id.
            return str(draw.randrange(100_000_000, 7_999_999_999))
        if protocol == "viber":
            # Viber user ids are 16 random bytes, base64-encoded (24 characters ending in '==').
            return base64.b64encode(draw.randbytes(16)).decode()
        return str(uuid.UUID(int=draw.getrandbits(128), version=4))

    def texts(self, turns: int, female: bool) -> list[str]:
        """The customer's messages: an opener on one topic, then follow-ups."""
        draw = self._random
        topic = draw.choice(TOPICS)
        first = draw.choice(self._openers[topic])
        rest = [draw.choice(self._follow_ups) for _ in range(turns - 1)]
        return [self._fill(text, female) for text in [first, *rest]]

    def _fill(self, template: str, female: bool) -> str:
        if "{" not in template:
            return template
        faker = self._faker
        makers = {
            "a": lambda: "а" if female and self._russian else "",
            "amount": lambda: str(self._random.randrange(50, 3000, 10)),
            "phone": lambda: "+7 9" + "".join(str(self._random.randrange(10)) for _ in range(9)),
            # A day of the year from the seeded stream, never from today's date.
            "date": lambda: (_NEW_YEAR + timedelta(days=self._random.randrange(365))).strftime(
                "%d.%m"
            ),
            "country": faker.country,
            "city": faker.city,
        }
        values = {key: make() for key, make in makers.items() if "{" + key + "}" in template}
        return template.format(**values)
