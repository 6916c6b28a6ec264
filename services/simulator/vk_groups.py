"""``groups.getById``: a community as VK renders it, with the fields the collector asks for."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json

from services.simulator.region import SALT_API, Region, VkGroup
from services.simulator.vk_protocol import MAX_GROUP_IDS, Raw, _hash, _param_error


class GroupMethods:
    """The ``groups.*`` handlers of :class:`~services.simulator.vk_api.VkSimulator`."""

    region: Region

    def _groups_get_by_id(self, params: dict[str, str]) -> dict[str, Any]:
        raw = params.get("group_ids") or params.get("group_id") or ""
        refs = [ref.strip() for ref in raw.split(",") if ref.strip()]
        if not refs:
            raise _param_error("group_ids is undefined")
        if len(refs) > MAX_GROUP_IDS:
            raise _param_error(f"group_ids is too long, max {MAX_GROUP_IDS}")
        fields = {f.strip() for f in params.get("fields", "").split(",") if f.strip()}
        seen: set[int] = set()
        groups = []
        for ref in refs:
            group = self.region.resolve(ref)
            if group is None or group.id in seen:
                continue
            seen.add(group.id)
            groups.append(Raw(to_json(self.group_object(group, fields)).decode()))
        if not groups:
            raise _param_error("group_ids is undefined")
        return {"groups": groups, "profiles": []}

    def group_object(self, group: VkGroup, fields: set[str]) -> dict[str, Any]:
        region = self.region
        photo = _photos(region, group)
        obj: dict[str, Any] = {
            "id": group.id,
            "name": group.name,
            "screen_name": group.screen_name,
            "is_closed": group.is_closed,
            "type": group.type,
        }
        if group.deactivated:
            obj["deactivated"] = group.deactivated
            obj.update(photo)
            return obj
        obj.update({"is_admin": 0, "is_member": 0, "is_advertiser": 0})
        if "verified" in fields:
            obj["verified"] = group.verified
        if "is_government_organization" in fields:
            obj["is_government_organization"] = group.is_gov
        if "members_count" in fields:
            obj["members_count"] = group.members
        if "activity" in fields:
            obj["activity"] = "Государственная организация"
        if "description" in fields:
            obj["description"] = region.description(group)
        if "status" in fields:
            obj["status"] = ""
        if "wall" in fields:
            obj["wall"] = group.wall
        if "can_post" in fields:
            obj["can_post"] = 0
        if "fixed_post" in fields:
            pinned = next((p.id for p in region.posts(group) if p.pinned), None)
            if pinned is not None and group.wall != 0:
                obj["fixed_post"] = pinned
        if "site" in fields:
            obj["site"] = region.site(group)
        if "has_photo" in fields:
            obj["has_photo"] = group.has_photo
        if "menu" in fields:
            # An empty menu is left out, as VK leaves out the other requested empty fields.
            items = region.menu_items(group)
            if items:
                obj["menu"] = {"items": items, "count": len(items)}
        if "cover" in fields:
            obj["cover"] = _cover(region, group)
        if "contacts" in fields:
            contacts = []
            for contact in region.contacts(group):
                item: dict[str, Any] = {}
                if contact.user_id:
                    item["user_id"] = contact.user_id
                item["desc"] = contact.desc
                if contact.phone:
                    item["phone"] = contact.phone
                if contact.email:
                    item["email"] = contact.email
                contacts.append(item)
            if contacts:
                obj["contacts"] = contacts
        if "links" in fields:
            site = region.site(group)
            if site:
                obj["links"] = [
                    {
                        "id": group.id % 100_000 + 1,
                        "url": site,
                        "edit_title": 0,
                        "name": "Официальный сайт",
                        "desc": site.removeprefix("https://"),
                        "photo_50": "https://vk.com/images/camera_50.png",
                        "photo_100": "https://vk.com/images/camera_100.png",
                    }
                ]
        if "addresses" in fields:
            address = region.main_address(group)
            if address is None:
                obj["addresses"] = {"is_enabled": False}
            else:
                main: dict[str, Any] = {
                    "id": address.id,
                    "additional_address": "",
                    "address": address.address,
                    "city_id": address.city_id,
                    "country_id": 1,
                    "latitude": address.latitude,
                    "longitude": address.longitude,
                    "title": address.title,
                    "time_offset": 180,
                    "work_info_status": "no_information",
                }
                if address.phone:
                    main["phone"] = address.phone
                obj["addresses"] = {
                    "is_enabled": True,
                    "main_address_id": address.id,
                    "main_address": main,
                    "count": 1,
                }
        obj.update(photo)
        return obj


def _photos(region: Region, group: VkGroup) -> dict[str, str]:
    if group.deactivated or not group.has_photo:
        return {f"photo_{n}": f"https://vk.com/images/community_{n}.png" for n in (50, 100, 200)}
    key = _key(region, group, 1)
    server = group.id % 9 + 1
    return {
        f"photo_{n}": (
            f"https://sun{server}-{group.id % 90 + 10}.userapi.com/s/v1/ig2/{key}.jpg"
            f"?size={n}x{n}&quality=95&crop=0,0,400,400&ava=1"
        )
        for n in (50, 100, 200)
    }


def _cover(region: Region, group: VkGroup) -> dict[str, Any]:
    if not group.has_cover:
        return {"enabled": 0}
    key = _key(region, group, 2)
    return {
        "enabled": 1,
        "images": [
            {
                "url": f"https://sun9-1.userapi.com/impf/{key}.jpg?size={w}x{h}",
                "width": w,
                "height": h,
            }
            for w, h in ((200, 50), (400, 101), (795, 200), (1080, 272), (1590, 400))
        ],
    }


def _key(region: Region, group: VkGroup, n: int) -> str:
    parts = [region.bits(group, SALT_API, n * 10 + i) for i in range(4)]
    return _hash(*parts, length=40)
