"""Before the window starts on Linux: are the libraries Qt's xcb platform plugin needs there?

On a fresh Debian or Ubuntu, Qt's X11 plugin (``libqxcb.so``) cannot load because a few small
X libraries are not installed (``libxcb-cursor0`` most often, since Qt 6.5), and Qt aborts the
process with its raw "could not load the Qt platform plugin xcb" text and a core dump. This
module finds that out first, without importing Qt, by asking the dynamic linker (``ldd``)
which of the plugin's shared libraries it cannot find, and turns it into one line naming the
libraries and the apt command that installs them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# Debian/Ubuntu package names for the libraries that are usually missing; others follow the
# Debian rule (lib name + soversion, with a '-' when the name ends with a digit).
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}
# What a fresh Ubuntu 22.04/24.04 desktop-less install lacks most often, in one command.
USUAL_PACKAGES = (
    "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 "
    "libxcb-xkb1 libxkbcommon-x11-0"
)
_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def package_for(soname: str) -> str:
    """``libxcb-cursor.so.0`` -> ``libxcb-cursor0`` (Debian's naming of library packages)."""
    if soname in PACKAGES:
        return PACKAGES[soname]
    stem, _, version = soname.partition(".so")
    version = version.lstrip(".").split(".")[0]
    stem = stem.lower()
    if not version:
        return stem
    return f"{stem}-{version}" if stem[-1].isdigit() else f"{stem}{version}"


def xcb_plugin() -> Path | None:
    """PySide6's ``libqxcb.so`` (found without importing Qt), or None."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for candidate in (
            Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so",
            Path(root) / "plugins" / "platforms" / "libqxcb.so",
        ):
            if candidate.is_file():
                return candidate
    return None


def missing_from_ldd(output: str) -> list[str]:
    """The sonames ``ldd`` reports as ``=> not found``, in order, once each."""
    found: list[str] = []
    for name in _NOT_FOUND.findall(output):
        if name not in found:
            found.append(name)
    return found


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """Shared libraries the xcb plugin needs that the dynamic linker cannot find (``[]`` when
    all are there or when this cannot be told: no plugin, no ``ldd``)."""
    plugin = plugin or xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return []
    try:
        result = subprocess.run(
            [ldd, str(plugin)], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return missing_from_ldd(result.stdout + result.stderr)


def uses_xcb(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Will Qt try the xcb plugin? On Linux, when asked for it (``QT_QPA_PLATFORM=xcb``), or
    by default on an X display (no platform asked for, ``DISPLAY`` set, no Wayland)."""
    if not platform.startswith("linux"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "").strip().lower()
    if asked:
        return asked.split(";")[0].split(":")[0] == "xcb"
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def startup_problem(
    environ: Mapping[str, str] | None = None,
    probe: Callable[[], list[str]] | None = None,
    platform: str = sys.platform,
) -> str | None:
    """One line saying why the window cannot start and how to fix it, or None."""
    environ = os.environ if environ is None else environ
    if not uses_xcb(environ, platform):
        return None
    missing = (probe or missing_libraries)()
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(package_for(name) for name in missing))
    return (
        f"the window cannot start: Qt's X11 (xcb) plugin needs {', '.join(missing)}, which "
        f"{'is' if len(missing) == 1 else 'are'} not installed. Install with: "
        f"sudo apt-get install {packages} (the usual set: {USUAL_PACKAGES}); the command-line "
        "commands work without them"
    )
