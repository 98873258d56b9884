"""Benchmarks keep their media on 127.0.0.1: import this first in every bench script.

It limits ICE host candidates in this process and, through the environment, in every server and
client process the bench starts (`ice_addresses` setting, `probe --ice-address`).
"""

from __future__ import annotations

import os

from server.rtc.host_addresses import limit_host_addresses

ADDRESSES = os.environ.setdefault("SHARED_COURT_ICE_ADDRESSES", "127.0.0.1")
limit_host_addresses(ADDRESSES.split(","))
