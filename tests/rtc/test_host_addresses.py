"""The `ice_addresses` setting: which local addresses ICE offers as host candidates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.config import ConfigError, Settings, load_settings
from server.rtc import MediaRoom
from server.rtc.host_addresses import (
    HostAddressError,
    current_host_addresses,
    limit_host_addresses,
)
from server.rtc.loopback import LoopbackSignaling
from tests.conftest import LOOPBACK


@pytest.fixture(autouse=True)
def restore_loopback() -> Iterator[None]:
    yield
    limit_host_addresses([LOOPBACK])


def _candidate_addresses(sdp: str) -> set[str]:
    return {
        line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")
    }


async def test_server_answer_offers_only_the_configured_address() -> None:
    limit_host_addresses(["127.0.0.1"])
    room = MediaRoom("ice")
    signaling = LoopbackSignaling(room)
    try:
        client = await signaling.connect("alice", video=None)
        answer = room.peer("alice").pc.localDescription.sdp
        assert _candidate_addresses(answer) == {"127.0.0.1"}
        assert _candidate_addresses(client.pc.localDescription.sdp) == {"127.0.0.1"}
    finally:
        await signaling.close()
        await room.close()


def test_interface_names_and_addresses_select_loopback_only_when_named() -> None:
    assert limit_host_addresses(["lo"]) == [a for a in ("127.0.0.1", "::1")
                                            if a in current_host_addresses()]
    assert "127.0.0.1" in current_host_addresses()
    limit_host_addresses([])  # aioice's default: never loopback
    assert not {"127.0.0.1", "::1"} & set(current_host_addresses())


def test_an_unknown_entry_is_a_clear_error() -> None:
    with pytest.raises(HostAddressError, match="eth-none"):
        limit_host_addresses(["eth-none"])
    with pytest.raises(HostAddressError, match=r"198\.51\.100\.77"):
        limit_host_addresses(["198.51.100.77"])


def test_setting_from_environment_and_start_up_error(tmp_path: object) -> None:
    s = load_settings(environ={"SHARED_COURT_ICE_ADDRESSES": "127.0.0.1, lo"})
    assert s.ice_addresses == ["127.0.0.1", "lo"]
    from server.app import create_app

    with pytest.raises(ConfigError, match="eth-none"):
        create_app(Settings(data_dir=tmp_path / "d", ice_addresses=["eth-none"]))  # type: ignore[operator]
