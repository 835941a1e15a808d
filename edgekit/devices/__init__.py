"""devices: benchmark on the real device over SSH, one device or a fleet (``pip install edgekit[devices]``).

    from edgekit.devices import resolve_devices, bench_on_devices, BenchSettings
    fleet = bench_on_devices(["model.tflite"], resolve_devices(["pi4"]), BenchSettings(threads=(1, 4)))
    fleet.results, fleet.failures

The device needs only ``edgekit[runtime]`` (``edgekit devices setup NAME`` installs it); edgekit runs nothing there
but its own entry point, with quoted arguments, and writes nothing outside the device's workdir.
"""

from edgekit.devices.check import DeviceCheck, check_devices, setup_device
from edgekit.devices.fleet import BenchSettings, DeviceFailure, FleetResult, bench_on_devices
from edgekit.devices.inventory import Device, inventory_path, load_inventory, resolve_devices

__all__ = [
    "BenchSettings",
    "Device",
    "DeviceCheck",
    "DeviceFailure",
    "FleetResult",
    "bench_on_devices",
    "check_devices",
    "inventory_path",
    "load_inventory",
    "resolve_devices",
    "setup_device",
]
