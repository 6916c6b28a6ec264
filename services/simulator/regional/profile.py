"""A page's profile as VK shows it: description, phone, contacts, address and site.

Each is derived from ``(seed, group id)`` and the page's planted phone place and description kind,
so the boundary cases (49 and 50 characters, a phone only in the contacts) come out exactly.
"""

from __future__ import annotations

from services.simulator.regional.model import Address, Contact, VkGroup
from services.simulator.regional.planting import _SALT_CONTACT, _SALT_DESC
from services.simulator.texts import GOALS, INTROS, SHORT_DESCRIPTIONS, STREETS, TAILS


class ProfileParts:
    """The profile part of :class:`~services.simulator.regional.state.Region`."""

    def phone(self, group: VkGroup) -> str:
        rng = self.rng(group, _SALT_CONTACT, 1)
        org = self.org_of(group)
        muni = self._muni(org) or self._capital_of(org)
        area = self.preset_of(org).phone_code
        if muni.name.startswith("городской округ город"):
            code, local = area, f"{rng.randint(200, 299)}{rng.randint(0, 9999):04d}"
        else:
            code, local = f"{area}{40 + muni.index % 40:02d}", f"{rng.randint(20000, 69999)}"
        dashed = (
            f"{local[:3]}-{local[3:5]}-{local[5:]}"
            if len(local) == 7
            else f"{local[0]}-{local[1:3]}-{local[3:]}"
        )
        style = rng.randrange(5)
        if style == 0:
            return f"+7 ({code}) {dashed}"
        if style == 1:
            return f"8 ({code}) {dashed}"
        if style == 2:
            return f"8-{code}-{dashed}"
        if style == 3:
            return f"+7{code}{local}"
        return f"8 {code} {local}"

    def local_phone(self, group: VkGroup) -> str:
        rng = self.rng(group, _SALT_CONTACT, 2)
        return f"{rng.randint(2, 6)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"

    def email(self, group: VkGroup) -> str:
        org = self.org_of(group)
        domain = ("yandex.ru", "mail.ru", f"gov{self.preset_of(org).slug}.ru")[group.id % 3]
        return f"{org.slug or 'org' + str(group.id)}@{domain}"

    def address_text(self, group: VkGroup) -> str:
        rng = self.rng(group, _SALT_CONTACT, 3)
        org = self.org_of(group)
        muni = self._muni(org) or self._capital_of(org)
        preset = self.preset_of(org)
        if muni.name == preset.capital:
            index = preset.postal * 1000 + rng.randint(0, 90)
        else:
            index = (preset.postal + 2) * 1000 + rng.randint(0, 999)
        prefix = "г." if muni.urban or rng.random() < 0.5 else "с."
        street = f"{rng.choice(STREETS)}, д. {rng.randint(1, 120)}"
        return f"{index}, {prefix} {muni.admin_centre}, {street}"

    def description(self, group: VkGroup, now_ts: float | None = None) -> str:
        """The description at ``now_ts`` (default: the clock): empty once a profile edit removed
        it (:meth:`description_removed_at`)."""
        removed = self.description_removed_at(group)
        if removed is not None and removed <= (self.now_ts if now_ts is None else now_ts):
            return ""
        org = self.org_of(group)
        rng = self.rng(group, _SALT_DESC)
        kind = group.desc_kind
        if kind == "empty":
            return ""
        if kind == "blank":
            return rng.choice(("   ", " \n ", "\n\n", "\t "))
        if kind == "short":
            return rng.choice(SHORT_DESCRIPTIONS)
        if kind in ("len49", "len50", "padded49", "padded50"):
            target = int(kind[-2:])
            base = (
                f"Официальная страница: {org.name}. Новости, объявления и события "
                "учреждения для жителей."
            )
            text = base[:target]
            if text[-1].isspace():
                text = text[:-1] + "."
            if kind.startswith("padded"):
                return "  " + text + " \n"
            return text
        parts = [rng.choice(INTROS).format(name=org.name), GOALS[org.sphere]]
        if rng.random() < 0.7:
            parts.append(f"Адрес: {self.address_text(group)}.")
        if group.phone_place in ("description", "description_contacts"):
            parts.append(
                rng.choice(("Телефон: {}.", "Тел.: {}", "Приёмная: {}.")).format(self.phone(group))
            )
        elif group.phone_place == "local":
            parts.append(f"Тел. {self.local_phone(group)}.")
        if rng.random() < 0.5:
            parts.append(f"E-mail: {self.email(group)}")
        tail = rng.choice(TAILS)
        if tail:
            parts.append(tail)
        return " ".join(parts)

    def contacts(self, group: VkGroup) -> list[Contact]:
        rng = self.rng(group, _SALT_CONTACT, 4)
        place = group.phone_place
        with_phone = place in ("contacts", "contacts_address", "description_contacts")
        items = []
        if with_phone:
            items.append(
                Contact(
                    rng.randint(1_000_000, 800_000_000) if rng.random() < 0.6 else 0,
                    rng.choice(("Приёмная", "Директор", "Главный врач", "Секретарь")),
                    self.phone(group),
                    self.email(group) if rng.random() < 0.7 else "",
                )
            )
        elif place == "local" and rng.random() < 0.5:
            items.append(Contact(0, "Вахта", self.local_phone(group), ""))
        if rng.random() < 0.5:
            items.append(
                Contact(rng.randint(1_000_000, 800_000_000), "Администратор сообщества", "", "")
            )
        return items

    def main_address(self, group: VkGroup) -> Address | None:
        place = group.phone_place
        if not group.has_address and place not in ("address", "contacts_address"):
            return None
        rng = self.rng(group, _SALT_CONTACT, 5)
        phone = self.phone(group) if place in ("address", "contacts_address") else ""
        org = self.org_of(group)
        return Address(
            id=group.id % 10_000_000 + 1000,
            title=org.name[:100],
            address=self.address_text(group).split(", ", 2)[-1],
            phone=phone,
            latitude=round(50.4 + rng.random() * 2.3, 6),
            longitude=round(38.3 + rng.random() * 3.8, 6),
            city_id=42 if "Воронеж" in org.municipality else 1_000_000 + org.municipality_index,
        )

    def site(self, group: VkGroup) -> str:
        if not group.has_site:
            return ""
        org = self.org_of(group)
        return f"https://{(org.slug or str(group.id)).replace('_', '-')}.gosuslugi.ru"
